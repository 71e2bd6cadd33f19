;; A loop that starts each iteration with a br_table on a local, and whose
;; every jump back sets that local to a constant: Go compiles every
;; function this way, and the rewrite lets the br_table dispatch rewinds
;; too (dispatch.go). The index doubles as a temporary for an indirect
;; call, as in Go's code, so a rewind must give it back; and the function
;; is entered with indices out of the table's range, the rewind's own
;; among them, which must still reach the default.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $double $sleepy)
  (func $double (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
  (func $sleepy (param i32) (result i32) local.get 0 call $sleep)

  (func $machine (param $pc i32) (param $n i32) (result i32)
    (local $acc i32)
    loop $dispatch
      block $default
        block $case2
          block $case1
            block $case0
              local.get $pc
              br_table $case0 $case1 $case2 $default
            end
            ;; case 0: acc += sleep(n), then case 1
            local.get $acc
            local.get $n
            call $sleep
            i32.add
            local.set $acc
            i32.const 1
            local.set $pc
            br $dispatch
          end
          ;; case 1: acc = table[n & 1](acc), through $pc; then case 0
          ;; while n > 0, else case 2
          local.get $n
          i32.const 1
          i32.and
          local.set $pc
          local.get $acc
          local.get $pc
          call_indirect (type $t)
          local.set $acc
          local.get $n
          i32.const 1
          i32.sub
          local.tee $n
          if
            i32.const 0
            local.set $pc
            br $dispatch
          end
          i32.const 2
          local.set $pc
          br $dispatch
        end
        ;; case 2
        local.get $acc
        local.get $acc
        call $sleep
        i32.add
        return
      end
      i32.const -1
      return
    end
    unreachable)

  (func (export "run") (param $n i32) (result i32 i32 i32)
    i32.const 0
    local.get $n
    call $machine
    i32.const 77
    local.get $n
    call $machine
    i32.const 3                        ;; the index the rewind uses
    local.get $n
    call $machine))
