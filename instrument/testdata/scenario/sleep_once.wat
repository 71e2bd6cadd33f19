;; The smallest program that pauses: one sleep, then a constant result.
(module
  (import "env" "sleep" (func $sleep))
  (memory 1)
  (func (export "run") (result i32)
    call $sleep
    i32.const 42)
)
