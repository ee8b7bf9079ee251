;; multivalue.wat: functions returning several values, blocks/ifs/loops with
;; multiple params and results (type-index block types), and calls that
;; consume multiple results.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; ---- output helpers (same in every file): "ID VALUE\n" in hex on stdout ----
  ;; Memory 0 bytes 0..63 are scratch: iovec at 0, nwritten at 8, line at 16.
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  ;; Write the low $n hex digits of $v at $ptr, most significant first.
  (func $hex (param $ptr i32) (param $v i64) (param $n i32)
    (local $d i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (local.set $d (i32.wrap_i64 (i64.and (local.get $v) (i64.const 15))))
        (i32.store8
          (i32.add (local.get $ptr) (local.get $n))
          (i32.add (local.get $d)
            (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
        (local.set $v (i64.shr_u (local.get $v) (i64.const 4)))
        (br $next))))
  ;; Print "II VVVVVVVV\n" (id and i32 value in hex).
  (func $p32 (param $id i32) (param $v i32)
    (call $hex (i32.const 16) (i64.extend_i32_u (local.get $id)) (i32.const 2))
    (i32.store8 (i32.const 18) (i32.const 32))
    (call $hex (i32.const 19) (i64.extend_i32_u (local.get $v)) (i32.const 8))
    (i32.store8 (i32.const 27) (i32.const 10))
    (call $write (i32.const 16) (i32.const 12)))
  ;; Print "II VVVVVVVVVVVVVVVV\n" (id and i64 value in hex).
  (func $p64 (param $id i32) (param $v i64)
    (call $hex (i32.const 16) (i64.extend_i32_u (local.get $id)) (i32.const 2))
    (i32.store8 (i32.const 18) (i32.const 32))
    (call $hex (i32.const 19) (local.get $v) (i32.const 16))
    (i32.store8 (i32.const 35) (i32.const 10))
    (call $write (i32.const 16) (i32.const 20)))
  ;; ---- end of output helpers ----
  (type $pair (func (param i32 i32) (result i32 i32)))

  ;; (a, b) -> (a / b, a % b)
  (func $divmod (param $a i32) (param $b i32) (result i32 i32)
    (i32.div_u (local.get $a) (local.get $b))
    (i32.rem_u (local.get $a) (local.get $b)))

  ;; Returns values of four different types.
  (func $four (result i32 i64 f32 f64)
    (i32.const 1) (i64.const 2) (f32.const 3.5) (f64.const 4.25))

  (func $swap (type $pair) (local.get 1) (local.get 0))

  ;; Fibonacci with a loop carrying two values on the operand stack.
  (func $fib (param $n i32) (result i64)
    (local $t i64)
    (i64.const 0) (i64.const 1)
    (loop $l (param i64 i64) (result i64 i64)
      (if (param i64 i64) (result i64 i64) (i32.eqz (local.get $n))
        (then)
        (else
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (local.set $t)          ;; t = b
          (local.get $t)          ;; stack: a t
          (i64.add)               ;; a + b
          (local.get $t)          ;; a+b b
          (call $swap64)          ;; b a+b
          (br $l))))
    (drop))

  (func $swap64 (param i64 i64) (result i64 i64) (local.get 1) (local.get 0))

  (func (export "_start")
    (local $x i32) (local $y i32) (local $b i64) (local $c f32) (local $d f64)
    (call $divmod (i32.const 47) (i32.const 5))
    (local.set $y) (local.set $x)
    (call $p32 (i32.const 0x01) (local.get $x))
    (call $p32 (i32.const 0x02) (local.get $y))
    ;; results of one call feed another call directly
    (call $swap (call $divmod (i32.const 100) (i32.const 7)))
    (local.set $y) (local.set $x)
    (call $p32 (i32.const 0x03) (local.get $x))
    (call $p32 (i32.const 0x04) (local.get $y))
    (call $four)
    (local.set $d) (local.set $c) (local.set $b)
    (local.set $x)
    (call $p32 (i32.const 0x05) (local.get $x))
    (call $p64 (i32.const 0x06) (local.get $b))
    (call $p32 (i32.const 0x07) (i32.reinterpret_f32 (local.get $c)))
    (call $p64 (i32.const 0x08) (i64.reinterpret_f64 (local.get $d)))
    ;; block with a type-index block type: params and results
    (i32.const 9) (i32.const 4)
    (block (type $pair)
      (call $divmod))
    (local.set $y) (local.set $x)
    (call $p32 (i32.const 0x09) (local.get $x))
    (call $p32 (i32.const 0x0a) (local.get $y))
    ;; if with multiple results
    (if (result i32 i64) (local.get $x)
      (then (i32.const 11) (i64.const 12))
      (else (i32.const 13) (i64.const 14)))
    (local.set $b) (local.set $x)
    (call $p32 (i32.const 0x0b) (local.get $x))
    (call $p64 (i32.const 0x0c) (local.get $b))
    (call $p64 (i32.const 0x0d) (call $fib (i32.const 80))))
)
