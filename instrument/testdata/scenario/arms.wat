;; Sleeps in the then arm and in the else arm of an if.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (memory 1)
  (func $f (param $x i32) (result i32)
    local.get $x
    i32.const 1
    i32.and
    if (result i32)
      local.get $x
      call $sleep                      ;; odd: x+1
      i32.const 100
      i32.mul
    else
      local.get $x
      i32.const 2
      i32.div_u
      call $sleep                      ;; even: x/2+1
    end)
  (func (export "run") (result i32)
    i32.const 3
    call $f                            ;; 400
    i32.const 8
    call $f                            ;; 5
    i32.add)
)
