;; control.wat: block/loop/if/else/br/br_if/br_table/return/select/unreachable-free
;; structured control flow, nesting, and blocks with params/results.
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
  ;; Sum 1..n with a loop and br_if.
  (func $sum (param $n i32) (result i32)
    (local $acc i32)
    (block $exit
      (loop $top
        (br_if $exit (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $top)))
    (local.get $acc))

  ;; br_table dispatch with nested blocks: 0->100, 1->200, 2->300, other->999.
  (func $classify (param $x i32) (result i32)
    (block $default
      (block $c2
        (block $c1
          (block $c0
            (br_table $c0 $c1 $c2 $default (local.get $x)))
          (return (i32.const 100)))
        (return (i32.const 200)))
      (return (i32.const 300)))
    (i32.const 999))

  ;; if/else with results, nested.
  (func $sign (param $x i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $x) (i32.const 0))
      (then (i32.const -1))
      (else
        (if (result i32) (i32.eqz (local.get $x))
          (then (i32.const 0))
          (else (i32.const 1))))))

  ;; Early return from inside a loop (first multiple of 7 above $x).
  (func $next7 (param $x i32) (result i32)
    (loop $l
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (if (i32.eqz (i32.rem_u (local.get $x) (i32.const 7)))
        (then (return (local.get $x))))
      (br $l))
    (unreachable))

  ;; Block with parameters and results: (a b) -> (a*b + a).
  (func $blockparams (param $a i32) (param $b i32) (result i32)
    (local.get $a)
    (local.get $a)
    (local.get $b)
    (block (param i32 i32) (result i32)
      (i32.mul))
    (i32.add))

  ;; Loop with a parameter: count bits by shifting the loop operand.
  (func $bits (param $x i32) (result i32)
    (local $count i32)
    (local.get $x)
    (loop $l (param i32) (result i32)
      (local.tee $x)  ;; x = the loop operand
      (i32.eqz)
      (if (result i32)
        (then (local.get $count))
        (else
          (local.set $count (i32.add (local.get $count) (i32.and (local.get $x) (i32.const 1))))
          (br $l (i32.shr_u (local.get $x) (i32.const 1)))))))

  ;; br_if carrying a value out of a block.
  (func $brif_value (param $c i32) (result i32)
    (block $b (result i32)
      (drop (br_if $b (i32.const 42) (local.get $c)))
      (i32.const 7)))

  ;; select, both untyped and typed.
  (func $selects (param $c i32)
    (call $p32 (i32.const 0x30) (select (i32.const 11) (i32.const 22) (local.get $c)))
    (call $p64 (i32.const 0x31) (select (result i64) (i64.const 33) (i64.const 44) (local.get $c))))

  ;; Deep nesting with a branch out of several levels.
  (func $deep (param $x i32) (result i32)
    (block $out (result i32)
      (block
        (block
          (block
            (br_if $out (i32.const 1000) (i32.gt_u (local.get $x) (i32.const 5)))
            (br 2))
          (unreachable))
        (unreachable))
      (i32.const 5)))

  (func (export "_start")
    (call $p32 (i32.const 0x01) (call $sum (i32.const 10)))
    (call $p32 (i32.const 0x02) (call $sum (i32.const 1000)))
    (call $p32 (i32.const 0x03) (call $classify (i32.const 0)))
    (call $p32 (i32.const 0x04) (call $classify (i32.const 1)))
    (call $p32 (i32.const 0x05) (call $classify (i32.const 2)))
    (call $p32 (i32.const 0x06) (call $classify (i32.const 77)))
    (call $p32 (i32.const 0x07) (call $sign (i32.const -9)))
    (call $p32 (i32.const 0x08) (call $sign (i32.const 0)))
    (call $p32 (i32.const 0x09) (call $sign (i32.const 9)))
    (call $p32 (i32.const 0x0a) (call $next7 (i32.const 20)))
    (call $p32 (i32.const 0x0b) (call $blockparams (i32.const 6) (i32.const 7)))
    (call $p32 (i32.const 0x0c) (call $bits (i32.const 0xf0f0)))
    (call $p32 (i32.const 0x0d) (call $brif_value (i32.const 1)))
    (call $p32 (i32.const 0x0e) (call $brif_value (i32.const 0)))
    (call $selects (i32.const 1))
    (call $selects (i32.const 0))
    (call $p32 (i32.const 0x10) (call $deep (i32.const 3)))
    (call $p32 (i32.const 0x11) (call $deep (i32.const 9))))
)
