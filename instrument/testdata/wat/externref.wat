;; externref locals, externref values on the operand stack, in a table and
;; in a global across calls that may unwind. The host passes a reference in
;; and checks that the same reference comes back out of each place.
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (import "env" "sleep_ref" (func $sleepref (param externref) (result externref)))
  (import "env" "log_ref" (func $logref (param externref)))
  (table $keep 2 externref)
  (global $eg (mut externref) (ref.null extern))

  (func (export "run") (param $r externref) (param $x i32) (result externref externref externref externref externref i32)
    (local $s externref) (local $null externref)
    local.get $r
    local.set $s
    i32.const 1
    local.get $r
    table.set $keep                    ;; kept in a table across the sleeps
    local.get $r
    global.set $eg                     ;; and in a global
    local.get $r
    ref.null extern
    local.get $x
    call $sleep
    select (result externref)          ;; a computed externref (r) below the call
    local.get $x
    call $sleep
    drop
    local.get $s
    call $sleepref                     ;; r, through the host
    local.get $s
    call $logref
    local.get $s
    local.get $x
    call $sleep
    drop
    i32.const 1
    table.get $keep
    global.get $eg
    local.get $null
    ref.is_null)                       ;; (r, r, r, r, r, 1)
)
