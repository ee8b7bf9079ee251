/* bench_sieve.c: sieve of Eratosthenes, CPU bound.
 *
 * Usage: bench_sieve [N]   (default 1150000)
 * Counts the primes below N and prints a checksum of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1150000;
    if (n < 2)
        n = 2;
    unsigned char *composite = calloc((size_t)n, 1);
    if (!composite)
        return 1;
    for (int i = 2; (long long)i * i < n; i++) {
        if (composite[i])
            continue;
        for (int j = i * i; j < n; j += i)
            composite[j] = 1;
    }
    int count = 0;
    uint32_t checksum = 0;
    for (int i = 2; i < n; i++) {
        if (!composite[i]) {
            count++;
            checksum = checksum * 31u + (uint32_t)i;
        }
    }
    free(composite);
    printf("primes below %d: %d\n", n, count);
    printf("checksum: %u\n", checksum);
    return 0;
}
