;; Values a rewind pushes again while re-entering a structure must be
;; those the structure started with, not those the locals hold when the
;; call unwinds: here the condition's local and a block parameter's local
;; change inside the arm, before the call.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))

  (func $cond (param $x i32) (result i32)
    local.get $x
    if
      i32.const 0
      local.set $x
      i32.const 5
      call $sleep
      local.set $x
    end
    local.get $x)

  (func $param (param $x i32) (result i32)
    local.get $x
    block (param i32) (result i32)
      i32.const 7
      local.set $x
      local.get $x
      call $sleep
      i32.add
    end
    local.get $x
    i32.add)

  (func (export "run") (param $x i32) (result i32 i32)
    local.get $x
    call $cond
    local.get $x
    call $param))
