/* stdin_wc.c: count lines, words and bytes of standard input, like wc.
 *
 * Usage: stdin_wc           reads with fread in 64-byte chunks
 *        stdin_wc --lines   reads with fgets line by line
 */
#include <stdio.h>
#include <string.h>
#include <ctype.h>

struct counts {
    long lines, words, bytes;
    int in_word;
};

static void count_chunk(struct counts *c, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)buf[i];
        c->bytes++;
        if (ch == '\n')
            c->lines++;
        if (isspace(ch)) {
            c->in_word = 0;
        } else if (!c->in_word) {
            c->in_word = 1;
            c->words++;
        }
    }
}

int main(int argc, char **argv)
{
    struct counts c = {0, 0, 0, 0};
    char buf[64];
    if (argc > 1 && strcmp(argv[1], "--lines") == 0) {
        while (fgets(buf, sizeof buf, stdin))
            count_chunk(&c, buf, strlen(buf));
    } else {
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
            count_chunk(&c, buf, n);
    }
    printf("lines=%ld words=%ld bytes=%ld\n", c.lines, c.words, c.bytes);
    return 0;
}
