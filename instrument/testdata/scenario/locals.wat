;; Parameters and locals of every number type set before a sleep and read
;; after it; some are changed after the sleep and read again.
(module
  (import "env" "sleep" (func $sleep))
  (memory 1)
  (func (export "run") (param $a i32) (param $b i64) (param $c f32) (param $d f64) (result i64 f64)
    (local $x i32) (local $y i64) (local $z f32) (local $w f64) (local $unused i64)
    local.get $a
    i32.const 3
    i32.mul
    local.set $x                       ;; 3a
    local.get $b
    i64.const -1
    i64.xor
    local.set $y                       ;; ^b
    local.get $c
    f32.sqrt
    local.set $z                       ;; sqrt c
    local.get $d
    f64.neg
    local.set $w                       ;; -d
    call $sleep
    local.get $a
    local.get $x
    i32.add
    local.set $a                       ;; 4a
    call $sleep
    local.get $a
    i64.extend_i32_s
    local.get $y
    i64.add
    local.get $b
    i64.add                            ;; 4a + ^b + b = 4a - 1
    local.get $z
    f64.promote_f32
    local.get $w
    f64.add
    local.get $d
    f64.const 1000
    f64.mul
    f64.add)                           ;; sqrt c - d + 1000 d
)
