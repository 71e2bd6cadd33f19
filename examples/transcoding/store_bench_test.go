package transcoding_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wasmsr/wasmsr/examples/internal/ffmpegtest"
	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

// BenchmarkPeriodicSnapshots transcodes the clip with a snapshot every
// second into a store in a directory, the output file carried in each
// (--snapshot-files, as a job that moves between machines needs), and
// reports what a periodic snapshot writes against a full one (every chunk
// it names, and its manifest), over the snapshots after the first
// (target: <= 25 %), with and without the output file.
func BenchmarkPeriodicSnapshots(b *testing.B) {
	if skip != "" {
		b.Skip(skip)
	}
	for _, files := range []bool{true, false} {
		name := "with-output-file"
		if !files {
			name = "memory-only"
		}
		b.Run(name, func(b *testing.B) {
			var share float64
			for range b.N {
				dir := b.TempDir()
				out, snaps := filepath.Join(dir, "out"), filepath.Join(dir, "snaps")
				if err := os.Mkdir(out, 0o755); err != nil {
					b.Fatal(err)
				}
				args := []string{"exec", "-q", "--snapshot-every", "1s", "--keep", "0", "--snapshot-dir", snaps, "--mount", out + ":/out"}
				if files {
					args = append(args, "--snapshot-files")
				}
				args = append(append(args, instrumented, "--"), ffmpegtest.Args...)
				if msg, err := exec.Command(wasmsr, args...).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, msg)
				}
				share += periodicShare(b, snaps)
			}
			b.ReportMetric(100*share/float64(b.N), "periodic-%")
		})
	}
}

// periodicShare is the bytes the store's snapshots after the first added
// (the packs the previous one did not name, and the manifest) over their
// full size (all the chunks they name, and the manifest).
func periodicShare(b *testing.B, snaps string) float64 {
	manifests, err := filepath.Glob(filepath.Join(snaps, "snapshot-*.wsm"))
	if err != nil || len(manifests) < 3 {
		b.Fatalf("%d snapshots (%v): the clip is too short for the benchmark", len(manifests), err)
	}
	slices.Sort(manifests)
	var added, full int64
	var previous map[snapshot.PackID]bool
	for i, m := range manifests {
		data, err := os.ReadFile(m)
		if err != nil {
			b.Fatal(err)
		}
		refs, err := snapshot.ManifestRefs(data, nil)
		if err != nil {
			b.Fatal(err)
		}
		if refs.Locations == nil {
			b.Fatalf("%s: not a manifest of packs", m)
		}
		named := map[snapshot.PackID]bool{}
		counted := map[snapshot.Address]bool{}
		mAdded, mFull := int64(len(data)), int64(len(data))
		for k, l := range refs.Locations {
			if !counted[refs.Chunks[k]] {
				counted[refs.Chunks[k]] = true
				mFull += int64(l.Length)
			}
			if named[l.Pack] {
				continue
			}
			named[l.Pack] = true
			if !previous[l.Pack] {
				h := l.Pack.String()
				fi, err := os.Stat(filepath.Join(snaps, "packs", h[:2], h))
				if err != nil {
					b.Fatal(err)
				}
				mAdded += fi.Size()
			}
		}
		if i > 0 {
			added, full = added+mAdded, full+mFull
		}
		previous = named
	}
	return float64(added) / float64(full)
}
