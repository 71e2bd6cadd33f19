;; greet is the guest of hostrt's examples (example_test.go): it writes
;; "name? ", reads one chunk of stdin and writes "hello, " and what it read.
;; Build: wat2wasm greet.wat -o greet.wasm
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: an iovec, 16: bytes read, 20: bytes written, 64: text, 256: the input.
  (data (i32.const 64) "name? ")
  (data (i32.const 80) "hello, ")

  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20))))

  (func (export "_start")
    (call $write (i32.const 64) (i32.const 6))
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 128))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $write (i32.const 80) (i32.const 7))
    (call $write (i32.const 256) (i32.load (i32.const 16)))))
