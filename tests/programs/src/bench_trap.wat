;; CPU-bound run that traps deep in a recursion, after memory.grow: for post-mortem on a capture.
;; bench_trap.wasm N: descend 24 frames (each keeps locals set before its call), grow memory by
;; one page, run an LCG loop N times storing into the new page, then load past the memory's end
;; (out of bounds memory access, exit 134). About 13 steps per iteration: N = 77,000,000 is ~10^9.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "descending\n")

  ;; argv[1] as a decimal number, or 1000 without one
  (func $arg (result i32)
    (local $argc i32) (local $p i32) (local $n i32) (local $c i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (local.set $argc (i32.load (i32.const 0)))
    (if (i32.lt_u (local.get $argc) (i32.const 2)) (then (return (i32.const 1000))))
    (drop (call $args_get (i32.const 64) (i32.const 256)))
    (local.set $p (i32.load (i32.const 68)))
    (block $done
      (loop $digits
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done (i32.lt_u (local.get $c) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $c) (i32.const 57)))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
                               (i32.sub (local.get $c) (i32.const 48))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digits)))
    (local.get $n))

  ;; n rounds of an LCG, each stored into the page at base: returns the last value
  (func $work (param $n i32) (param $base i32) (result i32)
    (local $x i32) (local $i i32)
    (local.set $x (i32.const 12345))
    (block $out
      (loop $again
        (br_if $out (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
        (i32.store (i32.add (local.get $base) (i32.and (local.get $x) (i32.const 0xfffc)))
                   (local.get $x))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (local.get $x))

  (func $descend (param $d i32) (param $n i32) (result i32)
    (local $mine i32) (local $page i32)
    (local.set $mine (i32.add (i32.mul (local.get $d) (i32.const 7)) (i32.const 1)))
    (if (result i32) (i32.eqz (local.get $d))
      (then
        (local.set $page (memory.grow (i32.const 1)))
        (local.set $mine (call $work (local.get $n) (i32.shl (local.get $page) (i32.const 16))))
        ;; past the end of the grown memory: traps
        (i32.load (i32.add (i32.shl (memory.size) (i32.const 16)) (i32.and (local.get $mine) (i32.const 0xff)))))
      (else
        (i32.add (call $descend (i32.sub (local.get $d) (i32.const 1)) (local.get $n))
                 (local.get $mine)))))

  (func (export "_start")
    (local $n i32)
    (i32.store (i32.const 32) (i32.const 16))
    (i32.store (i32.const 36) (i32.const 11))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))
    (local.set $n (call $arg))
    (drop (call $descend (i32.const 24) (local.get $n)))))
