/* fib.c: naive recursive Fibonacci.
 *
 * Usage: fib [N]   (default N = 10)
 * Computes fib(N) by plain recursion (so a breakpoint on `fib` is hit with
 * n = N, N-1, N-2, ... on the first hits), then prints the table fib(0..N)
 * computed iteratively, and the number of recursive calls made.
 */
#include <stdio.h>
#include <stdlib.h>

static int calls = 0;

int fib(int n)
{
    calls++;
    if (n < 2)
        return n;
    int a = fib(n - 1);
    int b = fib(n - 2);
    return a + b;
}

static void print_table(int n)
{
    int prev = 0, cur = 1;
    for (int i = 0; i <= n; i++) {
        printf("fib(%d) = %d\n", i, prev);
        int next = prev + cur;
        prev = cur;
        cur = next;
    }
}

int main(int argc, char **argv)
{
    int n = 10;
    if (argc > 1)
        n = atoi(argv[1]);
    int result = fib(n);
    printf("fib(%d) = %d\n", n, result);
    printf("calls = %d\n", calls);
    print_table(n);
    return 0;
}
