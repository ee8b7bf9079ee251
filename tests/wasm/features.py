"""Small WAT modules, one per proposal the decoder must understand.

They complement tests/wat (which must *run*): these only need to assemble,
so they can use proposals wasmtime cannot execute by default (legacy
exceptions) and instructions with nondeterministic results (relaxed SIMD).
"""

FEATURES: dict[str, str] = {
    "gc": """(module
  (type $pt (struct (field $x (mut i32)) (field $y i64)))
  (type $arr (array (mut i8)))
  (rec (type $base (sub (struct (field i32)))) (type $node (struct (field (ref null $node)))))
  (type $sub (sub $base (struct (field i32) (field i32))))
  (data $d "hello")
  (elem $e funcref (ref.func $f))
  (func $f (param anyref) (result i32)
    (local $p (ref null $pt)) (local $a (ref null $arr))
    (local.set $p (struct.new $pt (i32.const 1) (i64.const 2)))
    (struct.set $pt $x (local.get $p) (i32.const 5))
    (drop (struct.get $pt $y (local.get $p)))
    (drop (struct.new_default $pt))
    (local.set $a (array.new $arr (i32.const 7) (i32.const 3)))
    (drop (array.new_default $arr (i32.const 3)))
    (drop (array.new_fixed $arr 2 (i32.const 1) (i32.const 2)))
    (drop (array.new_data $arr $d (i32.const 0) (i32.const 2)))
    (array.set $arr (local.get $a) (i32.const 0) (i32.const 9))
    (drop (array.get_s $arr (local.get $a) (i32.const 0)))
    (drop (array.get_u $arr (local.get $a) (i32.const 0)))
    (drop (array.len (local.get $a)))
    (array.fill $arr (local.get $a) (i32.const 0) (i32.const 1) (i32.const 1))
    (array.copy $arr $arr (local.get $a) (i32.const 0) (local.get $a) (i32.const 1) (i32.const 1))
    (array.init_data $arr $d (local.get $a) (i32.const 0) (i32.const 0) (i32.const 1))
    (drop (ref.test (ref $pt) (local.get 0)))
    (drop (ref.test (ref null $pt) (local.get 0)))
    (drop (ref.cast (ref null $pt) (local.get 0)))
    (drop (ref.cast (ref i31) (ref.i31 (i32.const 3))))
    (drop (i31.get_s (ref.i31 (i32.const -1))))
    (drop (i31.get_u (ref.i31 (i32.const -1))))
    (drop (block $l (result anyref) (br_on_cast $l anyref (ref $pt) (local.get 0)) (drop) (ref.null any)))
    (drop (block $l (result anyref) (br_on_cast_fail $l anyref (ref null $pt) (local.get 0)) (drop) (ref.null any)))
    (drop (extern.convert_any (local.get 0)))
    (drop (any.convert_extern (ref.null extern)))
    (drop (ref.eq (ref.null eq) (ref.null eq)))
    (i32.const 0)))""",
    "funcref": """(module
  (type $t (func (param i32) (result i32)))
  (func $g (type $t) (local.get 0))
  (elem declare func $g)
  (func (param $r (ref null $t)) (result i32)
    (drop (call_ref $t (i32.const 1) (ref.func $g)))
    (drop (block $l (result (ref $t)) (br_on_non_null $l (local.get $r)) (unreachable)))
    (block $n (br_on_null $n (local.get $r)) (drop))
    (drop (ref.as_non_null (local.get $r)))
    (return_call_ref $t (i32.const 2) (local.get $r))))""",
    "atomics": """(module
  (memory 1 1 shared)
  (func (result i32)
    (drop (i32.atomic.load (i32.const 0)))
    (drop (i64.atomic.load16_u offset=8 (i32.const 0)))
    (i32.atomic.store8 (i32.const 0) (i32.const 1))
    (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
    (drop (i64.atomic.rmw32.cmpxchg_u (i32.const 0) (i64.const 1) (i64.const 2)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
    (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0)))
    (atomic.fence)
    (i32.const 0)))""",
    "legacy_exceptions": """(module
  (tag $e (param i32))
  (func (result i32)
    try (result i32)
      i32.const 1
      throw $e
    catch $e
    catch_all
      i32.const 2
    end)
  (func
    try
      try
        nop
      delegate 0
    catch_all
    end
    try
      nop
    catch $e
      drop
      rethrow 0
    end))""",
    "relaxed_simd": """(module
  (func (param v128 v128 v128) (result v128)
    (drop (i8x16.relaxed_swizzle (local.get 0) (local.get 1)))
    (drop (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2)))
    (drop (i32x4.relaxed_trunc_f32x4_s (local.get 0)))
    (drop (i16x8.relaxed_dot_i8x16_i7x16_s (local.get 0) (local.get 1)))
    (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get 0) (local.get 1) (local.get 2))))""",
    "memory64": """(module
  (memory $m i64 1)
  (memory $n 1)
  (func (result i64)
    (drop (i32.load offset=0x100000000 (i64.const 0)))
    (i64.store $m offset=0xffffffffffff (i64.const 8) (i64.const 1))
    (drop (i32.load $n offset=4 (i32.const 0)))
    (drop (memory.grow $m (i64.const 1)))
    (memory.copy $n $m (i32.const 0) (i64.const 0) (i32.const 1))
    (memory.size $m)))""",
    "wide_arithmetic": """(module
  (func (param i64 i64) (result i64 i64)
    (i64.add128 (local.get 0) (local.get 1) (local.get 1) (local.get 0))
    (drop) (drop)
    (i64.mul_wide_s (local.get 0) (local.get 1))
    (drop) (drop)
    (i64.mul_wide_u (local.get 0) (local.get 1))))""",
    "exceptions_exnref": """(module
  (tag $t (param i32 i64))
  (func (param exnref) (result i32)
    (block $a (result i32 i64)
      (block $b (result i32 i64 exnref)
        (block $c
          (block $d (result exnref)
            (try_table (catch $t $a) (catch_ref $t $b) (catch_all $c) (catch_all_ref $d)
              (throw $t (i32.const 1) (i64.const 2)))
            (unreachable))
          (throw_ref))
        (return (i32.const 0)))
      (unreachable))
    (drop)))""",
}
