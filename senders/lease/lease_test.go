package lease_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/senders/senderstest"
)

// config is a short lease, so that expiry takes a second.
func config(holder string) lease.Config {
	return lease.Config{Key: "test", TTL: time.Second, Renew: 200 * time.Millisecond, Poll: 50 * time.Millisecond, Holder: holder}
}

// connect opens a NATS connection of its own, as another process would.
func connect(t *testing.T, n *fmntest.NATS) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func acquire(t *testing.T, js jetstream.JetStream, cfg lease.Config) *lease.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fmntest.Scaled(10*time.Second))
	defer cancel()
	l, err := lease.Acquire(ctx, js, cfg, nil)
	if err != nil {
		t.Fatalf("%s: Acquire: %v", cfg.Holder, err)
	}
	t.Cleanup(func() { _ = l.Release(context.Background()) })
	return l
}

func holder(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	return senderstest.LeaseHolder(t, js, config(""))
}

func TestExclusive(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	_, jsA := connect(t, n)
	_, jsB := connect(t, n)
	a := acquire(t, jsA, config("A"))

	// While A renews, B waits through several TTLs in vain.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if l, err := lease.Acquire(ctx, jsB, config("B"), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("B: Acquire = %v, %v; want to wait until the deadline", l, err)
	}
	select {
	case <-a.Lost():
		t.Fatalf("A lost the lease: %v", a.Err())
	default:
	}
	if h := holder(t, jsB); h != "A" {
		t.Errorf("holder %q, want A", h)
	}
}

func TestRenewal(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	_, js := connect(t, n)
	a := acquire(t, js, config("A"))
	kv, err := js.KeyValue(fmntest.Context(t), lease.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	first, err := kv.Get(fmntest.Context(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * a.TTL())
	select {
	case <-a.Lost():
		t.Fatalf("lost after %s: %v", 3*a.TTL(), a.Err())
	default:
	}
	now, err := kv.Get(fmntest.Context(t), "test")
	if err != nil {
		t.Fatalf("the key expired although renewed: %v", err)
	}
	if now.Revision() <= first.Revision()+5 {
		t.Errorf("revision %d → %d in %s, want a renewal every 200ms", first.Revision(), now.Revision(), 3*a.TTL())
	}
}

func TestReleaseHandsOverAtOnce(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	_, jsA := connect(t, n)
	_, jsB := connect(t, n)
	cfgB := config("B")
	cfgB.Poll = time.Minute // only the watch can wake B in time
	a := acquire(t, jsA, config("A"))

	got := make(chan *lease.Lease, 1)
	go func() {
		l, err := lease.Acquire(fmntest.Context(t), jsB, cfgB, nil)
		if err == nil {
			got <- l
		}
	}()
	time.Sleep(200 * time.Millisecond) // let B find the lease taken
	released := time.Now()
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		t.Cleanup(func() { _ = b.Release(context.Background()) })
		if took := time.Since(released); took > fmntest.Scaled(a.TTL()/2) {
			t.Errorf("B took over %s after the release, want at once", took)
		}
	case <-time.After(fmntest.Scaled(5 * time.Second)):
		t.Fatal("B did not take over after the release")
	}
	select {
	case <-a.Lost():
		t.Error("Release closed Lost")
	default:
	}
}

func TestTakeoverAfterCrash(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ncA, jsA := connect(t, n)
	_, jsB := connect(t, n)
	a := acquire(t, jsA, config("A"))
	var lostAt atomic.Int64
	go func() {
		<-a.Lost()
		lostAt.Store(time.Now().UnixNano())
	}()

	var bAt atomic.Int64
	got := make(chan *lease.Lease, 1)
	go func() {
		l, err := lease.Acquire(fmntest.Context(t), jsB, config("B"), nil)
		if err == nil {
			bAt.Store(time.Now().UnixNano())
			got <- l
		}
	}()
	time.Sleep(300 * time.Millisecond)
	// A's process is cut off: no more renewals, no release.
	crashed := time.Now()
	ncA.Close()

	var b *lease.Lease
	select {
	case b = <-got:
		t.Cleanup(func() { _ = b.Release(context.Background()) })
	case <-time.After(fmntest.Scaled(5 * time.Second)):
		t.Fatal("B did not take over")
	}
	took := time.Since(crashed)
	if took > fmntest.Scaled(2*a.TTL()+time.Second) {
		t.Errorf("B took over %s after the crash, want within about the TTL (%s)", took, a.TTL())
	}
	// A must have given up before B could start.
	select {
	case <-a.Lost():
	case <-time.After(fmntest.Scaled(time.Second)):
		t.Fatal("A never noticed it lost the lease")
	}
	fmntest.Eventually(t, time.Second, "A's loss recorded", func() bool { return lostAt.Load() != 0 })
	if gap := time.Duration(bAt.Load() - lostAt.Load()); gap <= 0 {
		t.Errorf("A gave up %s after B took over, want before", -gap)
	} else {
		t.Logf("A gave up %s before B took over, %s after the crash", gap.Round(time.Millisecond), took.Round(time.Millisecond))
	}
	if !errors.Is(a.Err(), lease.ErrLost) {
		t.Errorf("A.Err() = %v, want ErrLost", a.Err())
	}
	if h := holder(t, jsB); h != "B" {
		t.Errorf("holder %q, want B", h)
	}
}

func TestLostWhenTakenAway(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	_, js := connect(t, n)
	a := acquire(t, js, config("A"))
	kv, err := js.KeyValue(fmntest.Context(t), lease.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	// An operator deletes the key: A notices at its next renewal.
	if err := kv.Delete(fmntest.Context(t), "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Lost():
	case <-time.After(fmntest.Scaled(2 * time.Second)):
		t.Fatal("A did not notice")
	}
}

func TestOneHolderAtATime(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	var active, maxActive, turns atomic.Int32
	var wg sync.WaitGroup
	for _, name := range []string{"A", "B", "C", "D"} {
		_, js := connect(t, n)
		wg.Go(func() {
			for range 3 {
				l, err := lease.Acquire(fmntest.Context(t), js, config(name), nil)
				if err != nil {
					t.Error(err)
					return
				}
				now := active.Add(1)
				for {
					m := maxActive.Load()
					if now <= m || maxActive.CompareAndSwap(m, now) {
						break
					}
				}
				turns.Add(1)
				time.Sleep(20 * time.Millisecond)
				active.Add(-1)
				if err := l.Release(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if maxActive.Load() != 1 || turns.Load() != 12 {
		t.Errorf("%d turns, at most %d holders at once; want 12 turns, one at a time", turns.Load(), maxActive.Load())
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	_, js := connect(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// fn runs while the lease is held; taking the key away cancels it
	// with ErrLost, and Run acquires again and runs fn anew.
	runs := make(chan context.Context, 2)
	done := make(chan error, 1)
	go func() {
		done <- lease.Run(ctx, js, config("A"), nil, func(ctx context.Context) error {
			runs <- ctx
			<-ctx.Done()
			return nil
		})
	}()
	first := <-runs
	kv, err := js.KeyValue(ctx, lease.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.Done():
		if !errors.Is(context.Cause(first), lease.ErrLost) {
			t.Errorf("cause %v, want ErrLost", context.Cause(first))
		}
	case <-time.After(fmntest.Scaled(3 * time.Second)):
		t.Fatal("fn not stopped when the lease was lost")
	}
	select {
	case <-runs:
	case <-time.After(fmntest.Scaled(5 * time.Second)):
		t.Fatal("fn not run again")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if h := holder(t, js); h != "" {
		t.Errorf("holder %q after Run returned, want the lease released", h)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []lease.Config{
		{},
		{Key: "k", TTL: 10 * time.Millisecond},
		{Key: "k", TTL: time.Second, Renew: time.Second},
	} {
		if err := c.WithDefaults().Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (lease.Config{Key: "k"}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
