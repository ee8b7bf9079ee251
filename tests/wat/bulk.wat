;; bulk.wat: bulk memory operations: memory.fill, memory.copy (overlapping
;; both ways), memory.init from a passive data segment, data.drop, and the
;; trap-free zero-length init after the drop.
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
  (data $passive "0123456789abcdef")
  (data $active (i32.const 1024) "\01\02\03\04\05\06\07\08")

  (func $show (param $id i32) (param $at i32)
    (call $p64 (local.get $id) (i64.load (local.get $at)))
    (call $p64 (i32.add (local.get $id) (i32.const 1)) (i64.load offset=8 (local.get $at))))

  (func (export "_start")
    (memory.fill (i32.const 2048) (i32.const 0xab) (i32.const 16))
    (call $show (i32.const 0x01) (i32.const 2048))
    (memory.fill (i32.const 2052) (i32.const 0x100) (i32.const 3))
    (call $show (i32.const 0x03) (i32.const 2048))
    ;; init 10 bytes of the passive segment starting at byte 3
    (memory.init $passive (i32.const 2048) (i32.const 3) (i32.const 10))
    (call $show (i32.const 0x05) (i32.const 2048))
    ;; non-overlapping copy of the active segment
    (memory.copy (i32.const 4096) (i32.const 1024) (i32.const 8))
    (call $show (i32.const 0x07) (i32.const 4096))
    ;; overlapping copy forwards (dst > src) and backwards (dst < src)
    (memory.copy (i32.const 4098) (i32.const 4096) (i32.const 6))
    (call $show (i32.const 0x09) (i32.const 4096))
    (memory.copy (i32.const 4096) (i32.const 4099) (i32.const 5))
    (call $show (i32.const 0x0b) (i32.const 4096))
    (data.drop $passive)
    ;; zero-length init of a dropped segment is allowed
    (memory.init $passive (i32.const 0) (i32.const 0) (i32.const 0))
    (call $p32 (i32.const 0x0d) (i32.load (i32.const 2048))))
)
