/* Built with -O2 (see build.py): variables that live on the wasm operand stack.
 *
 * clang keeps a value produced by one call and consumed by the next on the operand stack,
 * with no local: its DWARF location is DW_OP_WASM_location 2 INDEX, read with
 * qWasmStackValue (INDEX counts from the bottom of the frame's operand stack).
 */
#include <stdio.h>
#include <stdlib.h>

volatile int sink;
volatile double fsink;

__attribute__((noinline)) int produce(int n) { return n * 3 + 1; }
__attribute__((noinline)) void consume(int v) { sink = v; }

__attribute__((noinline)) long long produce64(long long n) { return n * 1000003LL + 7; }
__attribute__((noinline)) void consume64(long long v) { sink = (int)(v >> 3); }

__attribute__((noinline)) double fproduce(int n) { return n / 8.0 + 0.25; }
__attribute__((noinline)) void fconsume(double v) { fsink = v; }

__attribute__((noinline)) int input(int k) { return k * 7 + 2; }
__attribute__((noinline)) void output(int a, int b) { sink = a * 100 + b; }

/* r is on the operand stack between the two calls */
__attribute__((noinline)) void between(int n) {
    int r = produce(n);
    consume(r);
}

__attribute__((noinline)) void between64(long long n) {
    long long r = produce64(n);
    consume64(r);
}

__attribute__((noinline)) void between_f(int n) {
    double d = fproduce(n);
    fconsume(d);
}

/* i below j: i is operand-stack value 0, j value 1 */
__attribute__((noinline)) void pair(int n) {
    int i = input(n);
    int j = input(n + 1);
    output(i, j);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5;
    int total = 0;
    for (int k = 0; k < 3; k++) {
        between(n + k);
        total += sink;
        between64(n * 100 + k);
        total += sink;
        between_f(n + k);
        pair(n + 2 * k);
        total += sink;
    }
    printf("total %d fsink %.3f\n", total, fsink);
    return 0;
}
