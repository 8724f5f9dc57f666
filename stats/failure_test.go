package stats_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/jackc/pgx/v5/pgxpool"
)

// expected is what the statistics tables must hold, row by row.
type expected struct {
	base       time.Time
	rules      map[string]int64 // rule|bucket
	generated  map[string]int64 // dimension|key|bucket
	deliveries map[string]int64 // channel|result|bucket
}

func newExpected() *expected {
	return &expected{base: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), rules: map[string]int64{},
		generated: map[string]int64{}, deliveries: map[string]int64{}}
}

func bucketKey(parts ...any) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		if tm, ok := p.(time.Time); ok {
			p = tm.UTC().Format(time.RFC3339)
		}
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, "|")
}

// publish stores notifications from..to-1 on NOTIFY and as many delivery
// outcomes on EVENTS, and records what they count.
func (w *expected) publish(t *testing.T, b *bundle, from, to int) {
	t.Helper()
	users, apps := []string{"alice", "bob", "carol"}, []string{"bodhi", "koji", "", "pagure"}
	results := []wire.DeliveryResult{wire.Sent, wire.Sent, wire.Retry, wire.Dead}
	for i := from; i < to; i++ {
		at := w.base.Add(time.Duration(i) * 7 * time.Second)
		hour := at.Truncate(time.Hour)
		ids := []int64{int64(1 + i%5)}
		if i%7 == 0 {
			ids = append(ids, 100)
		}
		channel := []string{"email", "irc", "matrix"}[i%3]
		n := notification.Notification{ID: fmt.Sprintf("n%d", i), Protocol: channel, User: users[i%len(users)],
			App: apps[i%len(apps)], RuleIDs: ids, CreatedAt: at}
		data, _ := json.Marshal(n)
		if _, err := b.nats.JS.PublishAsync(wire.NotifySubject(channel), data); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			w.rules[bucketKey(id, hour)]++
		}
		w.generated[bucketKey(stats.DimUser, n.User, hour)]++
		w.generated[bucketKey(stats.DimApp, n.App, hour)]++
		w.generated[bucketKey(stats.DimChannel, channel, hour)]++

		e := wire.DeliveryEvent{Channel: channel, Result: results[i%len(results)], NotificationID: n.ID,
			StreamSeq: uint64(i + 1), Delivery: 1, Time: at}
		data, _ = json.Marshal(e)
		if _, err := b.nats.JS.PublishAsync(wire.EventsDeliverySubject(channel), data); err != nil {
			t.Fatal(err)
		}
		w.deliveries[bucketKey(channel, e.Result, hour)]++
	}
	select {
	case <-b.nats.JS.PublishAsyncComplete():
	case <-time.After(fmntest.Scaled(30 * time.Second)):
		t.Fatal("publishing did not complete")
	}
}

// check compares every row of the three tables with what was published.
func (w *expected) check(t *testing.T, b *bundle) {
	t.Helper()
	read := func(query string, cols int) map[string]int64 {
		got := map[string]int64{}
		rows, err := b.pg.Pool.Query(b.ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a, c   any
				bucket time.Time
				n      int64
			)
			dest := []any{&a, &bucket, &n}
			if cols == 4 {
				dest = []any{&a, &c, &bucket, &n}
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			if cols == 4 {
				got[bucketKey(a, c, bucket)] = n
			} else {
				got[bucketKey(a, bucket)] = n
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	compare := func(what string, got, want map[string]int64) {
		t.Helper()
		var lost, extra int64
		for k, n := range want {
			if d := n - got[k]; d > 0 {
				lost += d
			} else {
				extra -= d
			}
		}
		for k, n := range got {
			if _, ok := want[k]; !ok {
				extra += n
			}
		}
		if lost != 0 || extra != 0 {
			t.Errorf("%s: %d counts lost, %d counted twice or more (%d rows, want %d)", what, lost, extra, len(got), len(want))
		}
	}
	compare("rule_generated", read("SELECT rule_id, bucket, count FROM rule_generated", 3), w.rules)
	compare("generated_stats", read("SELECT dimension, key, bucket, count FROM generated_stats", 4), w.generated)
	compare("delivery_stats", read("SELECT channel, result, bucket, count FROM delivery_stats", 4), w.deliveries)
}

func (b *bundle) position(t *testing.T, name string) uint64 {
	t.Helper()
	var last int64
	err := b.pg.Pool.QueryRow(b.ctx, "SELECT last_seq FROM projection_state WHERE name = $1", name).Scan(&last)
	if err != nil && !strings.Contains(err.Error(), "no rows") {
		t.Fatal(err)
	}
	return uint64(last)
}

// caughtUp says whether both feeds reached their streams' ends and their
// durable consumers have nothing pending or unacknowledged.
func (b *bundle) caughtUp(t *testing.T, durable string) bool {
	t.Helper()
	for _, f := range []struct{ name, stream, durable string }{
		{stats.ProjectionName, b.nats.Streams.Notify, durable},
		{stats.DeliveriesProjectionName, b.nats.Streams.Events, durable + "-deliveries"},
	} {
		st, err := b.nats.JS.Stream(b.ctx, f.stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.position(t, f.name) != info.State.LastSeq {
			return false
		}
		c, err := b.nats.JS.Consumer(b.ctx, f.stream, f.durable)
		if err != nil {
			return false
		}
		ci, err := c.Info(b.ctx)
		if err != nil || ci.NumPending != 0 || ci.NumAckPending != 0 || ci.NumRedelivered != 0 {
			return false
		}
	}
	return true
}

// logLines collects a logger's JSON lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// flakyPool is a pool of the test's schema that the test can cut off from
// PostgreSQL as an outage does: its connections are terminated by the
// server and new ones are refused until it comes back.
type flakyPool struct {
	*pgxpool.Pool
	app  string
	down atomic.Bool
}

func newFlakyPool(t *testing.T, b *bundle) *flakyPool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(b.pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	fp := &flakyPool{app: "fmn-stats-test-" + fmntest.RandomID()}
	cfg.ConnConfig.RuntimeParams["application_name"] = fp.app
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if fp.down.Load() {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return dial(ctx, network, addr)
	}
	fp.Pool, err = pgxpool.NewWithConfig(b.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fp.Close)
	return fp
}

// cut terminates the pool's server connections (only those: they carry the
// pool's own application_name) and refuses new ones; it returns when they
// are gone, and says how many it terminated.
func (fp *flakyPool) cut(t *testing.T, b *bundle) int {
	t.Helper()
	fp.down.Store(true)
	n := 0
	fmntest.Eventually(t, 10*time.Second, "the projector's connections are gone", func() bool {
		// The select list is evaluated only for the rows WHERE keeps (in
		// WHERE, the planner could call pg_terminate_backend on any
		// backend). A backend ends after it got the signal: look again
		// until none is left.
		rows, err := b.pg.Pool.Query(b.ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid()`, fp.app)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		left := 0
		for rows.Next() {
			var ok bool
			if err := rows.Scan(&ok); err != nil {
				t.Fatal(err)
			}
			left++
			if ok {
				n++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
	return n
}

// TestStatisticsSurvivePostgresOutage: PostgreSQL goes away in the middle
// of a projection while notifications keep coming; when it is back, every
// count is exact, nothing lost and nothing counted twice, and the outage
// was retried with backoff and logged in a few lines.
func TestStatisticsSurvivePostgresOutage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newExpected()
	w.publish(t, b, 0, 2000)

	pool := newFlakyPool(t, b)
	var logs logLines
	p := stats.NewProjector(b.nats.JS, pool.Pool, b.nats.Streams, slog.New(slog.NewJSONHandler(&logs, nil)))
	p.Batch = 20
	p.RetryDelay, p.MaxRetryDelay = 10*time.Millisecond, 200*time.Millisecond
	p.LogEvery = fmntest.Scaled(time.Second)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	fmntest.Eventually(t, 20*time.Second, "the projection is under way", func() bool {
		return b.position(t, stats.ProjectionName) >= 200 && b.position(t, stats.DeliveriesProjectionName) >= 200
	})
	began := time.Now()
	if n := pool.cut(t, b); n == 0 {
		t.Fatal("the projector had no connection to terminate")
	}
	atCut := [2]uint64{b.position(t, stats.ProjectionName), b.position(t, stats.DeliveriesProjectionName)}
	if atCut[0] >= 2000 && atCut[1] >= 2000 {
		t.Log("the projection had finished before the outage; it only meets new messages")
	}
	// Notifications go on while PostgreSQL is away.
	w.publish(t, b, 2000, 3000)
	time.Sleep(fmntest.Scaled(1500 * time.Millisecond))
	if got := [2]uint64{b.position(t, stats.ProjectionName), b.position(t, stats.DeliveriesProjectionName)}; got != atCut {
		t.Fatalf("positions moved from %v to %v while the projector could not reach PostgreSQL", atCut, got)
	}
	pool.down.Store(false)
	outage := time.Since(began)
	w.publish(t, b, 3000, 3500)

	fmntest.Eventually(t, 30*time.Second, "both feeds caught up after the outage", func() bool { return b.caughtUp(t, "stats") })
	w.check(t, b)

	// The log: per feed one line when it started failing, a reminder at
	// most every LogEvery, one line on recovery; and retries with backoff,
	// not a hot loop.
	recs := logs.records(t)
	if testing.Verbose() {
		t.Logf("outage of %s; log:\n%s", outage.Round(time.Millisecond), logText(recs))
	}
	for _, feed := range []string{stats.ProjectionName, stats.DeliveriesProjectionName} {
		var failing, reminders, recovered int
		var retries float64
		for _, r := range recs {
			if r["feed"] != feed {
				continue
			}
			msg, _ := r["msg"].(string)
			switch {
			case strings.HasPrefix(msg, "statistics projection cannot apply"):
				failing++
				if r["err"] == nil {
					t.Errorf("%s: failure logged without its error: %v", feed, r)
				}
			case msg == "statistics projection still failing":
				reminders++
			case msg == "statistics projection recovered":
				recovered++
				retries, _ = r["retries"].(float64)
				if r["after"] == nil {
					t.Errorf("%s: recovery logged without the outage's length: %v", feed, r)
				}
			default:
				t.Errorf("%s: unexpected log line %v", feed, r)
			}
		}
		maxReminders := int(outage/p.LogEvery) + 1
		if failing != 1 || recovered != 1 || reminders > maxReminders {
			t.Errorf("%s: %d lines on failing (want 1), %d reminders (at most %d), %d on recovery (want 1); log:\n%s",
				feed, failing, reminders, maxReminders, recovered, logText(recs))
		}
		// Waits double from 10 ms to 200 ms and are at least half that.
		if maxRetries := 6 + float64(outage/(100*time.Millisecond)); retries < 1 || retries > maxRetries {
			t.Errorf("%s: %v retries in a %s outage, want 1 to %v", feed, retries, outage.Round(time.Millisecond), maxRetries)
		}
	}
}

func logText(recs []map[string]any) string {
	var s strings.Builder
	for _, r := range recs {
		fmt.Fprintln(&s, r)
	}
	return s.String()
}

// TestStatisticsSurviveCrash: a projector dies with a batch in hand,
// before applying it or after committing it but before acknowledging it.
// Another one takes the durable consumers over (the batch is redelivered
// only after AckWait, when later ones were applied): every message counts
// exactly once.
func TestStatisticsSurviveCrash(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"fetched", "applied"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := newExpected()
			w.publish(t, b, 0, 300)

			var mu sync.Mutex
			batches := map[string]int{}
			crashed := make(chan string, 2)
			p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, nil)
			p.Batch = 20
			p.AckWait = fmntest.Scaled(2 * time.Second)
			stats.SetCrash(p, func(feed, st string) bool {
				if st != stage {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				batches[feed]++
				if batches[feed] == 3 {
					crashed <- feed
					return true
				}
				return false
			})
			ctx, cancel := context.WithCancel(b.ctx)
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			for range 2 {
				select {
				case <-crashed:
				case <-time.After(fmntest.Scaled(20 * time.Second)):
					t.Fatal("the projector did not reach its third batch")
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			want := uint64(40)
			if stage == "applied" {
				want = 60
			}
			if got := b.position(t, stats.ProjectionName); got != want {
				t.Fatalf("NOTIFY feed at %d after the crash, want %d", got, want)
			}
			// The third batch is not acknowledged.
			c, err := b.nats.JS.Consumer(b.ctx, b.nats.Streams.Notify, "stats")
			if err != nil {
				t.Fatal(err)
			}
			if ci, err := c.Info(b.ctx); err != nil || ci.NumAckPending != 20 {
				t.Fatalf("consumer after the crash: %+v, %v; want 20 unacknowledged", ci, err)
			}

			w.publish(t, b, 300, 400)
			p2 := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, nil)
			p2.Batch = 20
			p2.AckWait = p.AckWait
			ctx, cancel = context.WithCancel(b.ctx)
			go func() { done <- p2.Run(ctx) }()
			fmntest.Eventually(t, 30*time.Second, "both feeds caught up, redeliveries included", func() bool {
				return b.caughtUp(t, "stats")
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			w.check(t, b)
		})
	}
}

// TestStatisticsFillLongGap: the feed's position is far behind what its
// durable consumer delivers (here: the tables were emptied, as when a
// database is restored empty while NATS keeps its consumers). The first
// batch delivered reads everything before it from the stream, in several
// transactions, and every message counts once.
func TestStatisticsFillLongGap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newExpected()
	w.publish(t, b, 0, 2500)
	p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, nil)
	p.Batch = 20
	b.project(t, p)
	if _, err := b.pg.Pool.Exec(b.ctx, `DELETE FROM rule_generated; DELETE FROM generated_stats;
		DELETE FROM delivery_stats; UPDATE projection_state SET last_seq = 0`); err != nil {
		t.Fatal(err)
	}
	w.publish(t, b, 2500, 2510)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	fmntest.Eventually(t, 30*time.Second, "both feeds caught up", func() bool { return b.caughtUp(t, "stats") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.check(t, b)
}
