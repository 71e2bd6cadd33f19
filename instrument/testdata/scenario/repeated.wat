;; Sleeps again and again: each round bumps a counter in memory and a
;; global between two sleeps.
(module
  (import "env" "sleep" (func $sleep))
  (memory (export "memory") 1)
  (global $rounds (export "rounds") (mut i32) (i32.const 0))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32)
    loop $l
      call $sleep
      i32.const 64
      i32.const 64
      i32.load
      i32.const 3
      i32.add
      i32.store
      call $sleep
      global.get $rounds
      i32.const 1
      i32.add
      global.set $rounds
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l
    end
    i32.const 64
    i32.load)
)
