;; return_call and return_call_indirect to functions that unwind: a tail
;; recursive sum that sleeps every $period steps (it must run in constant
;; stack however deep it goes), the same through a table, and a tail call
;; straight into an import that unwinds.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (type $sum_t (func (param i32 i64) (result i64)))
  (table $t 2 funcref)
  (elem (table $t) (i32.const 0) func $sum_indirect $sum)
  (global $period (mut i32) (i32.const 1))
  (global $sleeps (export "sleeps") (mut i32) (i32.const 0))

  ;; sum(n, acc) = acc + n + (n-1) + ... + 1
  (func $sum (type $sum_t)
    local.get 0
    i32.eqz
    if
      local.get 1
      return
    end
    local.get 0
    global.get $period
    i32.rem_u
    i32.eqz
    if
      local.get 0
      call $sleep
      drop
      global.get $sleeps
      i32.const 1
      i32.add
      global.set $sleeps
    end
    local.get 0
    i32.const 1
    i32.sub
    local.get 1
    local.get 0
    i64.extend_i32_u
    i64.add
    return_call $sum)

  ;; the same, tail calling itself through the table
  (func $sum_indirect (type $sum_t)
    local.get 0
    i32.eqz
    if
      local.get 1
      return
    end
    local.get 0
    global.get $period
    i32.rem_u
    i32.eqz
    if
      local.get 0
      call $sleep
      drop
    end
    local.get 0
    i32.const 1
    i32.sub
    local.get 1
    local.get 0
    i64.extend_i32_u
    i64.add
    i32.const 0
    return_call_indirect $t (type $sum_t))

  (func $to_import (param $x i32) (result i32)
    local.get $x
    i32.const 2
    i32.mul
    return_call $sleep)

  (func (export "run") (param $n i32) (param $period i32) (result i64 i64 i32)
    local.get $period
    global.set $period
    local.get $n
    i64.const 0
    call $sum
    local.get $n
    i64.const 0
    i32.const 0
    call_indirect $t (type $sum_t)
    local.get $n
    call $to_import)
)
