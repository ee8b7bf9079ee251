;; multimemory.wat: two linear memories: loads and stores with an explicit
;; memory index, a data segment in memory 1, memory.copy in both directions
;; between the memories, memory.fill/size/grow on memory 1.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (memory $m1 1 4)
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
  (data (memory $m1) (i32.const 100) "\de\ad\be\ef\ca\fe\ba\be")

  (func (export "_start")
    (call $p32 (i32.const 0x01) (i32.load $m1 (i32.const 100)))
    (call $p64 (i32.const 0x02) (i64.load $m1 (i32.const 100)))
    ;; same address, different memories
    (i32.store (i32.const 200) (i32.const 0x00000111))
    (i32.store $m1 (i32.const 200) (i32.const 0x00000222))
    (call $p32 (i32.const 0x03) (i32.load (i32.const 200)))
    (call $p32 (i32.const 0x04) (i32.load $m1 (i32.const 200)))
    (i64.store16 $m1 offset=2 (i32.const 200) (i64.const 0x3333))
    (call $p32 (i32.const 0x05) (i32.load $m1 (i32.const 200)))
    (call $p32 (i32.const 0x06) (i32.load8_u $m1 offset=3 (i32.const 200)))
    ;; copy memory 1 -> memory 0 and memory 0 -> memory 1
    (memory.copy 0 $m1 (i32.const 300) (i32.const 100) (i32.const 8))
    (call $p64 (i32.const 0x07) (i64.load (i32.const 300)))
    (i64.store (i32.const 400) (i64.const 0x0706050403020100))
    (memory.copy $m1 0 (i32.const 104) (i32.const 400) (i32.const 4))
    (call $p64 (i32.const 0x08) (i64.load $m1 (i32.const 100)))
    ;; fill, size and grow on memory 1 only
    (memory.fill $m1 (i32.const 500) (i32.const 0x5e) (i32.const 8))
    (call $p64 (i32.const 0x09) (i64.load $m1 (i32.const 500)))
    (call $p32 (i32.const 0x0a) (memory.size $m1))
    (call $p32 (i32.const 0x0b) (memory.grow $m1 (i32.const 2)))
    (call $p32 (i32.const 0x0c) (memory.size $m1))
    (call $p32 (i32.const 0x0d) (memory.size))
    (call $p32 (i32.const 0x0e) (memory.grow $m1 (i32.const 2)))
    (i32.store $m1 (i32.const 0x2fff0) (i32.const 0x600d600d))
    (call $p32 (i32.const 0x0f) (i32.load $m1 (i32.const 0x2fff0))))
)
