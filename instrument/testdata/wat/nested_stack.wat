;; Values of every number type left on the operand stack across calls that
;; may unwind, at several enclosing block levels at once. The values below
;; the calls are computed (not plain local.get or constants, which a
;; rewind can simply push again), so they must be saved.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "sleep_f64" (func $sleepf (param f64) (result f64)))
  (import "env" "sleep" (func $nap))
  (global $g (mut i32) (i32.const 40))

  (func (export "run") (param $x i32) (result i64)
    local.get $x
    i64.extend_i32_u
    i64.const 1000
    i64.mul                            ;; level 0: i64 x*1000
    block (result f64)
      local.get $x
      f32.convert_i32_u
      f32.const 1.5
      f32.mul                          ;; level 1: f32 x*1.5
      block (result i32)
        local.get $x
        call $sleep                    ;; level 2: x+1
        local.get $x
        i32.const 2
        i32.add
        call $sleep                    ;; x+1, x+3
        i32.mul                        ;; (x+1)(x+3)
        block (result i32)
          global.get $g                ;; level 3: 40, read before the call
          i32.const 1
          global.set $g                ;; changed before the call: the
          call $nap                    ;; value below must stay 40
          global.get $g
          i32.add                      ;; 41
        end
        i32.add                        ;; (x+1)(x+3)+41
      end
      f32.convert_i32_s
      f32.add                          ;; 1.5x + (x+1)(x+3) + 41
      f64.promote_f32
      call $sleepf                     ;; + 0.5
    end
    i64.trunc_f64_s
    i64.add)                           ;; x=3: 3000 + 4.5+24+41+0.5 = 3070

  ;; The same shape, with the calls at the very start of each block, so
  ;; that the value below is the block's own entry value.
  (func (export "run2") (param $x i32) (result i32)
    local.get $x
    i32.const 3
    i32.mul                            ;; 3x
    block (param i32) (result i32)
      local.get $x
      call $sleep
      block (param i32) (result i32)
        call $sleep                    ;; 3x | x+2
        local.get $x
        i32.const 5
        i32.mul                        ;; 3x | x+2, 5x
        block (param i32 i32) (result i32)
          call $sleep                  ;; 3x | x+2, 5x+1
          i32.mul
        end
      end
      i32.sub                          ;; 3x - (x+2)(5x+1)
    end)
)
