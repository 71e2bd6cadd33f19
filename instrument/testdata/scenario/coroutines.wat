;; Two coroutines: each export yields values through env.yield, where the
;; host switches to the other one. Each has its own unwind buffer.
(module
  (import "env" "yield" (func $yield (param i32)))
  (memory (export "memory") 1)

  ;; yields the first n Fibonacci numbers (n >= 1)
  (func (export "fib") (param $n i32)
    (local $a i32) (local $b i32) (local $t i32)
    i32.const 1
    local.set $b
    loop $l
      local.get $a
      call $yield
      local.get $a
      local.get $b
      i32.add
      local.set $t
      local.get $b
      local.set $a
      local.get $t
      local.set $b
      local.get $n
      i32.const 1
      i32.sub
      local.tee $n
      br_if $l
    end)

  ;; yields 1, 4, ..., n*n, one level of recursion deeper each time
  (func $sq (param $i i32) (param $n i32)
    local.get $i
    local.get $n
    i32.gt_u
    if
      return
    end
    local.get $i
    local.get $i
    i32.mul
    call $yield
    local.get $i
    i32.const 1
    i32.add
    local.get $n
    call $sq)
  (func (export "squares") (param $n i32)
    i32.const 1
    local.get $n
    call $sq)
)
