;; v128 values in locals, on the operand stack and as block parameters
;; across calls that may unwind.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $vg (mut v128) (v128.const i64x2 0 0))

  (func $scale (param $v v128) (param $k i32) (result v128)
    local.get $v
    local.get $k
    call $sleep
    i32x4.splat
    i32x4.mul)

  (func (export "run") (param $x i32) (result i64 i64 i64 i64 i64 i64)
    (local $v v128) (local $w v128)
    v128.const i32x4 1 2 3 4
    local.set $v
    local.get $x
    i32x4.splat
    local.get $v
    i32x4.add                          ;; computed v128 on the stack: x+1..x+4
    local.get $x
    call $sleep                        ;; below it: the v128
    i32x4.splat
    i32x4.mul                          ;; (x+k)(x+1)
    local.tee $w
    global.set $vg                     ;; a v128 global across the sleeps below
    v128.const i64x2 0x0102030405060708 0x1112131415161718
    local.get $v
    block (param v128 v128) (result v128)
      local.get $x
      call $scale                      ;; v*(x+1), the constant below
      v128.xor
    end
    local.get $w
    local.get $x
    call $scale                        ;; w*(x+1)
    local.set $w
    i32.const 16
    local.get $w
    v128.store
    local.tee $v
    i64x2.extract_lane 0
    local.get $v
    i64x2.extract_lane 1
    local.get $w
    i64x2.extract_lane 0
    local.get $w
    i64x2.extract_lane 1
    global.get $vg
    i64x2.extract_lane 0
    global.get $vg
    i64x2.extract_lane 1)
)
