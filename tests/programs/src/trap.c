/* trap.c: an out-of-bounds memory access that makes wasm trap.
 *
 * lookup() computes a record pointer from a bogus index (far beyond linear
 * memory, around 0x7fff0000); read_balance(), a different function,
 * dereferences it and traps (`wasmtime run` exits with status 134).
 */
#include <stdio.h>

struct record {
    int id;
    int balance;
    char name[8];
};

static struct record table[4] = {
    {1, 100, "alice"}, {2, 200, "bob"}, {3, 300, "carol"}, {4, 400, "dave"},
};

/* A corrupted index: 0x07eff000 records of 16 bytes lie ~2 GiB past table,
 * so &table[index] is around 0x7fff0000, far beyond linear memory. */
static int bogus_index(int seed)
{
    return 0x07eff000 + seed;
}

struct record *lookup(int index)
{
    struct record *r = &table[index]; /* BAD POINTER computed here */
    return r;
}

int read_balance(struct record *r)
{
    return r->balance; /* TRAP: out-of-bounds load here */
}

int main(void)
{
    int total = 0;
    for (int i = 0; i < 4; i++)
        total += read_balance(&table[i]);
    printf("total of valid records: %d\n", total);
    fflush(stdout);
    int index = bogus_index(0);
    struct record *bad = lookup(index);
    printf("about to read record at %p\n", (void *)bad);
    fflush(stdout);
    total += read_balance(bad);
    printf("unreachable: %d\n", total);
    return 0;
}
