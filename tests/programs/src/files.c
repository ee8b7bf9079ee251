/* files.c: reads a file through a preopened directory.
 *
 * Usage: files PATH
 * Prints the file's size (stat and bytes read), its line count and an
 * FNV-1a checksum of its contents. Writes nothing to the file system.
 */
#include <stdio.h>
#include <stdint.h>
#include <sys/stat.h>

static uint32_t fnv1a(uint32_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: files PATH\n");
        return 2;
    }
    const char *path = argv[1];
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("stat %s: failed\n", path);
        return 1;
    }
    printf("stat size: %lld\n", (long long)st.st_size);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("open %s: failed\n", path);
        return 1;
    }
    unsigned char buf[100];
    size_t n, total = 0;
    long lines = 0;
    uint32_t h = 2166136261u;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        h = fnv1a(h, buf, n);
        for (size_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        total += n;
    }
    fclose(f);
    printf("read bytes: %zu\n", total);
    printf("lines: %ld\n", lines);
    printf("fnv1a: %08x\n", h);
    return 0;
}
