/* heap.c: heap traffic: a malloc'd linked list and a realloc'd growing array.
 *
 * Usage: heap [NODES [ARRAY_BYTES [BLOCKS]]]   (defaults 1000, 65536, 4)
 * The array grows by doubling with realloc up to ARRAY_BYTES. Then BLOCKS
 * blocks of 1 MiB are malloc'd (4 MiB by default), which forces several
 * memory.grow calls. Prints checksums of all three structures. (zig's libc
 * realloc copies byte by byte at -O0, ~15 steps a byte: keep ARRAY_BYTES small.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define PAGE 4096
#define BLOCK (1024 * 1024)

struct node {
    int value;
    struct node *next;
};

static struct node *build_list(int count)
{
    struct node *head = NULL;
    for (int i = 0; i < count; i++) {
        struct node *n = malloc(sizeof *n);
        if (!n)
            return head;
        n->value = i * 7 + 3;
        n->next = head;
        head = n;
    }
    return head;
}

static uint32_t list_checksum(const struct node *head)
{
    uint32_t sum = 0;
    for (const struct node *n = head; n; n = n->next)
        sum = sum * 31u + (uint32_t)n->value;
    return sum;
}

static int free_list(struct node *head)
{
    int freed = 0;
    while (head) {
        struct node *next = head->next;
        free(head);
        head = next;
        freed++;
    }
    return freed;
}

/* Grows a byte array by doubling with realloc until it holds `target` bytes,
 * writing one 32-bit word per 4 KiB page. */
static uint32_t *grow_array(size_t target, size_t *words_out, int *reallocs)
{
    size_t cap = 4096, len = 0;
    uint32_t *arr = malloc(cap);
    *reallocs = 0;
    while (arr && len < target) {
        if (len == cap) {
            cap *= 2;
            uint32_t *bigger = realloc(arr, cap);
            if (!bigger) {
                free(arr);
                return NULL;
            }
            arr = bigger;
            (*reallocs)++;
        }
        arr[len / 4] = (uint32_t)(len * 2654435761u);
        len += PAGE;
    }
    *words_out = len / 4;
    return arr;
}

int main(int argc, char **argv)
{
    int nodes = argc > 1 ? atoi(argv[1]) : 1000;
    size_t bytes = argc > 2 ? (size_t)atol(argv[2]) : 65536;
    int nblocks = argc > 3 ? atoi(argv[3]) : 4;

    struct node *list = build_list(nodes);
    printf("list checksum: %u\n", list_checksum(list));

    size_t words = 0;
    int reallocs = 0;
    uint32_t *arr = grow_array(bytes, &words, &reallocs);
    if (!arr) {
        printf("out of memory\n");
        return 1;
    }
    uint32_t sum = 0;
    for (size_t i = 0; i < words; i += PAGE / 4)
        sum = sum * 31u + (arr[i] ^ (uint32_t)i);
    printf("array bytes: %zu reallocs: %d checksum: %u\n", words * 4, reallocs, sum);
    free(arr);

    uint32_t *blocks[16];
    if (nblocks > 16)
        nblocks = 16;
    uint32_t bsum = 0;
    for (int b = 0; b < nblocks; b++) {
        blocks[b] = malloc(BLOCK);
        if (!blocks[b]) {
            printf("out of memory\n");
            return 1;
        }
        for (size_t off = 0; off < BLOCK; off += PAGE)
            blocks[b][off / 4] = (uint32_t)(b * 1000003 + off);
    }
    for (int b = nblocks - 1; b >= 0; b--) {
        for (size_t off = 0; off < BLOCK; off += PAGE)
            bsum = bsum * 31u + blocks[b][off / 4];
        free(blocks[b]);
    }
    printf("blocks: %d x %d KiB checksum: %u\n", nblocks, BLOCK / 1024, bsum);
    printf("freed nodes: %d\n", free_list(list));
    return 0;
}
