package abi

// Exports the instrumenter adds besides Binaryen's asyncify_* functions.
const (
	// ExportRequest is a mutable i32 global through which the host asks
	// for a pause at the next safepoint, from any goroutine: a positive
	// value pauses, -k counts down safepoints, pausing at the k-th (for
	// tests). The module clears it when it starts unwinding. A host sets
	// it only once wasmsr_prepare has made the buffer (ExportOwned is 1
	// then): a safepoint stores its frame before anything is decided.
	ExportRequest = "wasmsr_request"
	// ExportData is the global holding the address of the current unwind
	// data struct: the module's own buffer whenever the program runs.
	ExportData = "wasmsr_data"
	// ExportPrepare is wasmsr_prepare() -> i32: make the module's own
	// buffer, pages at the end of memory that the program does not see
	// (its memory.size leaves them out, its memory.grow moves them up),
	// unless it has one, and empty it; 0 when memory cannot grow. A host
	// calls it before the program starts.
	ExportPrepare = "wasmsr_prepare"
	// ExportOwned is an i32 global, 1 once the module has its own buffer.
	ExportOwned = "wasmsr_owned"
	// ExportOverflow is an i32 global set to 1 before the module traps
	// because the unwind buffer is full and cannot grow.
	ExportOverflow = "wasmsr_overflow"
	// ExportUnwind is wasmsr_start_unwind() -> i32: start unwinding into
	// the module's own buffer (made by wasmsr_prepare if need be), for
	// host functions that pause the program at a call: 1 when it does, 0
	// when memory has no room for the buffer, UnwindNotNow when the
	// program is on its way to a trap, where it cannot unwind (package
	// instrument explains which).
	ExportUnwind = "wasmsr_start_unwind"
	// UnwindNotNow is what wasmsr_start_unwind returns while a function
	// that ends in a trap runs; safepoints then decline: the request
	// stays.
	UnwindNotNow = 2
	// ExportGlobalPrefix prefixes the exports of mutable globals that the
	// module did not export itself: wasmsr_global_<index>.
	ExportGlobalPrefix = "wasmsr_global_"
)

// The Asyncify ABI.
const (
	ExportStartUnwind = "asyncify_start_unwind"
	ExportStopUnwind  = "asyncify_stop_unwind"
	ExportStartRewind = "asyncify_start_rewind"
	ExportStopRewind  = "asyncify_stop_rewind"
	ExportGetState    = "asyncify_get_state"
)

// Names of the host-access exports; <i> is the index of the global, table
// or segment.
const (
	// ExportGlobalGetPrefix and ExportGlobalSetPrefix name the functions
	// that read and write a v128 global: wasmsr_global_get_<i>() -> v128.
	ExportGlobalGetPrefix = "wasmsr_global_get_"
	ExportGlobalSetPrefix = "wasmsr_global_set_"
	// Table accessors: wasmsr_table_get_<i>(i32) -> ref,
	// wasmsr_table_set_<i>(i32, ref), wasmsr_table_size_<i>() -> i32,
	// wasmsr_table_grow_<i>(ref, i32) -> i32.
	ExportTableGetPrefix  = "wasmsr_table_get_"
	ExportTableSetPrefix  = "wasmsr_table_set_"
	ExportTableSizePrefix = "wasmsr_table_size_"
	ExportTableGrowPrefix = "wasmsr_table_grow_"
	// ExportFuncRef is wasmsr_func_ref(i32) -> funcref, the reference to
	// function i: the host maps funcref values to indices with it, since
	// the values themselves mean nothing in another instance.
	ExportFuncRef = "wasmsr_func_ref"
	// Dropped segments: the i32 global wasmsr_dropped_data_<i> is 1 once
	// data segment i is dropped; the function wasmsr_drop_data_<i>() drops
	// it (and sets the global). Likewise for element segments.
	ExportDroppedDataPrefix = "wasmsr_dropped_data_"
	ExportDropDataPrefix    = "wasmsr_drop_data_"
	ExportDroppedElemPrefix = "wasmsr_dropped_elem_"
	ExportDropElemPrefix    = "wasmsr_drop_elem_"
)
