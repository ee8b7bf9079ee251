/* bench_sort.c: quicksort of pseudo-random integers, CPU bound.
 *
 * Usage: bench_sort [N]   (default 106000)
 * Fills an array with an LCG, sorts it with a hand-written quicksort
 * (insertion sort for short runs), verifies the order and prints checksums.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

static uint32_t lcg_state = 12345u;

static uint32_t next_random(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state >> 1;
}

static void insertion_sort(uint32_t *a, int lo, int hi)
{
    for (int i = lo + 1; i <= hi; i++) {
        uint32_t key = a[i];
        int j = i - 1;
        while (j >= lo && a[j] > key) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = key;
    }
}

static void quicksort(uint32_t *a, int lo, int hi)
{
    while (hi - lo > 16) {
        uint32_t pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                uint32_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
    insertion_sort(a, lo, hi);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 106000;
    if (n < 1)
        n = 1;
    uint32_t *a = malloc((size_t)n * sizeof *a);
    if (!a)
        return 1;
    uint32_t before = 0;
    for (int i = 0; i < n; i++) {
        a[i] = next_random() % 1000000u;
        before += a[i];
    }
    quicksort(a, 0, n - 1);
    int sorted = 1;
    uint32_t after = 0, weighted = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && a[i - 1] > a[i])
            sorted = 0;
        after += a[i];
        weighted = weighted * 31u + a[i];
    }
    free(a);
    printf("n=%d sorted=%s sum_before=%u sum_after=%u\n", n, sorted ? "yes" : "no", before, after);
    printf("checksum: %u\n", weighted);
    return sorted && before == after ? 0 : 1;
}
