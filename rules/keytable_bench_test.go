package rules

import (
	"strconv"
	"testing"
)

// BenchmarkKeyFind looks up message keys in a key table of the size of
// 100,000 rules' index (104,000 keys), nine in ten of them absent, as in
// the realistic mix, where most of a message's users and packages are in
// no rule. The table is larger than the caches the way a full index is.
func BenchmarkKeyFind(b *testing.B) {
	t := newKeyTable()
	const n = 104_000
	for i := range n {
		t.intern(Key{KeyRPM, "package-" + strconv.Itoa(i)})
	}
	probe := make([]Key, 1<<16)
	for i := range probe {
		j := (i * 7919) % (10 * n)
		probe[i] = Key{KeyRPM, "package-" + strconv.Itoa(j)}
	}
	found := 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := t.find(probe[i&(len(probe)-1)]); ok {
			found++
		}
		i++
	}
	b.ReportMetric(float64(found)/float64(max(1, i)), "found/lookup")
}
