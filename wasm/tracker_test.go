package wasm_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wasmsr/wasmsr/internal/spectest"
	"github.com/wasmsr/wasmsr/wasm"
)

// checkBranchTypes walks every function of m with the type tracker and
// checks, independently of the tracker's own validation, that at every end,
// else, catch, delegate, branch and return the values on top of the stack
// are those the target frame or label expects.
func checkBranchTypes(m *wasm.Module) error {
	tr := wasm.NewTypeTracker(m)
	base := uint32(m.NumImported(wasm.KindFunc))
	for k := range m.Code {
		fn := base + uint32(k)
		err := tr.Walk(fn, func(i int, in *wasm.Instr) error {
			frames := tr.Frames()
			stack := tr.Stack()
			top := &frames[len(frames)-1]
			label := func(depth uint32) []wasm.ValType {
				return frames[len(frames)-1-int(depth)].LabelTypes()
			}
			var want []wasm.ValType
			operands := 0 // values above the carried ones (a branch condition or index)
			switch in.Op {
			case wasm.OpEnd, wasm.OpElse, wasm.OpCatch, wasm.OpCatchAll, wasm.OpDelegate:
				want = top.Results
				if len(stack)-top.Height > len(want) || !top.Unreachable && len(stack)-top.Height != len(want) {
					return fmt.Errorf("instruction %d (%s): %d values in the frame, want %d", i, in, len(stack)-top.Height, len(want))
				}
			case wasm.OpBr:
				want = label(in.X)
			case wasm.OpBrIf:
				want, operands = label(in.X), 1
			case wasm.OpBrTable:
				operands = 1
				for _, l := range append(in.Ext.Labels, in.X) {
					if err := matchTop(tr, stack, top, operands, label(l)); err != nil {
						return fmt.Errorf("instruction %d (%s), label %d: %w", i, in, l, err)
					}
				}
				return nil
			case wasm.OpReturn:
				want = tr.Results()
			default:
				return nil
			}
			if err := matchTop(tr, stack, top, operands, want); err != nil {
				return fmt.Errorf("instruction %d (%s): %w", i, in, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("function %d: %w", fn, err)
		}
	}
	return nil
}

// matchTop checks that below the top `operands` values the stack ends with
// values matching want. In unreachable code missing values are fine: the
// stack is polymorphic there.
func matchTop(tr *wasm.TypeTracker, stack []wasm.ValType, top *wasm.Frame, operands int, want []wasm.ValType) error {
	avail := len(stack) - top.Height - operands
	if avail < 0 {
		avail = 0
	}
	for k := 1; k <= len(want); k++ {
		if k > avail {
			if top.Unreachable {
				return nil
			}
			return fmt.Errorf("stack %v too short for %v", stack, want)
		}
		got := stack[len(stack)-operands-k]
		if got != wasm.ValUnknown && !tr.Matches(got, want[len(want)-k]) {
			return fmt.Errorf("stack %v does not end with %v", stack, want)
		}
	}
	return nil
}

func TestTypeTrackerOnSpecSuite(t *testing.T) {
	suites, err := spectest.Suites()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suites {
		valid, _, _ := s.Modules()
		for _, ref := range valid {
			m, err := wasm.Decode(readFile(t, ref.Path))
			if err != nil {
				t.Errorf("%s: %v", ref.Path, err)
				continue
			}
			if err := checkBranchTypes(m); err != nil {
				t.Errorf("%s/%s: %v", s.Name, filepath.Base(ref.Path), err)
			}
		}
	}
}
