;; Passive segments dropped before a pause stay dropped after it, also in
;; a fresh instance, which starts with every segment: the host drops them
;; again there (wasmsr_drop_data_0, wasmsr_drop_elem_0), as the flags
;; wasmsr_dropped_data_0 and wasmsr_dropped_elem_0 say. The first sleep
;; comes after the data drop only, the second after both. The element
;; segment is dropped by a function that cannot unwind: it keeps its code
;; but for the flag the instrumenter sets after the drop.
;;
;; run(probe) copies both segments in, drops them and sleeps twice; then
;; it initialises from them again: with no bytes from their start, which a
;; dropped segment allows, and, for probe 1 (data) or 2 (elem), with one,
;; which a dropped segment does not: it traps out of bounds. It returns
;; what the copies brought: 42 + 7 from memory, 7 + 9 through the table.
(module
  (import "env" "sleep" (func $sleep))
  (memory 1)
  (table 4 funcref)
  (type $ret (func (result i32)))
  (data $d "\2a\00\00\00\07\00\00\00")
  (elem $e func $seven $nine)

  (func $seven (result i32) i32.const 7)
  (func $nine (result i32) i32.const 9)
  (func $drop_elem elem.drop $e)

  (func (export "run") (param $probe i32) (result i32 i32)
    (memory.init $d (i32.const 16) (i32.const 0) (i32.const 8))
    (table.init $e (i32.const 1) (i32.const 0) (i32.const 2))
    data.drop $d
    call $sleep
    call $drop_elem
    call $sleep
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 0))
    (table.init $e (i32.const 0) (i32.const 0) (i32.const 0))
    (if (i32.eq (local.get $probe) (i32.const 1))
      (then (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))))
    (if (i32.eq (local.get $probe) (i32.const 2))
      (then (table.init $e (i32.const 0) (i32.const 0) (i32.const 1))))
    (i32.add (i32.load (i32.const 16)) (i32.load (i32.const 20)))
    (i32.add (call_indirect (type $ret) (i32.const 1)) (call_indirect (type $ret) (i32.const 2)))))
