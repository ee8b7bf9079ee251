/* envargs.c: command line, environment, clocks and randomness.
 *
 * Prints argc/argv and TTD_TEST_VAR, and only whether clock_gettime and
 * getentropy succeeded (never their values), so the output is stable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    const char *var = getenv("TTD_TEST_VAR");
    printf("TTD_TEST_VAR=%s\n", var ? var : "(unset)");

    struct timespec rt, mono1, mono2;
    int ok_rt = clock_gettime(CLOCK_REALTIME, &rt) == 0 && rt.tv_sec > 1000000000;
    int ok_mono = clock_gettime(CLOCK_MONOTONIC, &mono1) == 0 &&
                  clock_gettime(CLOCK_MONOTONIC, &mono2) == 0 &&
                  (mono2.tv_sec > mono1.tv_sec ||
                   (mono2.tv_sec == mono1.tv_sec && mono2.tv_nsec >= mono1.tv_nsec));
    printf("clock_gettime realtime: %s\n", ok_rt ? "ok" : "failed");
    printf("clock_gettime monotonic: %s\n", ok_mono ? "ok" : "failed");

    unsigned char rnd[16];
    int ok_rnd = getentropy(rnd, sizeof rnd) == 0;
    unsigned acc = 0;
    for (size_t i = 0; i < sizeof rnd; i++)
        acc |= rnd[i];
    printf("getentropy: %s\n", ok_rnd ? "ok" : "failed");
    /* 16 random bytes all zero: probability 2^-128. */
    printf("random nonzero: %s\n", acc ? "yes" : "no");
    unsigned r = (unsigned)rnd[0] | ((unsigned)rnd[1] << 8);
    printf("random in range: %s\n", r % 100 < 100 ? "yes" : "no");
    return 0;
}
