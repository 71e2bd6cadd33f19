package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRemoveStale: the temporary files of writers killed before their
// rename go; those of running writers, and recent ones of unknown writers,
// stay.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{ // name: removed
		fmt.Sprintf(".snapshot-000003.wsr.tmp-%d-123", dead.Process.Pid): true,
		fmt.Sprintf(".snapshot-000004.wsr.tmp-%d-456", os.Getpid()):      false,
		".snapshot-000001.wsr.tmp-789012":                                true, // an old writer's, an hour old
		".snapshot-000002.wsr.tmp-345678":                                false,
		"snapshot-000001.wsr":                                            false,
		".module-abc.wasm.tmp-1-2":                                       false, // a directory
	}
	for name := range files {
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, ".module") {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, ".snapshot-000001.wsr.tmp-789012"), hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	n, err := RemoveStale(dir)
	if err != nil || n != 2 {
		t.Errorf("RemoveStale: %d, %v; want 2 removed", n, err)
	}
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := errors.Is(err, os.ErrNotExist); gone != removed {
			t.Errorf("%s: removed %v, want %v", name, gone, removed)
		}
	}
}
