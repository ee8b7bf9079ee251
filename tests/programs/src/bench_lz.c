/* bench_lz.c: LZ77 compression round trip, CPU bound.
 *
 * Usage: bench_lz [N]   (default 90000)
 * Generates N bytes of pseudo-text (an LCG picking words from a small
 * vocabulary, so it compresses), compresses it with a hand-written LZSS
 * (4 KiB window, 3-byte hash chains, matches of 3..18 bytes, a flag byte per
 * 8 items), decompresses it, checks the round trip and prints the sizes and
 * checksums.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define WINDOW 4096
#define MIN_MATCH 3
#define MAX_MATCH 18
#define HASH_BITS 12
#define HASH_SIZE (1 << HASH_BITS)
#define MAX_CHAIN 16

static const char *const vocabulary[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it",
    "as", "was", "with", "be", "by", "on", "not", "he", "this", "are",
    "time", "travel", "debugger", "replay", "record", "step", "back", "memory",
    "stack", "frame", "wasm", "trace",
};
#define VOCAB ((int)(sizeof vocabulary / sizeof vocabulary[0]))

static uint32_t lcg_state = 2024u;

static uint32_t next_random(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state >> 16;
}

static void generate_text(unsigned char *out, int n)
{
    int pos = 0, words = 0;
    while (pos < n) {
        const char *w = vocabulary[next_random() % VOCAB];
        for (int i = 0; w[i] && pos < n; i++)
            out[pos++] = (unsigned char)w[i];
        words++;
        if (pos < n) {
            uint32_t r = next_random() % 16u;
            if (r == 0)
                out[pos++] = '.';
            else if (r == 1)
                out[pos++] = ',';
        }
        if (pos < n)
            out[pos++] = words % 12 == 0 ? '\n' : ' ';
    }
}

static uint32_t hash3(const unsigned char *p)
{
    return ((uint32_t)p[0] << 8 ^ (uint32_t)p[1] << 4 ^ (uint32_t)p[2]) * 2654435761u >> (32 - HASH_BITS);
}

/* Returns the compressed size. out must hold n + n / 8 + 1 bytes. */
static int compress(const unsigned char *in, int n, unsigned char *out, int *matches_out)
{
    int head[HASH_SIZE];
    int *prev = malloc((size_t)(n > 0 ? n : 1) * sizeof *prev);
    if (!prev)
        exit(2);
    for (int i = 0; i < HASH_SIZE; i++)
        head[i] = -1;

    int pos = 0, olen = 0, matches = 0;
    int flag_at = -1, nitems = 8;
    while (pos < n) {
        if (nitems == 8) {
            flag_at = olen++;
            out[flag_at] = 0;
            nitems = 0;
        }
        int best_len = 0, best_off = 0;
        if (pos + MIN_MATCH <= n) {
            int max_len = n - pos < MAX_MATCH ? n - pos : MAX_MATCH;
            int cand = head[hash3(in + pos)];
            int chain = 0;
            while (cand >= 0 && pos - cand <= WINDOW && chain < MAX_CHAIN) {
                int len = 0;
                while (len < max_len && in[cand + len] == in[pos + len])
                    len++;
                if (len > best_len) {
                    best_len = len;
                    best_off = pos - cand;
                    if (len == max_len)
                        break;
                }
                cand = prev[cand];
                chain++;
            }
        }
        int advance;
        if (best_len >= MIN_MATCH) {
            out[flag_at] |= (unsigned char)(1u << nitems);
            out[olen++] = (unsigned char)((best_off - 1) & 0xff);
            out[olen++] = (unsigned char)(((best_off - 1) >> 8) << 4 | (best_len - MIN_MATCH));
            advance = best_len;
            matches++;
        } else {
            out[olen++] = in[pos];
            advance = 1;
        }
        nitems++;
        for (int k = 0; k < advance; k++, pos++) {
            if (pos + MIN_MATCH <= n) {
                uint32_t h = hash3(in + pos);
                prev[pos] = head[h];
                head[h] = pos;
            }
        }
    }
    free(prev);
    *matches_out = matches;
    return olen;
}

/* Returns the decompressed size, or -1 on corrupt input. */
static int decompress(const unsigned char *in, int n, unsigned char *out, int cap)
{
    int ipos = 0, olen = 0;
    while (ipos < n) {
        unsigned flags = in[ipos++];
        for (int item = 0; item < 8 && ipos < n; item++) {
            if (flags & (1u << item)) {
                if (ipos + 2 > n)
                    return -1;
                int off = (in[ipos] | (in[ipos + 1] >> 4) << 8) + 1;
                int len = (in[ipos + 1] & 0x0f) + MIN_MATCH;
                ipos += 2;
                if (off > olen || olen + len > cap)
                    return -1;
                for (int k = 0; k < len; k++, olen++)
                    out[olen] = out[olen - off];
            } else {
                if (olen >= cap)
                    return -1;
                out[olen++] = in[ipos++];
            }
        }
    }
    return olen;
}

static uint32_t fnv1a(const unsigned char *p, int n)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 90000;
    if (n < 1)
        n = 1;
    unsigned char *text = malloc((size_t)n);
    unsigned char *packed = malloc((size_t)n + (size_t)n / 8 + 1);
    unsigned char *unpacked = malloc((size_t)n);
    if (!text || !packed || !unpacked)
        return 2;

    generate_text(text, n);
    int matches = 0;
    int clen = compress(text, n, packed, &matches);
    int dlen = decompress(packed, clen, unpacked, n);

    int same = dlen == n;
    for (int i = 0; same && i < n; i++)
        if (text[i] != unpacked[i])
            same = 0;

    printf("input %d bytes, compressed %d bytes (%d.%02d%%), %d matches\n", n, clen,
           (int)(clen * 100LL / n), (int)(clen * 10000LL / n % 100), matches);
    printf("decompressed %d bytes, round trip %s\n", dlen, same ? "ok" : "FAILED");
    printf("checksum: input %08x compressed %08x\n", fnv1a(text, n), fnv1a(packed, clen));
    free(unpacked);
    free(packed);
    free(text);
    return same ? 0 : 1;
}
