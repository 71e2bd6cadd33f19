;; A function that ends in a trap ($fail: it reports, here by sleeping as
;; printing would, then traps) is not instrumented, and calls to it are not
;; unwind points: a pause asked for while it runs is declined ("not now")
;; and the program traps. $check, which calls nothing else, stays as it is.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (memory 1)
  (func $fail (param i32)
    local.get 0
    call $sleep
    drop
    unreachable)
  ;; check(x) = 2x, or the trap for x > 3
  (func $check (param i32) (result i32)
    local.get 0
    i32.const 3
    i32.gt_u
    if
      local.get 0
      call $fail
    end
    local.get 0
    i32.const 2
    i32.mul)
  ;; run(n) = sum of check(sleep(i)) for i < n, plus check(n)
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    loop $l
      local.get $acc
      local.get $i
      call $sleep
      call $check
      i32.add
      local.set $acc
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l
    end
    local.get $acc
    local.get $n
    call $check
    i32.add))
