;; A small module for inspect's golden tests: imports of every kind, limits,
;; exports and functions of different sizes, with a name section.
(module $sample
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "counter" (global $counter (mut i32)))
  (import "env" "table" (table 2 10 funcref))
  (memory (export "memory") 1 16)
  (global $scale (mut f64) (f64.const 1.5))
  (func $tiny (result i32) i32.const 42)
  (func $sum (export "sum") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func $hello (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (data (i32.const 16) "hello"))
