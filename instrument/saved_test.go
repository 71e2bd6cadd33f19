package instrument_test

import (
	"fmt"
	"testing"

	"github.com/wasmsr/wasmsr/instrument"
)

// A local that no resume point on the way to a site reads is not saved
// there, though another site of the function saves it.
func TestSiteSavesOnlyWhatItsResumeReads(t *testing.T) {
	module := wat2wasm(t, `(module
  (import "env" "sleep" (func $sleep))
  (func (export "run") (param $a i32) (param $b i32) (result i32)
    call $sleep            ;; site 0: a and b are read after it
    local.get $a
    local.get $b
    i32.add
    local.set $a           ;; b is dead from here
    call $sleep            ;; site 1
    local.get $a))`)
	_, report, err := instrument.Instrument(module, instrument.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := report.Info.Frame(1)
	if f == nil || len(f.Sites) != 2 {
		t.Fatalf("layout of run: %+v", f)
	}
	if got := fmt.Sprint(f.Locals, f.Sites[0].Saved, f.Sites[1].Saved); got != "[0 1] [0 1] [0]" {
		t.Errorf("layout locals, saved at site 0, saved at site 1: %s, want [0 1] [0 1] [0]", got)
	}
}
