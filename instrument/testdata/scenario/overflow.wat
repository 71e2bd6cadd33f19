;; A recursion that sleeps at its bottom, with two i64 locals live across
;; every call: unwinding saves about 24 bytes per level. run(n) = 6n.
;; The test makes a variant whose memory cannot grow.
(module
  (import "env" "sleep" (func $sleep))
  (memory 1)
  (func $rec (param $n i32) (param $a i64) (param $b i64) (param $c i64) (result i64)
    local.get $n
    i32.eqz
    if
      call $sleep
      local.get $a
      return
    end
    local.get $n
    i32.const 1
    i32.sub
    local.get $a
    i64.const 1
    i64.add
    local.get $b
    local.get $c
    call $rec
    local.get $b
    i64.add
    local.get $c
    i64.add)
  (func (export "run") (param $n i32) (result i64)
    local.get $n
    i64.const 0
    i64.const 2
    i64.const 3
    call $rec)
)
