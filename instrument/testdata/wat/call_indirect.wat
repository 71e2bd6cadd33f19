;; call_indirect through a table to functions of several types, some of
;; which sleep and some of which do not, with values below the calls.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "log_i32" (func $log (param i32)))
  (memory 1) ;; growable: wasm-opt --asyncify would add a fixed one
  (type $unary (func (param i32) (result i32)))
  (type $binary (func (param i32 i32) (result i32 i32)))
  (table $t 8 funcref)
  (elem (table $t) (i32.const 0) func $sleepy $pure $twice $swap $dispatch)

  (func $sleepy (type $unary) local.get 0 call $sleep i32.const 3 i32.mul)
  (func $pure (type $unary) local.get 0 i32.const 5 i32.add)
  ;; calls through the table again: f(f(x)) with f = t[x mod 2]
  (func $twice (type $unary)
    local.get 0
    local.get 0
    i32.const 1
    i32.and
    call_indirect $t (type $unary)
    local.get 0
    i32.const 1
    i32.and
    call_indirect $t (type $unary))
  (func $swap (type $binary)
    local.get 1
    call $sleep
    local.get 0)
  ;; dispatch(x) = t[x mod 3](x) * 2
  (func $dispatch (type $unary)
    i32.const 2
    local.get 0
    local.get 0
    i32.const 3
    i32.rem_u
    call_indirect $t (type $unary)
    i32.mul)

  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    loop $l
      local.get $acc
      local.get $i
      i32.const 4
      call_indirect $t (type $unary)   ;; dispatch(i)
      local.get $i
      i32.const 7
      i32.mul
      i32.const 3
      call_indirect $t (type $binary)  ;; swap(dispatch(i), 7i)
      i32.sub                          ;; (7i+1) - dispatch(i)
      i32.add
      local.tee $acc
      call $log
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l
    end
    local.get $acc)
)
