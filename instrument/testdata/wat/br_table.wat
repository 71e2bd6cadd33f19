;; br_table and br_if carrying values to labels with results, where the
;; values carried come from calls that may unwind and other values sit
;; below them at several levels.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "sleep_i64" (func $sleep64 (param i64) (result i64)))
  (import "env" "log_i32" (func $log (param i32)))
  (memory 1) ;; growable: wasm-opt --asyncify would add a fixed one

  ;; One step: v = i+1 and k = (i+1) mod 4 both come from sleeps; br_table
  ;; carries v to one of four labels, each of which treats it differently.
  (func $step (param $i i32) (result i32)
    i32.const 7                        ;; stays below everything
    block $out (result i32)
      block $two (result i32)
        block $one (result i32)
          block $zero (result i32)
            local.get $i
            call $sleep                ;; v
            local.get $i
            call $sleep                ;; v, i+1 (the first result is below)
            i32.const 4
            i32.rem_u
            br_table $zero $one $two $out
          end
          i32.const 10                 ;; $zero: v*10, then sleep
          i32.mul
          call $sleep
          br $out
        end
        i32.const 100                  ;; $one: v*100
        i32.mul
        br $out
      end
      call $sleep                      ;; $two: sleep(v)*1000
      i32.const 1000
      i32.mul
    end
    i32.mul)                           ;; 7 * value

  ;; A label with two results reached by br_table and by br_if.
  (func $pair (param $i i32) (result i32 i64)
    block $a (result i32 i64)
      block $b (result i32 i64)
        local.get $i
        call $sleep                    ;; i+1
        local.get $i
        i64.extend_i32_u
        call $sleep64                  ;; i+1, i+1
        local.get $i
        call $sleep
        i32.const 1
        i32.and                        ;; (i+1)&1
        br_if $a                       ;; i even: leave with (i+1, i+1)
        local.get $i
        br_table $b $a $b              ;; i odd: to $b if i=1 or i>2... (i=1 -> $a)
      end
      i64.const 1000
      i64.add                          ;; $b adds 1000 to the i64
    end)

  (func (export "run") (param $n i32) (result i32 i64)
    (local $i i32) (local $acc i32) (local $acc64 i64)
    loop $next
      local.get $acc
      local.get $i
      call $step
      i32.add
      local.set $acc
      local.get $i
      call $pair
      local.get $acc64
      i64.add
      local.set $acc64
      local.get $acc
      i32.add
      local.set $acc
      local.get $acc
      call $log
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $next
    end
    local.get $acc
    local.get $acc64)
)
