/* wild.c: a variable overwritten through a wild pointer.
 *
 * main() keeps a struct whose `total` field sits right after an 8-int array.
 * accumulate() legitimately updates `total` several times; then scale(), a
 * helper with an off-by-one loop bound (i <= n), writes one element past the
 * array and clobbers `total`. A watchpoint on `stats.total` ("who wrote
 * this?") finds the legitimate writes in accumulate() and the wild one in
 * scale().
 */
#include <stdio.h>

struct stats {
    int samples[8];
    int total;  /* neighbour of samples[]: samples[8] aliases it */
    int count;
};

static void accumulate(struct stats *s, int value)
{
    s->samples[s->count % 8] = value;
    s->total += value; /* legitimate write */
    s->count++;
}

static void scale(int *values, int n, int factor)
{
    for (int i = 0; i <= n; i++) /* BUG: off by one, should be i < n */
        values[i] = values[i] * factor; /* wild write when i == n */
}

int main(void)
{
    struct stats stats = {{0}, 0, 0};
    for (int v = 1; v <= 8; v++)
        accumulate(&stats, v * 10);
    printf("total before scale: %d (count %d)\n", stats.total, stats.count);
    scale(stats.samples, 8, 3);
    printf("samples[7] after scale: %d\n", stats.samples[7]);
    printf("total after scale: %d (expected %d)\n", stats.total, 360);
    return stats.total == 360 ? 0 : 1;
}
