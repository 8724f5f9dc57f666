package projection_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/projection"
	"github.com/nats-io/nats.go/jetstream"
)

// seen is a scratch projection: one row per message, so a message applied
// twice fails its transaction's primary key.
type seen struct {
	w *projection.Writer
	// fail, when set, fails the transaction of a message.
	fail func(seq uint64) bool
}

func (s *seen) Apply(ctx context.Context, m projection.Msg) error {
	if s.fail != nil && s.fail(m.Seq) {
		return fmt.Errorf("failing message %d on purpose", m.Seq)
	}
	_, err := s.w.Exec(ctx, "INSERT INTO seen (seq, body) VALUES ($1, $2)", int64(m.Seq), string(m.Data))
	return err
}

func (s *seen) Flush(context.Context) error { return nil }

type fixture struct {
	ctx  context.Context
	nats *fmntest.NATS
	pg   *fmntest.Postgres
	feed projection.Feed
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ctx: fmntest.Context(t), nats: fmntest.StartNATS(t), pg: fmntest.StartPostgres(t),
		feed: projection.Feed{Name: "test", Stream: "TEST", Filter: "test.>"}}
	if _, err := f.nats.JS.CreateStream(f.ctx, jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test.>", "other.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pg.Pool.Exec(f.ctx, "CREATE TABLE seen (seq bigint PRIMARY KEY, body text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return f
}

// publish appends n messages of the feed, each after a message outside it.
func (f *fixture) publish(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if _, err := f.nats.JS.Publish(f.ctx, "other.noise", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.nats.JS.Publish(f.ctx, "test.msg", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) runner(fail func(uint64) bool, batch int) *projection.Runner {
	return projection.New(f.nats.JS, f.pg.Pool, projection.Config{
		Feed: f.feed, Durable: "test", BatchSize: batch,
		RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond,
		Begin: func(w *projection.Writer) projection.Applier { return &seen{w: w, fail: fail} },
	})
}

func (f *fixture) count(t *testing.T, q string) int64 {
	t.Helper()
	var n int64
	if err := f.pg.Pool.QueryRow(f.ctx, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) position(t *testing.T) int64 {
	return f.count(t, "SELECT coalesce(max(last_seq), 0) FROM projection_state WHERE name = 'test'")
}

// TestRunnerExactlyOnce: instances sharing the durable, one stopped and
// restarted mid-stream, a batch failing for a while: every message of the
// feed is applied once, in order, and the position is the last of them.
func TestRunnerExactlyOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 300)
	var mu sync.Mutex
	failed := 0
	fail := func(seq uint64) bool {
		// The message at sequence 200 fails its first five attempts.
		mu.Lock()
		defer mu.Unlock()
		if seq == 200 && failed < 5 {
			failed++
			return true
		}
		return false
	}
	a, b := f.runner(fail, 7), f.runner(fail, 5)
	for _, r := range []*projection.Runner{a, b} {
		if err := r.Start(f.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop() })
	}
	fmntest.Eventually(t, 10*time.Second, "some progress", func() bool { return f.position(t) >= 100 })
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	f.publish(t, 100)
	if err := a.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 20*time.Second, "the feed applied", func() bool { return f.position(t) == 800 })
	if n := f.count(t, "SELECT count(*) FROM seen"); n != 400 {
		t.Fatalf("%d messages applied, want 400", n)
	}
	if n := f.count(t, "SELECT count(*) FROM seen WHERE seq % 2 = 1"); n != 0 {
		t.Fatalf("%d messages outside the feed applied", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != 5 {
		t.Fatalf("the failing message failed %d times, want 5", failed)
	}
	if sa, sb := a.Stats(), b.Stats(); sa.Applied+sb.Applied != 400 {
		t.Fatalf("applied %d + %d, want 400", sa.Applied, sb.Applied)
	}
}

// TestRunnerRebuildAndLostConsumer: Rebuild reads the feed back; a durable
// consumer deleted under a running runner is set up again from the
// position, without applying anything twice.
func TestRunnerRebuildAndLostConsumer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 50)
	r := f.runner(nil, 0)
	if err := r.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	fmntest.Eventually(t, 10*time.Second, "the feed applied", func() bool { return f.position(t) == 100 })

	if err := f.nats.JS.DeleteConsumer(f.ctx, "TEST", "test"); err != nil {
		t.Fatal(err)
	}
	f.publish(t, 10)
	fmntest.Eventually(t, 20*time.Second, "the feed applied after the consumer was lost", func() bool { return f.position(t) == 120 })
	if n := f.count(t, "SELECT count(*) FROM seen"); n != 60 {
		t.Fatalf("%d messages applied, want 60", n)
	}

	var progress [][2]uint64
	done, err := projection.Rebuild(f.ctx, f.nats.JS, f.pg.Pool, []projection.Target{{Feed: f.feed,
		Clear: func(ctx context.Context, w *projection.Writer, st jetstream.StreamState) (projection.Applier, error) {
			if st.LastSeq != 120 {
				return nil, errors.New("rebuild of a stream at " + strconv.FormatUint(st.LastSeq, 10))
			}
			_, err := w.Exec(ctx, "DELETE FROM seen")
			return &seen{w: w}, err
		}}}, func(done, total uint64) { progress = append(progress, [2]uint64{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || done[0].Messages != 60 || done[0].LastSeq != 120 {
		t.Fatalf("rebuilt %+v", done)
	}
	if n := f.count(t, "SELECT count(*) FROM seen"); n != 60 || f.position(t) != 120 {
		t.Fatalf("%d messages after the rebuild at %d, want 60 at 120", n, f.position(t))
	}
	if len(progress) < 2 || progress[len(progress)-1][0] != 60 {
		t.Fatalf("progress %v", progress)
	}
	f.publish(t, 1)
	fmntest.Eventually(t, 10*time.Second, "the runner goes on after the rebuild", func() bool { return f.position(t) == 122 })
}

// TestRunnerClaimLost: a runner that knows where it left the position sends
// its transaction in one round trip claiming that position; when another
// instance moved it meanwhile, the claim fails, nothing of the round trip
// is applied, and the batch is applied again from the position read under
// its lock: what the other applied is skipped, nothing twice.
func TestRunnerClaimLost(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 10)
	a := f.runner(nil, 0)
	if err := a.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 10*time.Second, "the first runner's batches", func() bool { return f.position(t) == 20 })
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	// Another instance, on a durable of its own, applies the next five
	// while the first is stopped: the first one's durable still holds
	// them.
	f.publish(t, 5)
	b := projection.New(f.nats.JS, f.pg.Pool, projection.Config{Feed: f.feed, Durable: "other",
		Begin: func(w *projection.Writer) projection.Applier { return &seen{w: w} }})
	if err := b.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 10*time.Second, "the other runner's batch", func() bool { return f.position(t) == 30 })
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	f.publish(t, 5)
	if err := a.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	fmntest.Eventually(t, 10*time.Second, "the first runner catches up", func() bool { return f.position(t) == 40 })
	if n := f.count(t, "SELECT count(*) FROM seen"); n != 20 {
		t.Fatalf("%d messages applied, want 20", n)
	}
	st := a.Stats()
	if st.ClaimsLost != 1 || st.Applied != 15 || st.Skipped != 5 {
		t.Fatalf("first runner: %+v, want 1 claim lost, 15 applied, 5 skipped", st)
	}
	if b.Stats().ClaimsLost != 0 {
		t.Fatalf("other runner: %+v, want no claim lost", b.Stats())
	}
}
