;; ifs whose arms may unwind and whose conditions are computed just before
;; them: the instrumenter turns them into blocks that a rewind enters from
;; inside. Arms with results, an else arm that branches out past the moved
;; frames (br_if and br_table), nested such ifs, and a condition that
;; writes a local.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))

  (func (export "run") (param $n i32) (result i32)
    (local $acc i32) (local $i i32) (local $t i32)
    block $out
      loop $again
        local.get $i
        i32.const 1
        i32.and
        i32.eqz
        if (result i32)
          local.get $i
          call $sleep                    ;; even i: i + 1
        else
          local.get $i
          i32.const 10
          i32.mul
          call $sleep                    ;; odd i: 10 i + 1
          local.get $i
          i32.const 7
          i32.eq
          br_if $out                     ;; leaves the loop at i = 7
          local.get $i
          i32.const 3
          i32.gt_u
          local.tee $t                   ;; a condition that writes a local
          if                             ;; nested, with a value below it
            local.get $acc
            i32.const 1000
            call $sleep                  ;; 1001
            i32.add
            local.set $acc
          end
        end
        local.get $acc
        i32.add
        local.set $acc
        local.get $i
        i32.const 2
        i32.rem_u
        if
          local.get $acc
          i32.const 3
          i32.mul
          call $sleep
          local.set $acc
          local.get $t
          br_table 0 0                   ;; to the end of this arm either way
        end
        local.get $i
        i32.const 1
        i32.add
        local.tee $i
        local.get $n
        i32.lt_u
        br_if $again
      end
    end
    local.get $acc
    local.get $i
    i32.const 100
    i32.mul
    i32.add))
