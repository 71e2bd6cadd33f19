;; The smallest loop whose parameters carry values around it: the
;; accumulator and the counter go back to the header through br_if, and a
;; call that may unwind sits in the body. A rewind re-enters the loop from
;; outside, where the values pushed before it are those of the first
;; iteration, not of the one that unwound.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (memory 1)
  (func (export "run") (param $n i32) (result i32)
    (local $c i32)
    i32.const 0                        ;; accumulator
    local.get $n                       ;; counter
    loop $l (param i32 i32) (result i32)
      local.tee $c
      call $sleep                      ;; acc, c+1
      i32.add
      local.get $c
      i32.const 1
      i32.sub
      local.get $c
      i32.const 1
      i32.gt_s
      br_if $l
      drop
    end)                               ;; n=4: 5+4+3+2 = 14
)
