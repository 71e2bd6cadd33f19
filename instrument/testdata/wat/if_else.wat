;; if/else arms that carry values in and out, whose conditions come from
;; calls that may unwind, with values below the if at every level.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "log_i32" (func $log (param i32)))
  (global $side (export "side") (mut i32) (i32.const 0))

  (func $classify (param $x i32) (result i32)
    local.get $x
    i32.const 9
    i32.mul                            ;; 9x stays below the if
    local.get $x
    call $sleep
    i32.const 3
    i32.rem_u                          ;; (x+1) mod 3
    local.tee $x
    if (result i32)
      local.get $x
      i32.const 1
      i32.eq
      if (result i32)                  ;; (x+1) mod 3 == 1
        global.get $side
        i32.const 1
        i32.add
        global.set $side               ;; a side effect before the call
        local.get $x
        call $sleep                    ;; 2
        i32.const 100
        i32.add                        ;; 102
      else                             ;; == 2
        i32.const 200
        local.get $x
        call $sleep                    ;; 200, 3
        i32.add                        ;; 203
      end
    else                               ;; == 0: no call in this arm
      i32.const 300
    end
    i32.add)

  ;; An if without else whose parameter passes through unchanged when the
  ;; condition is false.
  (func $maybe (param $x i32) (result i32)
    local.get $x
    i32.const 1000
    i32.add
    local.get $x
    i32.const 1
    i32.and
    if (param i32) (result i32)
      call $sleep
      i32.const 2
      i32.mul
    end)

  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    loop $l
      local.get $acc
      local.get $i
      call $classify
      local.get $i
      call $maybe
      i32.add
      i32.add
      local.tee $acc
      call $log
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l
    end
    local.get $acc)
)
