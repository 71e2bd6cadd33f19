;; call_indirect to a function that sleeps, and to one that does not,
;; through the same table and type.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (memory 1)
  (type $op (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $sleepy $quick)
  (func $sleepy (type $op)
    local.get 0
    call $sleep
    i32.const 10
    i32.mul)
  (func $quick (type $op)
    local.get 0
    i32.const 7
    i32.add)
  ;; sum over i < n of t[i mod 2](i)
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $sum i32)
    block $done
      loop $l
        local.get $i
        local.get $n
        i32.ge_u
        br_if $done
        local.get $sum
        local.get $i
        local.get $i
        i32.const 1
        i32.and
        call_indirect (type $op)
        i32.add
        local.set $sum
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $l
      end
    end
    local.get $sum)
)
