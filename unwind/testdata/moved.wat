;; For unwind_test.go: run() changes its state (a mutable global, and a
;; funcref table slot through ref.func, which wazero makes a new object
;; for), pauses in env.pause, and afterwards returns g + table[0]() = 40 + 2.
(module
  (import "env" "pause" (func $pause))
  (memory 1)
  (type $answer (func (result i32)))
  (table 2 funcref)
  (global $g (mut i32) (i32.const 0))
  (elem declare func $two)
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (func (export "run") (result i32)
    i32.const 0
    ref.func $two
    table.set 0
    i32.const 40
    global.set $g
    call $pause
    global.get $g
    i32.const 0
    call_indirect (type $answer)
    i32.add))
