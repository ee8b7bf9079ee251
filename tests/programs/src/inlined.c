/* inlined.c: static inline helpers called in a loop, built at -O2 (see build.py), for
 * stepping through optimised code: clang inlines clamp, mix and update (update calls the
 * other two: nested inline frames), so LLDB shows inlined frames that have no wasm frame of
 * their own; report() and checksum() stay real calls.
 *
 * Usage: inlined [N]   (default 6 values)
 */
#include <stdio.h>
#include <stdlib.h>

struct acc {
    int sum;
    int max;
    unsigned hash;
};

static inline __attribute__((always_inline)) int clamp(int v, int lo, int hi)
{
    if (v < lo)
        return lo;
    if (v > hi)
        return hi;
    return v;
}

static inline __attribute__((always_inline)) unsigned mix(unsigned h, int v)
{
    h ^= (unsigned)v;
    h *= 16777619u;
    return h;
}

static inline __attribute__((always_inline)) void update(struct acc *a, int v)
{
    int c = clamp(v, -40, 40);
    a->sum += c;
    if (c > a->max)
        a->max = c;
    a->hash = mix(a->hash, c);
}

__attribute__((noinline)) static unsigned checksum(const int *values, int n)
{
    unsigned h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = mix(h, values[i]);
    return h;
}

__attribute__((noinline)) static void report(const struct acc *a, int n, unsigned sum)
{
    printf("n=%d sum=%d max=%d hash=%08x check=%08x\n", n, a->sum, a->max, a->hash, sum);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 6;
    int values[64];
    struct acc a = {0, -1000, 2166136261u};
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++) {
        int v = (i * 37) % 101 - 50;
        values[i] = v;
        update(&a, v);
    }
    unsigned sum = checksum(values, n);
    report(&a, n, sum);
    return 0;
}
