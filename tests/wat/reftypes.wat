;; reftypes.wat: reference types: funcref and externref tables, table.get/set/
;; grow/fill/size/copy/init, elem.drop, ref.null/ref.is_null/ref.func, typed
;; select on references, and call_indirect through two different tables.
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
  (type $ret (func (result i32)))
  (table $t1 4 funcref)
  (table $t2 2 10 funcref)
  (table $ext 3 externref)
  (elem (table $t1) (i32.const 0) func $one $two)
  (elem $later funcref (ref.func $three) (ref.null func) (ref.func $four))
  (elem declare func $four)

  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func $three (result i32) (i32.const 3))
  (func $four (result i32) (i32.const 4))

  (func $call1 (param $i i32) (result i32) (call_indirect $t1 (type $ret) (local.get $i)))
  (func $call2 (param $i i32) (result i32) (call_indirect $t2 (type $ret) (local.get $i)))

  (func $is_null_ext (param $r externref) (result i32) (ref.is_null (local.get $r)))

  (func (export "_start")
    (local $f funcref)
    (call $p32 (i32.const 0x01) (call $call1 (i32.const 0)))
    (call $p32 (i32.const 0x02) (call $call1 (i32.const 1)))
    ;; table.set / table.get / ref.func
    (table.set $t2 (i32.const 0) (ref.func $four))
    (table.set $t2 (i32.const 1) (table.get $t1 (i32.const 1)))
    (call $p32 (i32.const 0x03) (call $call2 (i32.const 0)))
    (call $p32 (i32.const 0x04) (call $call2 (i32.const 1)))
    (call $p32 (i32.const 0x05) (ref.is_null (table.get $t1 (i32.const 3))))
    (call $p32 (i32.const 0x06) (ref.is_null (table.get $t1 (i32.const 0))))
    ;; table.size / table.grow (with an init value) / grow failure past max
    (call $p32 (i32.const 0x07) (table.size $t2))
    (call $p32 (i32.const 0x08) (table.grow $t2 (ref.func $one) (i32.const 3)))
    (call $p32 (i32.const 0x09) (table.size $t2))
    (call $p32 (i32.const 0x0a) (call $call2 (i32.const 4)))
    (call $p32 (i32.const 0x0b) (table.grow $t2 (ref.null func) (i32.const 100)))
    ;; table.fill then table.init from a passive segment, elem.drop
    (table.fill $t2 (i32.const 0) (ref.func $two) (i32.const 5))
    (call $p32 (i32.const 0x0c) (call $call2 (i32.const 3)))
    (table.init $t2 $later (i32.const 1) (i32.const 0) (i32.const 3))
    (call $p32 (i32.const 0x0d) (call $call2 (i32.const 1)))
    (call $p32 (i32.const 0x0e) (ref.is_null (table.get $t2 (i32.const 2))))
    (call $p32 (i32.const 0x0f) (call $call2 (i32.const 3)))
    (elem.drop $later)
    ;; table.copy between tables
    (table.copy $t1 $t2 (i32.const 2) (i32.const 3) (i32.const 2))
    (call $p32 (i32.const 0x10) (call $call1 (i32.const 2)))
    (call $p32 (i32.const 0x11) (call $call1 (i32.const 3)))
    ;; externref table: null entries, grow, fill
    (call $p32 (i32.const 0x12) (table.size $ext))
    (call $p32 (i32.const 0x13) (call $is_null_ext (table.get $ext (i32.const 2))))
    (call $p32 (i32.const 0x14) (table.grow $ext (ref.null extern) (i32.const 2)))
    (table.fill $ext (i32.const 0) (ref.null extern) (i32.const 5))
    (call $p32 (i32.const 0x15) (table.size $ext))
    ;; funcref local, typed select on references
    (local.set $f (select (result funcref) (ref.func $three) (ref.null func) (i32.const 1)))
    (call $p32 (i32.const 0x16) (ref.is_null (local.get $f)))
    (table.set $t1 (i32.const 3) (local.get $f))
    (call $p32 (i32.const 0x17) (call $call1 (i32.const 3)))
    (call $p32 (i32.const 0x18) (ref.is_null (ref.null func))))
)
