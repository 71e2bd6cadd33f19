;; Unreachable code right next to calls that may unwind: after br,
;; br_table, return and unreachable the operand stack is polymorphic, and
;; the dead code holds calls (even ill-typed-looking sequences valid only
;; because of that). Live calls just before and after it must still unwind.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "sleep" (func $nap))
  (memory 1) ;; growable: wasm-opt --asyncify would add a fixed one

  (func $after_return (param $x i32) (result i32)
    local.get $x
    call $sleep
    return
    call $sleep                        ;; dead: takes an unknown operand
    i32.add                            ;; and adds it to another unknown
    call $nap
    drop)

  (func $after_br (param $x i32) (result i32)
    block $b (result i32)
      local.get $x
      call $sleep
      br $b
      call $sleep
      call $nap
      i32.add
      block (result f32)               ;; a dead block with a call inside
        call $nap
        unreachable
      end
      drop
    end
    call $sleep)

  (func $after_br_table (param $x i32) (result i32)
    block $two (result i32)
      block $one (result i32)
        local.get $x
        call $sleep
        local.get $x
        br_table $one $two
        call $nap
        loop (result i32)
          call $nap
          br 0
        end
      end
      i32.const 10
      i32.add
      call $sleep
    end)

  (func $after_unreachable (param $x i32) (result i32)
    local.get $x
    if (result i32)
      local.get $x
      call $sleep
    else
      unreachable
      call $sleep
      call $nap
      if (result i64)
        call $nap
        i64.const 1
      else
        call $nap
        i64.const 2
      end
      drop
    end
    call $sleep)

  (func (export "run") (param $x i32) (result i32 i32 i32 i32 i32)
    local.get $x
    call $after_return                 ;; x+1
    local.get $x
    call $after_br                     ;; x+2
    i32.const 0
    call $after_br_table               ;; 0+1+10+1 = 12
    local.get $x
    call $after_br_table               ;; x+1 (x >= 1)
    local.get $x
    call $after_unreachable)           ;; x+2 (x != 0)
)
