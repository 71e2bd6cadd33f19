package instrument

import (
	"math/rand"
	"slices"
	"testing"
)

// TestSiteLive: the segment tree gives, for every site and every range of
// sites, the union that adding each resume point's set to each site it
// covers gives, for random points over ranges of every size (some past
// the sites, as the function entry's are).
func TestSiteLive(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for round := range 200 {
		numSites, words := 1+rng.Intn(40), 1+rng.Intn(3)
		lv := &liveSets{words: words}
		var resume []resumePoint
		for p := range rng.Intn(30) {
			set := make([]uint64, words)
			for w := range set {
				set[w] = rng.Uint64() & rng.Uint64() & rng.Uint64()
			}
			lv.liveIn = append(lv.liveIn, set...)
			lo := rng.Intn(numSites+2) - 1
			resume = append(resume, resumePoint{pos: p, lo: lo, hi: lo + rng.Intn(numSites), skip: -1})
		}
		want := make([][]uint64, numSites)
		for s := range want {
			want[s] = make([]uint64, words)
			for _, p := range resume {
				if p.lo <= s && s <= p.hi {
					for w, v := range lv.at(p.pos) {
						want[s][w] |= v
					}
				}
			}
		}
		tree := newSiteLive(lv, resume, numSites)
		for s := range numSites {
			for l := range uint32(words * 64) {
				if got, w := tree.has(s, l), want[s][l/64]&(1<<(l%64)) != 0; got != w {
					t.Fatalf("round %d: site %d, local %d: %v, want %v", round, s, l, got, w)
				}
			}
		}
		for lo := range numSites {
			for hi := lo; hi < numSites; hi++ {
				union := make([]uint64, words)
				for s := lo; s <= hi; s++ {
					for w, v := range want[s] {
						union[w] |= v
					}
				}
				if got := tree.union(lo, hi); !slices.Equal(got, union) {
					t.Fatalf("round %d: sites %d..%d: %x, want %x", round, lo, hi, got, union)
				}
			}
		}
	}
}
