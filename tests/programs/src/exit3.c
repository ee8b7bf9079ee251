/* exit3.c: prints a line and exits with status 3 through exit(). */
#include <stdio.h>
#include <stdlib.h>

static void finish(int code)
{
    printf("exiting with status %d\n", code);
    exit(code);
}

int main(void)
{
    printf("hello from exit3\n");
    finish(3);
    printf("unreachable\n");
    return 0;
}
