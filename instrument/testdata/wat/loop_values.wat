;; Loops with values live across calls that may unwind: an accumulator on
;; the stack below a loop, values below the calls inside nested loops,
;; loop results, and memory and global side effects between calls.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "sleep" (func $nap))
  (memory (export "memory") 1)
  (global $writes (export "writes") (mut i32) (i32.const 0))

  (func (export "run") (param $n i32) (result i32 i32)
    (local $i i32) (local $j i32) (local $sum i32)
    local.get $n
    i32.const 7
    i32.mul                            ;; 7n stays below both loops
    loop $outer (result i32)
      i32.const 0
      local.set $j
      local.get $i
      i32.const 3
      i32.shl                          ;; 8i stays below the inner loop
      loop $inner (result i32)
        ;; mem[4*(i*n+j)] = sleep(i*j)
        local.get $i
        local.get $n
        i32.mul
        local.get $j
        i32.add
        i32.const 2
        i32.shl                        ;; the address, below the call
        local.get $i
        local.get $j
        i32.mul
        call $sleep
        i32.store
        global.get $writes
        i32.const 1
        i32.add
        global.set $writes
        local.get $j
        i32.const 1
        i32.add
        local.tee $j
        local.get $n
        i32.lt_u
        br_if $inner
        local.get $j                   ;; the inner loop's result: n
      end
      i32.add                          ;; 8i + n
      local.get $sum
      i32.add
      local.set $sum
      call $nap
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $outer
      local.get $sum                   ;; the outer loop's result
    end
    i32.add                            ;; 7n + sum
    ;; Read the memory back: sum of mem[0 .. 4n*n).
    i32.const 0
    local.set $sum
    i32.const 0
    local.set $i
    block $done
      loop $read
        local.get $i
        local.get $n
        local.get $n
        i32.mul
        i32.ge_u
        br_if $done
        local.get $sum
        local.get $i
        i32.const 2
        i32.shl
        i32.load
        i32.add
        local.set $sum
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $read
      end
    end
    local.get $sum)
)
