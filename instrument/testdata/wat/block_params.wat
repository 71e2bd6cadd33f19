;; Blocks, loops and ifs with parameters (multi-value). Their parameter
;; values sit on the operand stack, below the arguments of calls that may
;; unwind, where only a stack-machine rewrite sees them.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "sleep_i64" (func $sleep64 (param i64) (result i64)))
  (import "env" "log_i32" (func $log (param i32)))
  (global $iterations (export "iterations") (mut i32) (i32.const 0))

  (func (export "run") (param $n i32) (result i64 i32 i32 i64)
    (local $c i32) (local $t i64)

    ;; A block with two parameters: the i64 stays below the call's argument.
    i64.const 7000000000
    i32.const 5
    block (param i64 i32) (result i64)
      call $sleep                      ;; 7000000000, 6
      i64.extend_i32_u
      i64.add                          ;; 7000000006
    end

    ;; A loop whose parameters (accumulator, counter) go around through
    ;; br_if; the accumulator is below the call's argument.
    i32.const 0
    local.get $n
    loop $l (param i32 i32) (result i32)
      local.tee $c
      call $sleep                      ;; acc, c+1
      i32.add
      global.get $iterations
      i32.const 1
      i32.add
      global.set $iterations
      local.get $c
      i32.const 1
      i32.sub
      local.get $c
      i32.const 1
      i32.gt_s
      br_if $l
      drop
    end                                ;; n=4: 5+4+3+2 = 14
    local.tee $c
    call $log
    local.get $c

    ;; An if with two parameters and two results, whose condition comes
    ;; from a call that may unwind; both arms call again.
    i32.const 100
    i32.const 3
    local.get $n
    call $sleep                        ;; 100, 3, n+1
    i32.const 1
    i32.and
    if (param i32 i32) (result i32 i32)
      call $sleep                      ;; 100, 4
      i32.const 10
      i32.mul                          ;; 100, 40
    else
      call $sleep
      i32.const 1000
      i32.mul
    end
    i32.add                            ;; n even: 140

    ;; Nested blocks with parameters: the outer block's first parameter is
    ;; used only after the inner block, which may unwind.
    i64.const 1
    local.get $c                       ;; 14
    i64.const 30
    block (param i64 i32 i64) (result i64)
      block (param i32 i64) (result i64)
        call $sleep64                  ;; 1 | 14, 31
        local.set $t
        i64.extend_i32_u
        local.get $t
        i64.mul                        ;; 434
      end
      i64.sub                          ;; 1 - 434 = -433
    end)
)
