;; tailcall.wat: return_call and return_call_indirect, including a deep mutual
;; recursion (hundreds of thousands of frames) that would overflow the stack without
;; proper tail calls.
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
  (type $step (func (param i64 i64) (result i64)))
  (table $dispatch 2 funcref)
  (elem (table $dispatch) (i32.const 0) func $ping $pong)

  ;; Tail-recursive sum with an accumulator.
  (func $sum (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (local.get $acc))
      (else (return_call $sum
        (i64.sub (local.get $n) (i64.const 1))
        (i64.add (local.get $acc) (local.get $n))))))

  ;; Mutual recursion through direct tail calls.
  (func $is_even (param $n i64) (result i32)
    (if (result i32) (i64.eqz (local.get $n)) (then (i32.const 1))
      (else (return_call $is_odd (i64.sub (local.get $n) (i64.const 1))))))
  (func $is_odd (param $n i64) (result i32)
    (if (result i32) (i64.eqz (local.get $n)) (then (i32.const 0))
      (else (return_call $is_even (i64.sub (local.get $n) (i64.const 1))))))

  ;; Mutual recursion through return_call_indirect: ping adds 1, pong adds 2.
  (func $ping (type $step)
    (if (result i64) (i64.eqz (local.get 0)) (then (local.get 1))
      (else (return_call_indirect $dispatch (type $step)
        (i64.sub (local.get 0) (i64.const 1))
        (i64.add (local.get 1) (i64.const 1))
        (i32.const 1)))))
  (func $pong (type $step)
    (if (result i64) (i64.eqz (local.get 0)) (then (local.get 1))
      (else (return_call_indirect $dispatch (type $step)
        (i64.sub (local.get 0) (i64.const 1))
        (i64.add (local.get 1) (i64.const 2))
        (i32.const 0)))))

  (func $short (result i32)
    ;; a tail call from a function with a different frame size
    (return_call $is_even (i64.const 6)))

  (func (export "_start")
    (call $p64 (i32.const 0x01) (call $sum (i64.const 10) (i64.const 0)))
    (call $p64 (i32.const 0x02) (call $sum (i64.const 300000) (i64.const 0)))
    (call $p32 (i32.const 0x03) (call $is_even (i64.const 300001)))
    (call $p32 (i32.const 0x04) (call $is_odd (i64.const 300001)))
    (call $p64 (i32.const 0x05) (call $ping (i64.const 300001) (i64.const 0)))
    (call $p32 (i32.const 0x06) (call $short)))
)
