;; labelcatch.wat: catch clauses whose label is the function's own: a caught exception
;; returns from the function (with the catch's payload as its results, for `catch`), and
;; its caller goes on; calls inside such try_tables are calls with a handler in scope. Also
;; a catch to the label whose tag does not match (the exception unwinds further), and a
;; catch_all_ref to the label.
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
  ;; ---- end of output helpers ----
  (tag $e (param i32))
  (tag $other)
  (global $g (mut i32) (i32.const 0))
  (func $thrower (param $x i32)
    (global.set $g (i32.add (global.get $g) (local.get $x)))
    (throw $e (local.get $x)))
  ;; catch $e to the function label: returns the payload
  (func $payload (param $x i32) (result i32)
    (try_table (catch $e 0)
      (call $thrower (i32.add (local.get $x) (i32.const 1))))
    (i32.const -1))
  ;; catch_all to the function label, the throw two frames down
  (func $swallow (param $x i32)
    (try_table (catch_all 0)
      (drop (call $payload_or_throw (local.get $x)))))
  (func $payload_or_throw (param $x i32) (result i32)
    (call $thrower (local.get $x))
    (i32.const 0))
  ;; a label catch of another tag: $e goes through to the caller's handler
  (func $wrong_tag (param $x i32)
    (try_table (catch $other 0)
      (call $thrower (local.get $x))))
  (func $outer (param $x i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h)
        (call $wrong_tag (local.get $x)))
      (i32.const -2)))
  ;; catch_all_ref to the label: returns the exnref, dropped by the caller
  (func $with_ref (param $x i32) (result exnref)
    (try_table (catch_all_ref 0)
      (call $thrower (local.get $x)))
    (ref.null exn))
  (func (export "_start")
    (call $p32 (i32.const 1) (call $payload (i32.const 41)))
    (call $swallow (i32.const 5))
    (call $p32 (i32.const 2) (global.get $g))
    (call $p32 (i32.const 3) (call $outer (i32.const 9)))
    (call $p32 (i32.const 4) (ref.is_null (call $with_ref (i32.const 11))))
    (call $p32 (i32.const 5) (global.get $g))))
