;; Factorial two ways, with a sleep in every step that multiplies: n-1
;; sleeps each. The recursive one unwinds through n-1 frames of itself.
(module
  (import "env" "sleep" (func $sleep))
  (memory 1)
  (func $fact (param $n i64) (result i64)
    local.get $n
    i64.const 1
    i64.le_u
    if
      i64.const 1
      return
    end
    call $sleep
    local.get $n
    local.get $n
    i64.const 1
    i64.sub
    call $fact
    i64.mul)

  (func $fact_loop (param $n i64) (result i64)
    (local $acc i64) (local $i i64)
    i64.const 1
    local.set $acc
    i64.const 2
    local.set $i
    block $done
      loop $l
        local.get $i
        local.get $n
        i64.gt_u
        br_if $done
        call $sleep
        local.get $acc
        local.get $i
        i64.mul
        local.set $acc
        local.get $i
        i64.const 1
        i64.add
        local.set $i
        br $l
      end
    end
    local.get $acc)

  (func (export "recursive") (param $n i64) (result i64)
    local.get $n
    call $fact)
  (func (export "loop") (param $n i64) (result i64)
    local.get $n
    call $fact_loop)
)
