package consumer

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
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
		b.ReportMetric(float64(heap1-heap0)/float64(m.RuleCount()), "B/rule")
		b.ReportMetric(float64(m.RuleCount()), "rules")
	}
}
