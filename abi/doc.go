// Package abi is the contract between a module instrumented by wasmsr and
// the host that runs it: the exports and globals the rewrite adds, the
// custom section that describes the module's frames, and the versions of
// both. Package instrument writes it; packages unwind and hostrt read it,
// so a host that never instruments does not link the rewriter.
//
// # The protocol
//
// It is Binaryen's Asyncify ABI. The module keeps a state (0 normal, 1
// unwinding, 2 rewinding) and a data struct in linear memory,
// { i32 pos; i32 end }, the bounds of a buffer that grows upwards.
// asyncify_start_unwind(data) sets the state to unwinding: every
// instrumented function on the stack then stores a frame at pos and
// returns at once, up to the export the host called, where the host calls
// asyncify_stop_unwind. To resume, asyncify_start_rewind(data) sets the
// state to rewinding and the host calls the same export again: each
// function reads its frame back, jumps to the call it left and calls it
// again, down to the innermost one, where asyncify_stop_rewind (called by
// the host function the program was in, or done by the safepoint) returns
// the state to normal.
//
// wasmsr adds what a host needs to pause a program that never calls it
// (a request global that safepoints at loop headers read, the module's
// own buffer at the end of memory), to capture all of an instance (every
// mutable global, tables that change, dropped segments: names.go), and to
// decline a pause while the program is on its way to a trap
// (UnwindNotNow). A module that cannot grow its buffer traps with
// wasmsr_overflow set rather than write past end.
//
// # The frame
//
// A frame is the function's saved locals grouped by type, each at its
// ValType's size, then the i32 function index and the i32 call index (the
// unwind point it left), so that frames can be read from the top of the
// buffer down without the code: FuncLayout gives the locals and Site the
// unwind points of each function. An unwind at a site stores only the
// locals some resume point on its way reads (Site.Saved); the other slots
// hold whatever the buffer held. Which ones, and where each site is, only
// a module with the optional wasmsr.sites section says (Info.Details).
//
// # One function, before and after
//
// A function that sleeps through an import and then uses its parameter:
//
//	(func $nap (param $n i32) (result i32)
//	  local.get $n
//	  call $sleep
//	  local.get $n
//	  i32.const 1
//	  i32.add)
//
// instrumented (--safepoints=calls; $state is global 0, $data global 1,
// $pop is wasmsr_pop_frame and $pushed wasmsr_pushed, helpers the
// rewrite adds):
//
//	(func $nap (param $n i32) (result i32) (local $call i32) (local $frame i32)
//	  block
//	    block (result i32)              ;; the call index, on the way out
//	      block (result i32)
//	        global.get $state
//	        if                          ;; rewinding: read the frame back
//	          i32.const 12
//	          call $pop
//	          local.tee $frame
//	          i32.load offset=8
//	          local.set $call           ;; one unwind point: nothing to branch on
//	          local.get $frame
//	          i32.load
//	          local.set $n
//	          br 0                      ;; to the call, which is made again
//	        end
//	        local.get $n
//	        call $sleep
//	        i32.const 0                 ;; call index 0
//	        global.get $state
//	        br_if 1                     ;; unwinding: leave with it
//	        drop
//	        local.get $n
//	        i32.const 1
//	        i32.add
//	      end
//	      return
//	    end
//	    local.set $call                 ;; store the frame: $n, then the indices
//	    global.get $data
//	    i32.load
//	    local.set $frame
//	    local.get $frame
//	    local.get $n
//	    i32.store
//	  end
//	  local.get $frame
//	  i32.const 12
//	  i32.const 1                       ;; function index
//	  local.get $call
//	  call $pushed                      ;; the indices; pos moves past the frame
//	  i32.const 0)                      ;; a placeholder result
//
// Its section entry: frame 12 bytes, locals [0] of types [i32], one site,
// a call to function 0 at instruction 1, saving local 0.
package abi
