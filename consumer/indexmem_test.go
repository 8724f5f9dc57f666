package consumer

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"testing"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// BenchmarkIndexMemory measures what the matcher's index holds per rule
// for the benchmark's rules (FMN_BENCH_RULES, FMN_BENCH_USERS,
// FMN_BENCH_PACKAGES; default 100,000 of 50,000 users), without JetStream,
// PostgreSQL or Redis: the rules go through JSON as they come out of the
// projection, each string its own allocation. FMN_BENCH_HEAPPROFILE
// writes a heap profile with the index loaded.
func BenchmarkIndexMemory(b *testing.B) {
	sz := sizesFromEnv(b, pipelineSizes{Rules: 100000, Users: 50000, Packages: 20000, Seed: 1})
	w := newBenchWorld(sz.Seed, sz.Users, sz.Packages)
	raw, err := json.Marshal(w.benchRules(sz.Rules))
	if err != nil {
		b.Fatal(err)
	}
	w = nil
	for range b.N {
		heap0 := heapAfterGC()
		gc0 := gcFigures()
		var rs []rules.Rule
		if err := json.Unmarshal(raw, &rs); err != nil {
			b.Fatal(err)
		}
		for i := range rs {
			rs[i].ID = int64(i + 1)
		}
		src := &listSource{}
		src.put(rs...)
		rs = nil
		m := NewMatcher(src, nil, notification.Site{}, slog.New(slog.DiscardHandler))
		if err := m.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		src.rules = nil
		heap1 := heapAfterGC()
		gc1 := gcFigures()
		if p := os.Getenv("FMN_BENCH_HEAPPROFILE"); p != "" {
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		n := float64(m.RuleCount())
		b.ReportMetric(float64(heap1-heap0)/n, "B/rule")
		// What the GC's mark phase meets per rule: objects to mark, and
		// bytes of them that hold pointers (scanned).
		b.ReportMetric((gc1.objects-gc0.objects)/n, "objects/rule")
		b.ReportMetric((gc1.scan-gc0.scan)/n, "scan_B/rule")
		b.ReportMetric(float64(m.RuleCount()), "rules")
	}
}

type gcFigure struct{ objects, scan float64 }

// gcFigures reads the live heap's object count and scannable bytes (as of
// the last GC: call it after heapAfterGC).
func gcFigures() gcFigure {
	s := []metrics.Sample{{Name: "/gc/heap/objects:objects"}, {Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return gcFigure{objects: float64(s[0].Value.Uint64()), scan: float64(s[1].Value.Uint64())}
}
