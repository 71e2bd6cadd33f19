;; Ifs without else whose arm may unwind, with nothing on the stack under
;; their condition: their $end block opens where their arm starts (ifs.go),
;; around the code before them, which calls what may unwind and branches
;; out past it (br_if, br_table). Two in one arm, one inside another's arm,
;; at the function's top level, and in the cases of a dispatch loop, as Go
;; writes its bounds and nil checks.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (export "g") (mut i32) (i32.const 0))

  (func $checks (param $x i32) (result i32)
    (local $acc i32)
    local.get $x
    call $sleep
    local.set $acc
    local.get $acc
    i32.const 3
    i32.gt_u
    if
      local.get $acc
      call $sleep
      local.set $acc
      local.get $acc
      i32.const 1
      i32.and
      if                                 ;; inside the arm of the first
        i32.const 100
        call $sleep
        global.set $g
      end
    end
    block $out
      local.get $acc
      i32.const 20
      i32.gt_u
      br_if $out                         ;; out past the next if's $end
      local.get $acc
      i32.const 2
      i32.rem_u
      if
        local.get $acc
        i32.const 1000
        i32.add
        call $sleep
        local.set $acc
      end
    end
    local.get $acc)

  (func $machine (param $pc i32) (param $n i32) (result i32)
    (local $acc i32)
    loop $dispatch
      block $default
        block $case1
          block $case0
            local.get $pc
            br_table $case0 $case1 $default
          end
          ;; case 0: a nil check, a call, then case 0 again or case 1
          i32.const 0
          i32.load
          i32.eqz
          if
            i32.const 7
            call $sleep
            drop
          end
          local.get $acc
          local.get $n
          call $sleep
          i32.add
          local.set $acc
          local.get $n
          i32.const 1
          i32.sub
          local.tee $n
          i32.eqz
          if
            i32.const 1
            local.set $pc
            br $dispatch
          end
          i32.const 0
          local.set $pc
          br $dispatch
        end
        ;; case 1: a br_table, then a bounds check
        block $a
          block $b
            local.get $acc
            i32.const 3
            i32.and
            br_table $a $b $a
          end
          global.get $g
          i32.const 1
          i32.add
          global.set $g
        end
        local.get $acc
        i32.const 50
        i32.lt_u
        if
          local.get $acc
          call $sleep
          local.set $acc
          i32.const 1
          local.set $pc
          br $dispatch
        end
        local.get $acc
        return
      end
      i32.const -1
      return
    end
    unreachable)

  (func (export "run") (param $n i32) (result i32 i32)
    local.get $n
    call $checks
    i32.const 0
    local.get $n
    call $machine))
