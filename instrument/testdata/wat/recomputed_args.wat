;; Arguments a rewind computes again instead of spilling them: a function
;; of the module ignores its arguments when rewound (it restores its own
;; locals), so a rewind runs the code that computed them again, on what it
;; reads then. The callee here changes that before it sleeps: the divisor
;; becomes 0 and the pointer leaves memory. So a division or a load must
;; not run again (its value is spilled), while the sum of globals may (the
;; callee ignores what it gets).
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (memory 1)
  (global $d (mut i32) (i32.const 5))
  (global $p (mut i32) (i32.const 16))
  (func $spoil (param $x i32) (result i32)
    i32.const 0
    global.set $d
    i32.const -16
    global.set $p
    local.get $x
    call $sleep)                       ;; x+1
  (func $reset
    i32.const 5
    global.set $d
    i32.const 16
    global.set $p)
  (func (export "run") (param $n i32) (result i32 i32 i32)
    (i32.store (i32.const 16) (i32.const 70))
    i32.const 100
    global.get $d
    i32.div_s
    call $spoil                        ;; 100/5+1 = 21
    call $reset
    global.get $p
    i32.load
    call $spoil                        ;; 70+1 = 71
    call $reset
    global.get $d
    local.get $n
    i32.add
    i32.const 1
    i32.add
    call $spoil)                       ;; n=3: 5+3+1+1 = 10
)
