/* Stands in for wasi-libc's <setjmp.h>, which needs Wasm exception handling: Lua's errors
 * abort instead (see wasi_lua.h). */
typedef int jmp_buf[1];
