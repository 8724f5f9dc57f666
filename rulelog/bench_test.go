package rulelog_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkProjector measures the projector on a RULES stream of
// FMN_BENCH_RULE_EVENTS events (default 100,000): mostly creations of two
// rules per user, with an update every 50th event and a deletion every
// 200th (each of a rule created before), as a live stream has them. It
// times a projector catching up from nothing, then a Rebuild, and checks
// both give the same tables. Aim (issue 16): >= 20,000 events/s.
// FMN_BENCH_PROJECTOR_BATCH sets the projector's BatchSize. Beside fmn's
// CPU (this process: the embedded nats-server's included) it prints the
// CPU of the projector's PostgreSQL backends when PostgreSQL runs on this
// machine: on a machine shared with other work the wall-clock rate swings,
// the CPU per event does not.
//
//	go test -run '^$' -bench BenchmarkProjector -benchtime 1x ./rulelog/
func BenchmarkProjector(b *testing.B) {
	n, batch := 100_000, 0
	for name, v := range map[string]*int{"FMN_BENCH_RULE_EVENTS": &n, "FMN_BENCH_PROJECTOR_BATCH": &batch} {
		if s := os.Getenv(name); s != "" {
			x, err := strconv.Atoi(s)
			if err != nil || x <= 0 {
				b.Fatalf("%s=%q: want a positive number", name, s)
			}
			*v = x
		}
	}
	for range b.N {
		b.StopTimer()
		bd := &bundle{ctx: fmntest.Context(b), nats: fmntest.StartNATS(b), pg: fmntest.StartPostgres(b), prefix: fmntest.RedisPrefix(b)}
		publishEvents(b, bd, n)
		// The projector's own pool, named so that its backends can be told
		// from the other tests'.
		app := "bench_" + bd.pg.Schema
		pool, err := queries.NewPool(bd.ctx, bd.pg.URL+"&application_name="+app)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		backends := func() time.Duration { return backendCPU(b, bd, app) }
		proj := rulelog.NewProjector(bd.nats.JS, pool, rulelog.ProjectorConfig{Stream: bd.nats.Streams.Rules, BatchSize: batch, Logger: fmntest.Logger(b, 0)})
		cpu0, pg0, t0 := cpuTime(), backends(), time.Now()
		if err := proj.Start(bd.ctx); err != nil {
			b.Fatal(err)
		}
		fmntest.Eventually(b, 30*time.Minute, "the projector catches up", func() bool { return proj.Stats().LastSeq >= uint64(n) })
		catchUp, catchUpCPU := time.Since(t0), cpuTime()-cpu0
		proj.Stop()
		catchUpPG := backends() - pg0
		before := dump(b, bd.ctx, bd.pg.Pool)
		cpu0, pg0, t0 = cpuTime(), backends(), time.Now()
		last, err := proj.Rebuild(bd.ctx)
		if err != nil {
			b.Fatal(err)
		}
		rebuild, rebuildCPU, rebuildPG := time.Since(t0), cpuTime()-cpu0, backends()-pg0
		if last != uint64(n) {
			b.Fatalf("rebuild stands at %d; want %d", last, n)
		}
		if after := dump(b, bd.ctx, bd.pg.Pool); after != before {
			b.Fatalf("the rebuild's tables differ from the projector's")
		}
		rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
		perEvent := func(d time.Duration) float64 { return float64(d) / float64(n) / 1e3 }
		fmt.Printf("projector: %d events caught up in %s = %.0f events/s (%.1f µs CPU/event in fmn, %.1f in PostgreSQL); rebuild in %s = %.0f events/s (%.1f µs, %.1f µs) [aim >= 20,000 events/s]\n",
			n, catchUp.Round(time.Millisecond), rate(catchUp), perEvent(catchUpCPU), perEvent(catchUpPG),
			rebuild.Round(time.Millisecond), rate(rebuild), perEvent(rebuildCPU), perEvent(rebuildPG))
		b.ReportMetric(rate(catchUp), "catchup_events/s")
		b.ReportMetric(rate(rebuild), "rebuild_events/s")
		b.ReportMetric(perEvent(catchUpCPU), "catchup_cpu_us/event")
		b.ReportMetric(perEvent(catchUpPG), "catchup_pg_cpu_us/event")
		b.ReportMetric(perEvent(rebuildCPU), "rebuild_cpu_us/event")
		b.ReportMetric(perEvent(rebuildPG), "rebuild_pg_cpu_us/event")
		b.ReportMetric(0, "ns/op")
	}
}

// publishEvents appends n rule events to bd's RULES stream (fresh: event i
// gets sequence i+1).
func publishEvents(b *testing.B, bd *bundle, n int) {
	b.Helper()
	js, err := jetstream.New(bd.nats.Conn, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	var created []int64 // sequences of creations not deleted
	for i := range n {
		seq := int64(i + 1)
		var ev rulelog.Event
		switch {
		case i%200 == 199 && len(created) > 0:
			id := created[0]
			created = created[1:]
			ev = rulelog.Event{Type: rulelog.EventRuleDeleted, User: fmt.Sprintf("user%d", (id-1)/2), RuleID: id}
		case i%50 == 49 && len(created) > 0:
			id := created[len(created)-1]
			u := fmt.Sprintf("user%d", (id-1)/2)
			r := rule(u, "updated")
			ev = rulelog.Event{Type: rulelog.EventRuleUpdated, User: u, RuleID: id, Rule: &r}
		default:
			u := fmt.Sprintf("user%d", i/2)
			r := rule(u, "rule "+strconv.Itoa(i))
			ev = rulelog.Event{Type: rulelog.EventRuleCreated, User: u, Rule: &r}
			created = append(created, seq)
		}
		ev.Actor, ev.Time = ev.User, at
		msg, err := ev.Message()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishMsgAsync(msg); err != nil {
			b.Fatal(err)
		}
		if i%2000 == 1999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
}

// cpuTime is the CPU time this process used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time used so far by the PostgreSQL backends whose
// application_name is app, read from /proc (0 when PostgreSQL runs
// elsewhere). A backend that ended is no longer counted: the projector's
// pool keeps its connections.
func backendCPU(b *testing.B, bd *bundle, app string) time.Duration {
	b.Helper()
	rows, err := bd.pg.Pool.Query(bd.ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// utime and stime are the 14th and 15th fields; the command, the
		// 2nd, is in parentheses and may hold spaces.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		for _, s := range f[11:13] {
			t, _ := strconv.ParseInt(s, 10, 64)
			ticks += t
		}
	}
	// Linux counts in clock ticks of 1/100 s (USER_HZ).
	return time.Duration(ticks) * 10 * time.Millisecond
}
