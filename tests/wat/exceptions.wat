;; exceptions.wat: exception handling (the new try_table/exnref proposal):
;; throw, try_table with catch / catch_ref / catch_all / catch_all_ref,
;; throw_ref, exceptions crossing several call frames, a handler that does not
;; match letting the exception pass, and a recursive function where an inner
;; frame throws and an outer frame of the same function catches.
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
  (tag $e_i32 (param i32))
  (tag $e_pair (param i32 i64))
  (tag $e_empty)

  (func $throw_if_big (param $x i32)
    (if (i32.gt_s (local.get $x) (i32.const 10))
      (then (throw $e_i32 (local.get $x)))))

  ;; Catch with payload; the throw happens in a callee frame.
  (func $catch_value (param $x i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e_i32 $h)
        (call $throw_if_big (local.get $x)))
      (i32.const -1)))

  ;; Three frames deep: $level1 -> $level2 -> $level3 throws.
  (func $level3 (param $x i32) (result i64)
    (throw $e_pair (local.get $x) (i64.mul (i64.extend_i32_u (local.get $x)) (i64.const 1000))))
  (func $level2 (param $x i32) (result i64)
    ;; a handler for a different tag: the exception passes through
    (block $h
      (try_table (catch $e_empty $h)
        (return (i64.add (call $level3 (local.get $x)) (i64.const 1)))))
    (i64.const -2))
  (func $level1 (param $x i32) (result i32 i64)
    (block $h (result i32 i64)
      (try_table (result i32 i64) (catch $e_pair $h)
        (i32.const 0)
        (call $level2 (local.get $x)))))

  ;; catch_all with no payload.
  (func $catch_all (param $which i32) (result i32)
    (block $h
      (try_table (catch_all $h)
        (if (local.get $which)
          (then (throw $e_empty))
          (else (throw $e_i32 (i32.const 5)))))
      (return (i32.const 0)))
    (i32.const 1))

  ;; catch_ref then throw_ref to an outer handler in the same function.
  (func $rethrow (result i32 i64)
    (block $outer (result i32 i64)
      (try_table (result i32 i64) (catch $e_pair $outer)
        (block $inner (result i32 i64 exnref)
          (try_table (catch_ref $e_pair $inner)
            (throw $e_pair (i32.const 7) (i64.const 8)))
          (unreachable))
        (throw_ref))))

  ;; catch_all_ref in a callee, rethrown with throw_ref, caught in the caller.
  (func $pass_through
    (block $h (result exnref)
      (try_table (catch_all_ref $h)
        (throw $e_i32 (i32.const 0x77)))
      (return))
    (throw_ref))
  (func $catch_passed (result i32)
    (block $h (result i32)
      (try_table (catch $e_i32 $h)
        (call $pass_through))
      (i32.const -1)))

  ;; Recursion: frame 0 throws; the frame whose depth equals $catch_at
  ;; catches and adds its depth * 0x10000; frames in between add 1 on the
  ;; normal return path (which is skipped by the exception).
  (func $rec (param $n i32) (param $catch_at i32) (result i32)
    (if (i32.eqz (local.get $n))
      (then (throw $e_i32 (i32.const 0x1234))))
    (if (result i32) (i32.eq (local.get $n) (local.get $catch_at))
      (then
        (block $h (result i32)
          (try_table (result i32) (catch $e_i32 $h)
            (call $rec (i32.sub (local.get $n) (i32.const 1)) (local.get $catch_at))))
        (i32.add (i32.shl (local.get $n) (i32.const 16))))
      (else
        (i32.add (call $rec (i32.sub (local.get $n) (i32.const 1)) (local.get $catch_at))
          (i32.const 1)))))

  (func (export "_start")
    (local $a i32) (local $b i64)
    (call $p32 (i32.const 0x01) (call $catch_value (i32.const 3)))
    (call $p32 (i32.const 0x02) (call $catch_value (i32.const 42)))
    (call $level1 (i32.const 9))
    (local.set $b) (local.set $a)
    (call $p32 (i32.const 0x03) (local.get $a))
    (call $p64 (i32.const 0x04) (local.get $b))
    (call $p32 (i32.const 0x05) (call $catch_all (i32.const 1)))
    (call $p32 (i32.const 0x06) (call $catch_all (i32.const 0)))
    (call $rethrow)
    (local.set $b) (local.set $a)
    (call $p32 (i32.const 0x07) (local.get $a))
    (call $p64 (i32.const 0x08) (local.get $b))
    (call $p32 (i32.const 0x09) (call $catch_passed))
    (call $p32 (i32.const 0x0a) (call $rec (i32.const 6) (i32.const 4)))
    (call $p32 (i32.const 0x0b) (call $rec (i32.const 6) (i32.const 6)))
    (call $p32 (i32.const 0x0c) (call $rec (i32.const 6) (i32.const 1))))
)
