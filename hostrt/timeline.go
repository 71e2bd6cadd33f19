package hostrt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wasmsr/wasmsr/hostrt/blob"
)

// A store holds timelines: the default one, whose manifests are at its
// root, and named ones, each started by `--timeline NAME` (a new job, or a
// job resumed from any snapshot of the store, which forks it), whose
// manifests are under NAME/ and which a marker, timelines/NAME, lists. All
// of them share the store's chunks and modules: a fork stores only what
// its job changes. STORE/NAME locates a named timeline.

const timelineMarkers = "timelines/"

// CheckTimelineName refuses a timeline name that is not one path
// component of letters, digits and "._-", or that a store uses itself.
func CheckTimelineName(name string) error {
	if strings.Contains(name, "/") || blob.CheckName(name) != nil || name == "chunks" || name == "packs" || name == "compiled" || name == "timelines" ||
		strings.HasPrefix(name, snapshotPrefix) || strings.HasPrefix(name, modulePrefix) {
		return fmt.Errorf("%q is not a timeline name (one word of letters, digits and ._-, not chunks, packs, compiled, timelines, snapshot-* or module-*)", name)
	}
	return nil
}

// openLocation opens the store a location is in, and names the timeline
// the location is: STORE (the default timeline, "") or STORE/NAME when
// STORE has timeline NAME.
func openLocation(ctx context.Context, location string) (blob.Store, string, error) {
	trimmed := strings.TrimRight(location, "/")
	if i := strings.LastIndexByte(trimmed, '/'); i > 0 && CheckTimelineName(trimmed[i+1:]) == nil {
		parent, name := trimmed[:i], trimmed[i+1:]
		switch {
		case blob.IsRemote(location) && i > len("s3://"):
			if root, err := blob.Open(ctx, parent); err == nil {
				if _, err := root.Stat(ctx, timelineMarkers+name); err == nil {
					return root, name, nil
				}
			}
		case !blob.IsRemote(location):
			// The parent is opened (which cleans it up) only when it is
			// a store.
			if fi, err := os.Stat(filepath.Join(parent, "timelines", name)); err == nil && fi.Mode().IsRegular() {
				root, err := blob.OpenDir(parent)
				return root, name, err
			}
		}
	}
	root, err := blob.Open(ctx, location)
	return root, "", err
}

// Fork makes the store write its snapshots into the new timeline name,
// which must not hold snapshots yet; from says what it starts from (a
// snapshot's location, or "" for a new job), for people.
func (s *Store) Fork(name, from string) error {
	if err := CheckTimelineName(name); err != nil {
		return err
	}
	existing, err := listSnapshots(context.Background(), s.Blobs, name)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return fmt.Errorf("%s: timeline %q already has snapshots: choose another name, or resume it", s.Blobs, name)
	}
	marker := "new job\n"
	if from != "" {
		marker = "forked from " + from + "\n"
	}
	return s.UseTimeline(name, marker)
}

// UseTimeline makes the store write its snapshots into the timeline name,
// made (with marker, a line for people) if it is not there yet: a job that
// moves between hosts through a shared store keeps one timeline.
func (s *Store) UseTimeline(name, marker string) error {
	if err := CheckTimelineName(name); err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := s.Blobs.Stat(ctx, timelineMarkers+name); blob.IsNotExist(err) {
		err = s.Blobs.Put(ctx, timelineMarkers+name, []byte(marker))
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	s.Timeline, s.looked, s.last = name, false, 0
	return nil
}

// Location is where the store's timeline is, as resume takes it: the
// store, or STORE/NAME.
func (s *Store) Location() string {
	if s.Timeline == "" {
		return s.Blobs.String()
	}
	return strings.TrimRight(s.Blobs.String(), "/") + "/" + s.Timeline
}

// timelines lists the store's timelines: "" and every named one.
func timelines(ctx context.Context, blobs blob.Store) ([]string, error) {
	markers, err := blobs.List(ctx, timelineMarkers)
	if err != nil {
		return nil, err
	}
	names := []string{""}
	for _, m := range markers {
		if name := strings.TrimPrefix(m.Name, timelineMarkers); CheckTimelineName(name) == nil {
			names = append(names, name)
		}
	}
	return names, nil
}

// errNoSnapshots says that a timeline has no snapshots.
var errNoSnapshots = errors.New("no snapshots")
