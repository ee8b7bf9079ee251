;; trycalls.wat: calls made inside try_table bodies, where wasmtime reports a caller frame
;; at its call instruction (a call with handlers in scope), next to calls outside them,
;; where it reports the instruction after the call: calls nested in blocks, loops and ifs
;; inside a try_table, an indirect call, a try_table without catch clauses (no handlers),
;; one nested in a try_table with catches, a callee that throws and is caught, calls in
;; the catch target, and a catch two frames up.
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
  (type $unary (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $leaf $twice)

  (func $leaf (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 1)))
  (func $twice (param $x i32) (result i32)
    (i32.mul (local.get $x) (i32.const 2)))
  ;; throws $e with $x when $x > 5, else returns $x + 100
  (func $maybe_throw (param $x i32) (result i32)
    (if (i32.gt_s (local.get $x) (i32.const 5))
      (then (throw $e (local.get $x))))
    (i32.add (local.get $x) (i32.const 100)))
  ;; calls nested in block/loop/if inside a try_table, an indirect call, a callee that
  ;; returns and one that throws; the catch target calls again
  (func $guarded (param $n i32) (result i32)
    (local $acc i32)
    (block $caught (result i32)
      (try_table (result i32) (catch $e $caught)
        (block $out
          (loop $again
            (br_if $out (i32.eqz (local.get $n)))
            (if (i32.and (local.get $n) (i32.const 1))
              (then (local.set $acc (i32.add (local.get $acc) (call $leaf (local.get $n)))))
              (else (local.set $acc (i32.add (local.get $acc)
                      (call_indirect (type $unary) (local.get $n) (i32.const 1))))))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $again)))
        (local.set $acc (i32.add (local.get $acc) (call $maybe_throw (i32.const 2))))
        (call $maybe_throw (i32.add (local.get $acc) (i32.const 1)))))
    (call $leaf))
  ;; a try_table without catch clauses installs no handler; nested in one with a catch_all,
  ;; it is inside that one's handler
  (func $no_catches (param $x i32) (result i32)
    (local $r i32)
    (try_table
      (local.set $r (call $leaf (local.get $x))))
    (block $any
      (try_table (catch_all $any)
        (try_table
          (local.set $r (call $twice (local.get $r))))
        (local.set $r (call $maybe_throw (local.get $r)))))
    (call $leaf (local.get $r)))
  ;; the throw two frames down ($middle calls $maybe_throw outside any try_table)
  (func $middle (param $x i32) (result i32)
    (i32.add (call $maybe_throw (local.get $x)) (i32.const 1)))
  (func $outer (param $x i32) (result i32)
    (block $caught (result i32)
      (try_table (result i32) (catch $e $caught)
        (call $middle (local.get $x))))
    (call $twice))

  (func (export "_start")
    (call $p32 (i32.const 0x01) (call $guarded (i32.const 4)))
    (call $p32 (i32.const 0x02) (call $no_catches (i32.const 1)))
    (call $p32 (i32.const 0x03) (call $no_catches (i32.const 3)))
    (call $p32 (i32.const 0x04) (call $outer (i32.const 2)))
    (call $p32 (i32.const 0x05) (call $outer (i32.const 7))))
)
