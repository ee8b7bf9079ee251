;; calls.wat: direct calls, call_indirect through a funcref table, recursion.
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
  (type $binop (func (param i32 i32) (result i32)))
  (type $unop (func (param i32) (result i32)))
  (table $ops 8 funcref)
  (elem (table $ops) (i32.const 0) func $add $sub $mul $neg $fact)

  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))
  (func $neg (type $unop) (i32.sub (i32.const 0) (local.get 0)))

  ;; Recursive factorial.
  (func $fact (type $unop)
    (if (result i32) (i32.le_s (local.get 0) (i32.const 1))
      (then (i32.const 1))
      (else (i32.mul (local.get 0) (call $fact (i32.sub (local.get 0) (i32.const 1)))))))

  ;; Doubly recursive fibonacci.
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; Mutual recursion.
  (func $even (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 1))
      (else (call $odd (i32.sub (local.get $n) (i32.const 1))))))
  (func $odd (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
      (else (call $even (i32.sub (local.get $n) (i32.const 1))))))

  ;; Apply table entry $i as a binop.
  (func $apply (param $i i32) (param $a i32) (param $b i32) (result i32)
    (call_indirect $ops (type $binop) (local.get $a) (local.get $b) (local.get $i)))

  ;; Multiple parameters of mixed types passed through a call chain.
  (func $mix (param $a i32) (param $b i64) (param $c f32) (param $d f64) (result i64)
    (i64.add
      (i64.add (i64.extend_i32_s (local.get $a)) (local.get $b))
      (i64.add (i64.trunc_f32_s (local.get $c)) (i64.trunc_f64_s (local.get $d)))))

  (func (export "_start")
    (call $p32 (i32.const 0x01) (call $add (i32.const 40) (i32.const 2)))
    (call $p32 (i32.const 0x02) (call $apply (i32.const 0) (i32.const 5) (i32.const 3)))
    (call $p32 (i32.const 0x03) (call $apply (i32.const 1) (i32.const 5) (i32.const 3)))
    (call $p32 (i32.const 0x04) (call $apply (i32.const 2) (i32.const 5) (i32.const 3)))
    (call $p32 (i32.const 0x05) (call_indirect $ops (type $unop) (i32.const 9) (i32.const 3)))
    (call $p32 (i32.const 0x06) (call_indirect $ops (type $unop) (i32.const 10) (i32.const 4)))
    (call $p32 (i32.const 0x07) (call $fact (i32.const 12)))
    (call $p32 (i32.const 0x08) (call $fib (i32.const 15)))
    (call $p32 (i32.const 0x09) (call $even (i32.const 101)))
    (call $p32 (i32.const 0x0a) (call $odd (i32.const 101)))
    (call $p64 (i32.const 0x0b) (call $mix (i32.const -1) (i64.const 0x100000000) (f32.const 2.5) (f64.const -3.5))))
)
