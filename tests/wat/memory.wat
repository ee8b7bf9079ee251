;; memory.wat: every MVP load and store width (signed/unsigned), offsets and
;; alignment hints, memory.size and memory.grow (success and failure), and an
;; active data segment.
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
  (data (i32.const 256) "\f0\e1\d2\c3\b4\a5\96\87\78\69\5a\4b\3c\2d\1e\0f")

  (func $loads (param $base i32)
    (call $p32 (i32.const 0x01) (i32.load (local.get $base)))
    (call $p32 (i32.const 0x02) (i32.load8_s (local.get $base)))
    (call $p32 (i32.const 0x03) (i32.load8_u (local.get $base)))
    (call $p32 (i32.const 0x04) (i32.load16_s (local.get $base)))
    (call $p32 (i32.const 0x05) (i32.load16_u (local.get $base)))
    (call $p64 (i32.const 0x06) (i64.load (local.get $base)))
    (call $p64 (i32.const 0x07) (i64.load8_s (local.get $base)))
    (call $p64 (i32.const 0x08) (i64.load8_u (local.get $base)))
    (call $p64 (i32.const 0x09) (i64.load16_s (local.get $base)))
    (call $p64 (i32.const 0x0a) (i64.load16_u (local.get $base)))
    (call $p64 (i32.const 0x0b) (i64.load32_s (local.get $base)))
    (call $p64 (i32.const 0x0c) (i64.load32_u (local.get $base)))
    (call $p32 (i32.const 0x0d) (i32.reinterpret_f32 (f32.load offset=4 (local.get $base))))
    (call $p64 (i32.const 0x0e) (i64.reinterpret_f64 (f64.load offset=8 align=4 (local.get $base))))
    (call $p32 (i32.const 0x0f) (i32.load offset=3 align=1 (local.get $base))))

  (func $stores (param $at i32)
    (i64.store (local.get $at) (i64.const 0))
    (i64.store offset=8 (local.get $at) (i64.const 0))
    (i32.store8 (local.get $at) (i32.const 0x1ab))
    (i32.store16 offset=2 (local.get $at) (i32.const 0x12345))
    (i32.store offset=4 (local.get $at) (i32.const 0xdeadbeef))
    (call $p64 (i32.const 0x10) (i64.load (local.get $at)))
    (i64.store8 (local.get $at) (i64.const 0x77))
    (i64.store16 offset=1 align=1 (local.get $at) (i64.const 0x6655))
    (i64.store32 offset=3 align=1 (local.get $at) (i64.const 0x44332211))
    (call $p64 (i32.const 0x11) (i64.load (local.get $at)))
    (i64.store offset=8 (local.get $at) (i64.const -2))
    (call $p64 (i32.const 0x12) (i64.load offset=8 (local.get $at)))
    (f32.store (local.get $at) (f32.const -1.25))
    (f64.store offset=8 (local.get $at) (f64.const 1e100))
    (call $p32 (i32.const 0x13) (i32.load (local.get $at)))
    (call $p64 (i32.const 0x14) (i64.load offset=8 (local.get $at))))

  (func (export "_start")
    (call $loads (i32.const 256))
    (call $stores (i32.const 512))
    (call $p32 (i32.const 0x20) (memory.size))
    (call $p32 (i32.const 0x21) (memory.grow (i32.const 2)))
    (call $p32 (i32.const 0x22) (memory.size))
    ;; the new pages are zeroed and writable
    (i32.store (i32.const 0x2fffc) (i32.const 0x55aa55aa))
    (call $p32 (i32.const 0x23) (i32.load (i32.const 0x2fffc)))
    (call $p32 (i32.const 0x24) (i32.load (i32.const 0x20000)))
    ;; growing past 4 GiB fails with -1
    (call $p32 (i32.const 0x25) (memory.grow (i32.const 0x10000)))
    (call $p32 (i32.const 0x26) (memory.grow (i32.const 0)))
    (call $p32 (i32.const 0x27) (memory.size)))
)
