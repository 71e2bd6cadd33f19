;; For the option tests (options_test.go): each function has one reason to
;; be instrumented, and is named by its export. run(x) sleeps twice, both
;; times below caller and sleeper, and returns
;; caller(x) + caller(x+1) + looper(x) + recursive(x) + indirect(x, 0) + pure(x)
;; = (x+2) + (x+3) + x(x+1)/2 + x(x+1)/2 + 3x + 3x, which it also logs.
;; The table is exported, so the host may put anything in it: an indirect
;; call may reach any function (analysis_test.go covers closed modules).
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "log_i32" (func $log (param i32)))
  (memory 1)
  (type $unary (func (param i32) (result i32)))
  (table (export "table") 2 funcref)
  (elem (i32.const 0) func $pure $sleeper)

  ;; nothing that may unwind: 3x
  (func $pure (export "pure") (type $unary)
    local.get 0
    i32.const 3
    i32.mul)

  ;; calls an import: x+1
  (func $sleeper (export "sleeper") (type $unary)
    local.get 0
    call $sleep)

  ;; calls a function that calls an import: x+2
  (func $caller (export "caller") (param i32) (result i32)
    local.get 0
    call $sleeper
    i32.const 1
    i32.add)

  ;; calls the other import
  (func $logger (export "logger") (param i32)
    local.get 0
    call $log)

  ;; a loop and no call: 1 + 2 + ... + n
  (func $looper (export "looper") (param $n i32) (result i32) (local $s i32)
    block $done
      loop $next
        local.get $n
        i32.eqz
        br_if $done
        local.get $s
        local.get $n
        i32.add
        local.set $s
        local.get $n
        i32.const 1
        i32.sub
        local.set $n
        br $next
      end
    end
    local.get $s)

  ;; recursion and no loop: 1 + 2 + ... + n
  (func $recursive (export "recursive") (param $n i32) (result i32)
    local.get $n
    i32.eqz
    if (result i32)
      i32.const 0
    else
      local.get $n
      local.get $n
      i32.const 1
      i32.sub
      call $recursive
      i32.add
    end)

  ;; an indirect call
  (func $indirect (export "indirect") (param $x i32) (param $i i32) (result i32)
    local.get $x
    local.get $i
    call_indirect (type $unary))

  (func (export "run") (param $x i32) (result i32) (local $r i32)
    local.get $x
    call $caller
    local.get $x
    i32.const 1
    i32.add
    call $caller
    i32.add
    local.get $x
    call $looper
    i32.add
    local.get $x
    call $recursive
    i32.add
    local.get $x
    i32.const 0
    call $indirect
    i32.add
    local.get $x
    call $pure
    i32.add
    local.tee $r
    call $logger
    local.get $r))
