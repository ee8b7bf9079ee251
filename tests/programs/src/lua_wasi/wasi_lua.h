/* Lua 5.4 on wasm32-wasi without Wasm exception handling (build.py includes this first).
 *
 * wasi-libc has setjmp/longjmp only with the exception-handling proposal, so Lua's error
 * recovery is compiled out: an error (a failed pcall included) aborts the program. tmpfile,
 * system and tmpnam do not exist on WASI; os.tmpname, io.tmpfile and os.execute fail. */
#include <stdio.h>
#include <stdlib.h>
#define tmpfile() ((FILE *)0)
#define system(c) (-1)
#define LUA_TMPNAMBUFSIZE 32
#define lua_tmpnam(b, e) { e = 1; }
#define LUAI_THROW(L, c) abort()
#define LUAI_TRY(L, c, a) { a }
#define luai_jmpbuf int
