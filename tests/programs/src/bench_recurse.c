/* bench_recurse.c: recursion heavy, CPU bound.
 *
 * Usage: bench_recurse [N]   (default 27)
 * Naive recursive fib(N) and fib(N - 1) (counting calls, checked against a
 * loop), then a Fibonacci tree of order N - 5
 * (tree(k) = node(tree(k - 1), tree(k - 2))) built, walked (node/leaf count,
 * height, weighted sum, mirror compare) and freed, all by recursion, then
 * Ackermann(3, N / 5) (recursion about 2^(N/5 + 3) calls deep). The run time
 * grows about 1.6x per unit of N. Prints results, call counts and checksums.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

struct tree {
    uint32_t value;
    struct tree *left;
    struct tree *right;
};

static uint32_t fib_calls = 0;
static uint32_t ack_calls = 0;
static int ack_depth = 0;
static int ack_max_depth = 0;

static uint32_t fib(int n)
{
    fib_calls++;
    if (n < 2)
        return (uint32_t)n;
    return fib(n - 1) + fib(n - 2);
}

static struct tree *build(int order, uint32_t seed)
{
    struct tree *t = malloc(sizeof *t);
    if (!t)
        exit(2);
    t->value = seed * 2654435761u + (uint32_t)order;
    if (order < 2) {
        t->left = NULL;
        t->right = NULL;
    } else {
        t->left = build(order - 1, seed * 3u + 1u);
        t->right = build(order - 2, seed * 5u + 2u);
    }
    return t;
}

static uint32_t count_nodes(const struct tree *t)
{
    if (!t)
        return 0;
    return 1 + count_nodes(t->left) + count_nodes(t->right);
}

static uint32_t count_leaves(const struct tree *t)
{
    if (!t)
        return 0;
    if (!t->left && !t->right)
        return 1;
    return count_leaves(t->left) + count_leaves(t->right);
}

static int height(const struct tree *t)
{
    if (!t)
        return 0;
    int l = height(t->left);
    int r = height(t->right);
    return 1 + (l > r ? l : r);
}

/* Preorder hash, weighting each value by its depth. */
static uint32_t weighted_sum(const struct tree *t, uint32_t depth, uint32_t acc)
{
    if (!t)
        return acc;
    acc = acc * 31u + t->value * (depth + 1u);
    acc = weighted_sum(t->left, depth + 1u, acc);
    return weighted_sum(t->right, depth + 1u, acc);
}

/* Is b the mirror image of a (same values, children swapped)? */
static int is_mirror(const struct tree *a, const struct tree *b)
{
    if (!a || !b)
        return a == b;
    return a->value == b->value && is_mirror(a->left, b->right) && is_mirror(a->right, b->left);
}

static struct tree *mirror_copy(const struct tree *t)
{
    if (!t)
        return NULL;
    struct tree *m = malloc(sizeof *m);
    if (!m)
        exit(2);
    m->value = t->value;
    m->left = mirror_copy(t->right);
    m->right = mirror_copy(t->left);
    return m;
}

static void free_tree(struct tree *t)
{
    if (!t)
        return;
    free_tree(t->left);
    free_tree(t->right);
    free(t);
}

static uint32_t ackermann(uint32_t m, uint32_t n)
{
    uint32_t r;
    ack_calls++;
    if (++ack_depth > ack_max_depth)
        ack_max_depth = ack_depth;
    if (m == 0)
        r = n + 1;
    else if (n == 0)
        r = ackermann(m - 1, 1);
    else
        r = ackermann(m - 1, ackermann(m, n - 1));
    ack_depth--;
    return r;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 27;
    if (n < 6)
        n = 6;
    if (n > 40)
        n = 40;

    uint32_t f = fib(n);
    printf("fib(%d) = %u calls=%u\n", n, f, fib_calls);
    fib_calls = 0;
    uint32_t f1 = fib(n - 1);
    printf("fib(%d) = %u calls=%u\n", n - 1, f1, fib_calls);
    uint32_t x = 0, y = 1;
    for (int i = 0; i < n; i++) {
        uint32_t z = x + y;
        x = y;
        y = z;
    }
    int fib_ok = x == f && y == f + f1;

    int order = n - 5;
    struct tree *t = build(order, 1u);
    struct tree *m = mirror_copy(t);
    uint32_t nodes = count_nodes(t);
    uint32_t leaves = count_leaves(t);
    int h = height(t);
    uint32_t sum = weighted_sum(t, 0, 0);
    int mirrored = is_mirror(t, m) && !is_mirror(t, t->left);
    free_tree(m);
    free_tree(t);
    printf("tree order %d: nodes=%u leaves=%u height=%d mirror=%s checksum: %u\n",
           order, nodes, leaves, h, mirrored ? "yes" : "no", sum);

    uint32_t am = 3, an = (uint32_t)n / 5;
    uint32_t a = ackermann(am, an);
    printf("ackermann(%u, %u) = %u calls=%u max_depth=%d\n", am, an, a, ack_calls, ack_max_depth);

    int ok = fib_ok && mirrored && nodes == 2u * leaves - 1u && a == (1u << (an + 3)) - 3u;
    return ok ? 0 : 1;
}
