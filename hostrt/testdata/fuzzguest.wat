;; fuzzguest is the program FuzzResume pauses and restores from mutated
;; snapshots: it has state of every kind a snapshot holds. It opens
;; /out/out.txt for writing, changes a table slot and a global, writes 50
;; digits in a loop that calls through the table, then reads stdin and
;; writes what it read to the file and to stdout.
;; Build: wat2wasm fuzzguest.wat -o fuzzguest.wasm
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (type $op (func (param i32) (result i32)))
  (memory (export "memory") 1 16)
  (table 2 funcref)
  (elem (i32.const 0) $dec $dec)
  (elem declare func $inc)
  (global $count (mut i32) (i32.const 0))
  ;; 0: an iovec, 16: bytes read, 20: bytes written, 24: the opened fd,
  ;; 64: the path, 100: a digit, 256: the input.
  (data (i32.const 64) "out.txt")

  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $dec (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))

  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 20))))

  (func (export "_start") (local $fd i32) (local $i i32)
    ;; O_CREAT|O_TRUNC, all rights.
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 7)
      (i32.const 9) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 24)))
    (local.set $fd (i32.load (i32.const 24)))
    (table.set 0 (i32.const 1) (ref.func $inc))
    (loop $digits
      (global.set $count (call_indirect (type $op) (global.get $count) (i32.const 1)))
      (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      (call $write (local.get $fd) (i32.const 100) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (i32.const 50))))
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 64))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $write (local.get $fd) (i32.const 256) (i32.load (i32.const 16)))
    (call $write (i32.const 1) (i32.const 256) (i32.load (i32.const 16)))))
