package rulelog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

func TestCommands(t *testing.T) {
	t.Parallel()

	t.Run("CreateUpdateDelete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		in := rule("alice", "My packages")
		in.ID, in.User.Name = 999, "mallory" // the server's to set
		created, err := b.cmds.Create(b.ctx, "alice", in, rulelog.Meta{RequestID: "req-1"})
		if err != nil {
			t.Fatal(err)
		}
		if created.ID == 999 || created.ID <= 0 || uint64(created.ID) != created.Version {
			t.Fatalf("created id %d version %d: want id = version = the event's sequence", created.ID, created.Version)
		}
		if created.User.Name != "alice" || created.Name != "My packages" || created.Disabled {
			t.Fatalf("created %+v", created.Rule)
		}
		// Read-your-writes: visible as soon as Create returns.
		got, err := b.store.Rule(b.ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != created.Version || string(got.TrackingRule.Params) != `["alice"]` ||
			len(got.GenerationRules) != 1 || got.GenerationRules[0].Filters.Applications[0] != "bodhi" {
			t.Fatalf("stored %+v", got)
		}
		if _, err := b.store.User(b.ctx, "alice"); err != nil {
			t.Fatalf("user row after the first event: %v", err)
		}

		upd := rule("alice", "Renamed")
		updated, err := b.cmds.Update(b.ctx, "alice", created.ID, upd, ptr(created.Version), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if updated.ID != created.ID || updated.Version <= created.Version || updated.Name != "Renamed" {
			t.Fatalf("updated %+v version %d", updated.Rule, updated.Version)
		}
		if !updated.CreatedAt.Equal(got.CreatedAt) || !updated.UpdatedAt.After(got.UpdatedAt) && !updated.UpdatedAt.Equal(got.UpdatedAt) {
			t.Fatalf("timestamps: created %v→%v updated %v→%v", got.CreatedAt, updated.CreatedAt, got.UpdatedAt, updated.UpdatedAt)
		}

		// A stale ETag is refused and appends nothing.
		before := streamLastSeq(t, b)
		if _, err := b.cmds.Update(b.ctx, "alice", created.ID, upd, ptr(created.Version), rulelog.Meta{}); !errors.Is(err, rulelog.ErrPreconditionFailed) {
			t.Fatalf("update with a stale If-Match: %v, want ErrPreconditionFailed", err)
		}
		if err := b.cmds.Delete(b.ctx, "alice", created.ID, ptr(created.Version), rulelog.Meta{}); !errors.Is(err, rulelog.ErrPreconditionFailed) {
			t.Fatalf("delete with a stale If-Match: %v, want ErrPreconditionFailed", err)
		}
		if after := streamLastSeq(t, b); after != before {
			t.Fatalf("refused commands appended: last seq %d → %d", before, after)
		}

		list, err := b.store.UserRules(b.ctx, "alice")
		if err != nil || len(list) != 1 || list[0].Name != "Renamed" {
			t.Fatalf("user rules %+v, %v", list, err)
		}

		if err := b.cmds.Delete(b.ctx, "alice", created.ID, ptr(updated.Version), rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Rule(b.ctx, created.ID); !errors.Is(err, rulelog.ErrNotFound) {
			t.Fatalf("deleted rule: %v, want ErrNotFound", err)
		}
		if n := count(t, b.ctx, b.pg.Pool, `SELECT count(*) FROM rule_tombstones WHERE rule_id = $1 AND version = $2`,
			created.ID, int64(streamLastSeq(t, b))); n != 1 {
			t.Fatalf("tombstones for the deleted rule: %d", n)
		}
		if err := b.cmds.Delete(b.ctx, "alice", created.ID, nil, rulelog.Meta{}); !errors.Is(err, rulelog.ErrNotFound) {
			t.Fatalf("second delete: %v, want ErrNotFound", err)
		}
	})

	t.Run("EventsOnTheUserSubject", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		user := "bob.o'brien" // needs escaping in a subject token
		r, err := b.cmds.Create(b.ctx, user, rule("bob", "x"), rulelog.Meta{Actor: "admin", RequestID: "r-7"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := s.GetLastMsgForSubject(b.ctx, wire.RulesUserSubject(user))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Sequence != r.Version || msg.Header.Get(wire.HeaderEvent) != rulelog.EventRuleCreated || msg.Header.Get(jetstream.MsgIDHeader) == "" {
			t.Fatalf("event seq %d headers %v", msg.Sequence, msg.Header)
		}
		ev, err := rulelog.DecodeEvent(msg.Subject, msg.Header, msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.User != user || ev.Actor != "admin" || ev.RequestID != "r-7" || ev.Time.IsZero() || ev.Rule == nil || ev.Rule.Name != "x" {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("ValidationErrors", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		bad := rule("alice", "bad")
		bad.GenerationRules[0].Filters.Severities = []string{"fatal"}
		bad.GenerationRules[0].Destinations[0].Address = "not-an-address"
		_, err := b.cmds.Create(b.ctx, "alice", bad, rulelog.Meta{})
		var verrs rules.ValidationErrors
		if !errors.Is(err, rulelog.ErrInvalid) || !errors.As(err, &verrs) || len(verrs) != 2 {
			t.Fatalf("create invalid: %v, want ErrInvalid with 2 field errors", err)
		}
		t.Logf("validation error: %v", err)
		good, err := b.cmds.Create(b.ctx, "alice", rule("alice", "ok"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.cmds.Update(b.ctx, "alice", good.ID, bad, nil, rulelog.Meta{}); !errors.Is(err, rulelog.ErrInvalid) {
			t.Fatalf("update invalid: %v, want ErrInvalid", err)
		}
		if last := streamLastSeq(t, b); last != good.Version {
			t.Fatalf("invalid rules appended events: last seq %d, want %d", last, good.Version)
		}
	})

	t.Run("OtherUsersRule", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		bobs, err := b.cmds.Create(b.ctx, "bob", rule("bob", "bob's"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.cmds.Update(b.ctx, "alice", bobs.ID, rule("alice", "mine now"), nil, rulelog.Meta{}); !errors.Is(err, rulelog.ErrNotFound) {
			t.Fatalf("alice updates bob's rule: %v, want ErrNotFound", err)
		}
		if err := b.cmds.Delete(b.ctx, "alice", bobs.ID, ptr(bobs.Version), rulelog.Meta{}); !errors.Is(err, rulelog.ErrNotFound) {
			t.Fatalf("alice deletes bob's rule: %v, want ErrNotFound", err)
		}
		if _, err := b.cmds.Update(b.ctx, "alice", 424242, rule("alice", "x"), nil, rulelog.Meta{}); !errors.Is(err, rulelog.ErrNotFound) {
			t.Fatalf("update of a missing rule: %v, want ErrNotFound", err)
		}
		got, err := b.store.Rule(b.ctx, bobs.ID)
		if err != nil || got.Name != "bob's" || got.Version != bobs.Version {
			t.Fatalf("bob's rule after alice's attempts: %+v, %v", got, err)
		}
	})

	t.Run("AdminDisable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		r, err := b.cmds.Create(b.ctx, "carol", rule("carol", "c"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		off, err := b.cmds.SetDisabled(b.ctx, r.ID, true, rulelog.Meta{Actor: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		if !off.Disabled || off.Version <= r.Version || off.Name != "c" {
			t.Fatalf("disabled: %+v version %d", off.Rule, off.Version)
		}
		again, err := b.cmds.SetDisabled(b.ctx, r.ID, true, rulelog.Meta{Actor: "admin"})
		if err != nil || again.Version != off.Version {
			t.Fatalf("disabling twice: version %d (%v), want unchanged %d", again.Version, err, off.Version)
		}
		list, err := b.store.Rules(b.ctx, rulelog.RuleFilter{Disabled: ptr(true)})
		if err != nil || len(list) != 1 || list[0].ID != r.ID {
			t.Fatalf("admin list of disabled rules: %+v, %v", list, err)
		}
		if list, _ := b.store.Rules(b.ctx, rulelog.RuleFilter{Disabled: ptr(false), User: ptr("carol")}); len(list) != 0 {
			t.Fatalf("enabled rules of carol: %+v", list)
		}
		on, err := b.cmds.SetDisabled(b.ctx, r.ID, false, rulelog.Meta{Actor: "admin"})
		if err != nil || on.Disabled || on.Version <= off.Version {
			t.Fatalf("enabled: %+v version %d, %v", on.Rule, on.Version, err)
		}
		if _, err := b.cmds.SetDisabled(b.ctx, 424242, true, rulelog.Meta{}); !errors.Is(err, rulelog.ErrNotFound) {
			t.Fatalf("disable a missing rule: %v", err)
		}
	})

	t.Run("EnsureUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = b.cmds.EnsureUser(b.ctx, "dave", rulelog.Meta{}, nil) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.User(b.ctx, "dave"); err != nil {
			t.Fatal(err)
		}
		if last := streamLastSeq(t, b); last != 1 {
			t.Fatalf("concurrent EnsureUser appended %d events, want 1", last)
		}
		// A user with rules has a row already; nothing is appended.
		if _, err := b.cmds.Create(b.ctx, "erin", rule("erin", "e"), rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		if err := b.cmds.EnsureUser(b.ctx, "erin", rulelog.Meta{}, nil); err != nil {
			t.Fatal(err)
		}
		if last := streamLastSeq(t, b); last != 2 {
			t.Fatalf("last seq %d, want 2", last)
		}
		users, err := b.store.SearchUsers(b.ctx, "R", 10)
		if err != nil || len(users) != 1 || users[0].Name != "erin" {
			t.Fatalf("search users: %+v, %v", users, err)
		}
		if users, _ := b.store.SearchUsers(b.ctx, "%", 10); len(users) != 0 {
			t.Fatalf("search %% is literal: %+v", users)
		}
	})

	t.Run("ProjectionLagging", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{noProjector: true, projectionWait: fmntest.Scaled(time.Second)})
		r, err := b.cmds.Create(b.ctx, "frank", rule("frank", "f"), rulelog.Meta{})
		if !errors.Is(err, rulelog.ErrProjectionLagging) {
			t.Fatalf("create without a projector: %v, want ErrProjectionLagging", err)
		}
		if r.ID == 0 || r.Version != uint64(r.ID) {
			t.Fatalf("the appended rule comes back with the error: %+v", r)
		}
		// Checks need the projection too: nothing is appended meanwhile.
		if _, err := b.cmds.Update(b.ctx, "frank", r.ID, rule("frank", "g"), nil, rulelog.Meta{}); !errors.Is(err, rulelog.ErrProjectionLagging) {
			t.Fatalf("update while lagging: %v", err)
		}
		if last := streamLastSeq(t, b); last != 1 {
			t.Fatalf("last seq %d, want 1", last)
		}
		if err := b.proj.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.proj.Stop)
		fmntest.Eventually(t, fmntest.Scaled(10*time.Second), "the projector catches up", func() bool { return b.proj.Stats().LastSeq >= 1 })
		if _, err := b.cmds.Update(b.ctx, "frank", r.ID, rule("frank", "g"), ptr(r.Version), rulelog.Meta{}); err != nil {
			t.Fatalf("update once the projector runs: %v", err)
		}
	})
}

func TestConcurrentCommands(t *testing.T) {
	t.Parallel()

	t.Run("WithoutIfMatchAllLand", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		r1, err := b.cmds.Create(b.ctx, "alice", rule("alice", "one"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := b.cmds.Create(b.ctx, "alice", rule("alice", "two"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					id := []int64{r1.ID, r2.ID}[(w+i)%2]
					if _, err := b.cmds.Update(b.ctx, "alice", id, rule("alice", fmt.Sprintf("w%d-%d", w, i)), nil, rulelog.Meta{}); err != nil {
						errs <- err
					}
				}
			})
		}
		// A creation in between makes the updates retry too.
		if _, err := b.cmds.Create(b.ctx, "alice", rule("alice", "three"), rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		want := r2.Version + workers*each + 1
		if last := streamLastSeq(t, b); last != want {
			t.Fatalf("last seq %d, want %d: every update lands exactly once", last, want)
		}
		list, err := b.store.UserRules(b.ctx, "alice")
		if err != nil || len(list) != 3 {
			t.Fatalf("rules: %+v, %v", list, err)
		}
	})

	t.Run("IfMatchOneWins", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		r, err := b.cmds.Create(b.ctx, "alice", rule("alice", "base"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			cur, err := b.store.Rule(b.ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() {
					_, errs[i] = b.cmds.Update(b.ctx, "alice", r.ID, rule("alice", fmt.Sprintf("r%d-%d", round, i)), ptr(cur.Version), rulelog.Meta{})
				})
			}
			wg.Wait()
			ok, failed := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, rulelog.ErrPreconditionFailed):
					failed++
				default:
					t.Fatal(err)
				}
			}
			if ok != 1 || failed != 1 {
				t.Fatalf("round %d: %d succeeded, %d failed with 412; want one each", round, ok, failed)
			}
		}
	})

	t.Run("IfMatchOnDifferentRulesOfOneUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		var list []rulelog.StoredRule
		for i := range 4 {
			r, err := b.cmds.Create(b.ctx, "alice", rule("alice", fmt.Sprint(i)), rulelog.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, r)
		}
		// The subject's sequence moves under each of them, the rules'
		// versions do not: every If-Match holds, every update lands.
		var wg sync.WaitGroup
		errs := make([]error, len(list))
		for i, r := range list {
			wg.Go(func() {
				_, errs[i] = b.cmds.Update(b.ctx, "alice", r.ID, rule("alice", "new"), ptr(r.Version), rulelog.Meta{})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLatency measures how soon a change is visible: to the API (the
// command returns after the projection applied it) and to a consumer (a
// second Redis client is told through invalidation).
func TestLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	var wake <-chan struct{}
	watcher := rulelog.NewReader(b.pg.Pool, newRedis(t, b.prefix, &wake), b.prefix)
	type seen struct {
		version uint64
		at      time.Time
	}
	watcher.Logger = testLogger(t)
	var mu sync.Mutex
	var seenList []seen
	wctx, cancel := context.WithCancel(b.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchVersion(wctx, watcher, wake, func(v uint64) {
			mu.Lock()
			seenList = append(seenList, seen{v, time.Now()})
			mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	seenAt := func(v uint64) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range seenList {
			if s.version >= v {
				return s.at, true
			}
		}
		return time.Time{}, false
	}
	// Warm up connections and the tracking of the key.
	first, err := b.cmds.Create(b.ctx, "alice", rule("alice", "warm"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 5*time.Second, "watcher sees the first version", func() bool { _, ok := seenAt(first.Version); return ok })

	const n = 200
	var create, update, consumer []time.Duration
	for i := range n {
		start := time.Now()
		r, err := b.cmds.Create(b.ctx, "alice", rule("alice", fmt.Sprint(i)), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		create = append(create, time.Since(start))
		var at time.Time
		fmntest.Eventually(t, 5*time.Second, "watcher sees the change", func() bool {
			var ok bool
			at, ok = seenAt(r.Version)
			return ok
		})
		consumer = append(consumer, at.Sub(start))
		start = time.Now()
		if _, err := b.cmds.Update(b.ctx, "alice", r.ID, rule("alice", "u"), ptr(r.Version), rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		update = append(update, time.Since(start))
	}
	t.Logf("create → visible to the API (Create returns): %s", quantiles(create))
	t.Logf("update with If-Match → visible to the API:    %s", quantiles(update))
	t.Logf("create → a consumer's Redis client notified:  %s", quantiles(consumer))
	if p50 := quantile(consumer, 0.5); p50 > 100*time.Millisecond {
		t.Errorf("median change-to-consumer latency %s, the goal is 100ms", p50)
	}
}

// watchVersion calls fn with the version now and after every change, as
// a consumer does, until ctx ends. wake comes from NotifyVersion on the
// options of r's client; each read re-arms Redis' tracking of the key.
func watchVersion(ctx context.Context, r *rulelog.Reader, wake <-chan struct{}, fn func(version uint64)) {
	var last uint64
	first := true
	for {
		if v, err := r.Version(ctx); err == nil && (first || v != last) {
			first, last = false, v
			fn(v)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(time.Second): // after a failed read
		}
	}
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

func quantiles(d []time.Duration) string {
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(d),
		quantile(d, 0.5).Round(time.Microsecond), quantile(d, 0.9).Round(time.Microsecond),
		quantile(d, 0.99).Round(time.Microsecond), quantile(d, 1).Round(time.Microsecond))
}
