/* strings.c: string manipulation on the command line arguments.
 *
 * For every argument: copy (strcpy), reverse in place, append a suffix
 * (strcat), format with snprintf, and split on ',' and ' ' (strtok).
 */
#include <stdio.h>
#include <string.h>
#include <ctype.h>

static void reverse(char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0, j = len ? len - 1 : 0; i < j; i++, j--) {
        char tmp = s[i];
        s[i] = s[j];
        s[j] = tmp;
    }
}

static void upcase(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

static int count_tokens(const char *arg)
{
    char work[256];
    strncpy(work, arg, sizeof work - 1);
    work[sizeof work - 1] = '\0';
    int count = 0;
    for (char *tok = strtok(work, ", "); tok; tok = strtok(NULL, ", ")) {
        printf("    token %d: '%s'\n", count, tok);
        count++;
    }
    return count;
}

int main(int argc, char **argv)
{
    char joined[512] = "";
    for (int i = 1; i < argc; i++) {
        char buf[256];
        char line[320];
        strncpy(buf, argv[i], 200);
        buf[200] = '\0';
        printf("arg %d: '%s' (len %zu)\n", i, buf, strlen(buf));
        reverse(buf);
        printf("  reversed: '%s'\n", buf);
        reverse(buf);
        strcat(buf, "!");
        upcase(buf);
        snprintf(line, sizeof line, "[%d:%s]", i, buf);
        printf("  formatted: %s\n", line);
        printf("  tokens: %d\n", count_tokens(argv[i]));
        if (strlen(joined) + strlen(argv[i]) + 2 < sizeof joined) {
            if (joined[0])
                strcat(joined, "+");
            strcat(joined, argv[i]);
        }
    }
    printf("joined: '%s'\n", joined);
    char *found = strstr(joined, "wasm");
    printf("strstr wasm: %ld\n", found ? (long)(found - joined) : -1L);
    return 0;
}
