;; locals_globals.wat: locals of every numeric type, local.tee, mutable and
;; immutable globals of every numeric type, globals initialised from globals.
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
  (global $counter (mut i32) (i32.const 0))
  (global $big (mut i64) (i64.const 0x0102030405060708))
  (global $fl (mut f32) (f32.const 1.5))
  (global $db (mut f64) (f64.const -2.25))
  (global $k i32 (i32.const 1234))
  (global $k2 i32 (global.get $k))
  (global $ext i32 (i32.add (i32.const 1) (i32.mul (i32.const 2) (i32.const 3))))

  (func $bump (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))

  (func $locals (param $p i32) (result i64)
    (local $a i32) (local $b i64) (local $c f32) (local $d f64) (local $e i32)
    ;; default-initialised locals are zero
    (call $p32 (i32.const 0x01) (local.get $a))
    (call $p64 (i32.const 0x02) (local.get $b))
    (local.set $a (i32.mul (local.get $p) (i32.const 3)))
    (local.set $b (i64.extend_i32_u (local.tee $e (i32.add (local.get $a) (i32.const 1)))))
    (local.set $c (f32.convert_i32_s (local.get $e)))
    (local.set $d (f64.promote_f32 (local.get $c)))
    (call $p32 (i32.const 0x03) (local.get $a))
    (call $p32 (i32.const 0x04) (local.get $e))
    (call $p32 (i32.const 0x05) (i32.reinterpret_f32 (local.get $c)))
    (call $p64 (i32.const 0x06) (i64.reinterpret_f64 (local.get $d)))
    ;; parameters are locals too
    (local.set $p (i32.const -1))
    (call $p32 (i32.const 0x07) (local.get $p))
    (i64.add (local.get $b) (i64.const 100)))

  (func (export "_start")
    (call $p64 (i32.const 0x08) (call $locals (i32.const 14)))
    (drop (call $bump))
    (drop (call $bump))
    (call $p32 (i32.const 0x09) (call $bump))
    (global.set $big (i64.rotl (global.get $big) (i64.const 8)))
    (call $p64 (i32.const 0x0a) (global.get $big))
    (global.set $fl (f32.mul (global.get $fl) (f32.const 4)))
    (call $p32 (i32.const 0x0b) (i32.reinterpret_f32 (global.get $fl)))
    (global.set $db (f64.mul (global.get $db) (global.get $db)))
    (call $p64 (i32.const 0x0c) (i64.reinterpret_f64 (global.get $db)))
    (call $p32 (i32.const 0x0d) (global.get $k))
    (call $p32 (i32.const 0x0e) (global.get $k2))
    (call $p32 (i32.const 0x0f) (global.get $ext)))
)
