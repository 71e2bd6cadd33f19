;; funcref locals (set and null), funcref values on the operand stack, in
;; a table and in a global across calls that may unwind; afterwards they go
;; into a table and are called, which shows which function each one still
;; is. (The references come from table.get: wabt 1.0.32 with --enable-all
;; types ref.func as a typed reference that it then refuses to store in a
;; funcref local.)
(module
  (import "env" "sleep_i32" (func $sleep (param i32) (result i32)))
  (type $r (func (result i32)))
  (table $src 3 funcref)
  (table $t 5 funcref)
  (global $fg (mut funcref) (ref.null func))
  (func $a (result i32) i32.const 11)
  (func $b (result i32) i32.const 22)
  (func $c (result i32) i32.const 33)
  (elem (table $src) (i32.const 0) func $a $b $c)

  (func (export "run") (param $x i32) (result i32)
    (local $f funcref) (local $g funcref) (local $null funcref)
    i32.const 0
    table.get $src
    local.set $f                       ;; $a
    local.get $x
    call $sleep                        ;; x+1
    i32.const 1
    i32.and
    if (result funcref)                ;; x even: $b, else $c
      i32.const 1
      table.get $src
    else
      i32.const 2
      table.get $src
    end
    local.set $g
    i32.const 3
    local.get $g
    table.set $t                       ;; kept in a table across the sleeps
    local.get $g
    global.set $fg                     ;; and in a global
    local.get $f
    local.get $g
    local.get $x
    call $sleep
    i32.const 2
    i32.and
    select (result funcref)            ;; a computed funcref below the call
    local.get $x
    call $sleep
    drop
    local.set $f                       ;; (x+1)&2 ? $a : g
    i32.const 0
    local.get $f
    table.set $t
    i32.const 1
    local.get $g
    table.set $t
    i32.const 2
    local.get $null
    table.set $t
    i32.const 4
    global.get $fg
    table.set $t
    ;; 100*t[0]() + t[1]() + 10000*t[3]() + 1000000*t[4]() + 1000 * (t[2] is null)
    i32.const 0
    call_indirect $t (type $r)
    i32.const 100
    i32.mul
    i32.const 1
    call_indirect $t (type $r)
    i32.add
    i32.const 3
    call_indirect $t (type $r)
    i32.const 10000
    i32.mul
    i32.add
    i32.const 4
    call_indirect $t (type $r)
    i32.const 1000000
    i32.mul
    i32.add
    i32.const 2
    table.get $t
    ref.is_null
    i32.const 1000
    i32.mul
    i32.add)
)
