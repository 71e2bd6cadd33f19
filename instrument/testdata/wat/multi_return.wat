;; Functions with several results that unwind (while unwinding they must
;; return placeholders of the right types), called with values below them,
;; one of which returns with a branch from inside a block.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "sleep_i64" (func $sleep64 (param i64) (result i64)))
  (import "env" "sleep_f64" (func $sleepf (param f64) (result f64)))
  (memory 1) ;; growable: wasm-opt --asyncify would add a fixed one

  ;; (x+1, 2x+1, x+0.5), each from a sleep
  (func $three (param $x i32) (result i32 i64 f64)
    local.get $x
    call $sleep
    local.get $x
    i64.extend_i32_s
    i64.const 2
    i64.mul
    call $sleep64
    local.get $x
    f64.convert_i32_s
    call $sleepf)

  ;; x > 0: (x, x+1, x) by a branch out of the function from inside a
  ;; block; otherwise (0, 0, 7) from the block's end.
  (func $early (param $x i32) (result f64 i32 i64)
    block (result f64 i32 i64)
      local.get $x
      f64.convert_i32_s
      local.get $x
      call $sleep
      local.get $x
      i64.extend_i32_s
      local.get $x
      i32.const 0
      i32.gt_s
      br_if 1
      drop
      drop
      drop
      f64.const 0
      i32.const -1
      call $sleep
      i64.const 7
    end)

  (func (export "run") (param $x i32) (result i32 i64 f64 f64 i32 i64)
    (local $l i64) (local $f f64)
    local.get $x
    i32.const 10
    i32.mul                            ;; 10x stays below the call
    local.get $x
    call $three                        ;; 10x, x+1, 2x+1, x+0.5
    local.set $f
    local.set $l
    i32.add                            ;; 11x+1
    local.get $l
    local.get $f
    local.get $x
    call $early)
)
