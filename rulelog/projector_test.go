package rulelog_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// history appends n random rule events of a few users straight to the
// stream, as commands would: creations, updates, deletions, switches, plus
// an event of an unknown type and one on a foreign subject. It returns the
// stream's last sequence.
func history(t *testing.T, b *bundle, n int, seed uint64) uint64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	users := []string{"alice", "bob", "carol", "dave.e", "erin"}
	live := map[string][]int64{}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var last uint64
	publish := func(ev rulelog.Event) { last = b.appendEvent(t, ev) }
	for i := range n {
		user := users[rng.IntN(len(users))]
		ev := rulelog.Event{User: user, Actor: user, Time: base.Add(time.Duration(i) * time.Second)}
		ids := live[user]
		switch k := rng.IntN(10); {
		case len(ids) == 0 || k < 3:
			ev.Type = rulelog.EventRuleCreated
			r := rule(user, fmt.Sprintf("rule %d", i))
			ev.Rule = &r
			publish(ev)
			live[user] = append(ids, int64(last))
			continue
		case k < 6:
			ev.Type, ev.RuleID = rulelog.EventRuleUpdated, ids[rng.IntN(len(ids))]
			r := rule(user, fmt.Sprintf("update %d", i))
			r.ID = ev.RuleID
			ev.Rule = &r
		case k < 8:
			ev.Type, ev.RuleID, ev.Actor = rulelog.EventRuleDisabled, ids[rng.IntN(len(ids))], "admin"
			if rng.IntN(2) == 0 {
				ev.Type = rulelog.EventRuleEnabled
			}
		default:
			j := rng.IntN(len(ids))
			ev.Type, ev.RuleID = rulelog.EventRuleDeleted, ids[j]
			live[user] = slices.Delete(ids, j, j+1)
		}
		publish(ev)
	}
	// What a later version might write, and what a projector of this
	// version must pass over without stopping.
	publish(rulelog.Event{Type: "rule.snoozed", User: "alice", RuleID: 1, Time: base})
	m := nats.NewMsg("rules.admin.note")
	m.Data = []byte(`{"type":"note"}`)
	if _, err := b.nats.JS.PublishMsg(b.ctx, m); err != nil {
		t.Fatal(err)
	}
	r := rule("zed", "after the unknown ones")
	publish(rulelog.Event{Type: rulelog.EventRuleCreated, User: "zed", Rule: &r, Time: base})
	return last
}

// reference builds the projection of b's stream into a fresh schema with a
// rebuild and returns its dump.
func reference(t *testing.T, b *bundle) string {
	t.Helper()
	pg := fmntest.StartPostgres(t)
	p := b.projector(t, pg.Pool, rulelog.ProjectorConfig{Redis: nil, RedisPrefix: "unused:"})
	if _, err := p.Rebuild(b.ctx); err != nil {
		t.Fatal(err)
	}
	return dump(t, b.ctx, pg.Pool)
}

func TestProjector(t *testing.T) {
	t.Parallel()

	t.Run("KillRestartAndRedeliveryApplyOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{noProjector: true, projectionWait: 50 * time.Millisecond})
		end := history(t, b, 1500, 1)

		// A first projector with small batches is stopped mid-stream; the
		// events it held are still pending on the durable when the second
		// one starts, which must fetch them itself.
		p1 := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{BatchSize: 5})
		if err := p1.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		fmntest.Eventually(t, 10*time.Second, "first projector makes progress", func() bool { return p1.Stats().LastSeq >= 100 })
		p1.Stop()
		t.Logf("first projector stopped at %d of %d", p1.Stats().LastSeq, end)

		p2 := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{})
		if err := p2.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p2.Stop)
		waitProjected(t, b, b.pg.Pool, end)
		p2.Stop()
		got := dump(t, b.ctx, b.pg.Pool)
		if want := reference(t, b); got != want {
			t.Fatalf("projection after a restart differs from a clean build:\n got %s\nwant %s", got, want)
		}
		s1, s2 := p1.Stats(), p2.Stats()
		if s1.Applied+s2.Applied != end {
			t.Fatalf("applied %d + %d events, want %d in all", s1.Applied, s2.Applied, end)
		}

		// Reset the durable: every event is delivered again, none applied.
		if err := b.nats.JS.DeleteConsumer(b.ctx, b.nats.Streams.Rules, "projector"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.nats.JS.CreateConsumer(b.ctx, b.nats.Streams.Rules, jetstream.ConsumerConfig{
			Durable: "projector", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		}); err != nil {
			t.Fatal(err)
		}
		p3 := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{})
		if err := p3.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p3.Stop)
		fmntest.Eventually(t, 10*time.Second, "redelivered stream acked", func() bool {
			ci, err := b.nats.JS.Consumer(b.ctx, b.nats.Streams.Rules, "projector")
			if err != nil {
				return false
			}
			info, err := ci.Info(b.ctx)
			return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == end
		})
		if s := p3.Stats(); s.Applied != 0 || s.Skipped != end {
			t.Fatalf("after a reset: applied %d, skipped %d; want 0 and %d", s.Applied, s.Skipped, end)
		}
		if again := dump(t, b.ctx, b.pg.Pool); again != got {
			t.Fatalf("redelivery changed the tables:\n got %s\nwant %s", again, got)
		}
	})

	t.Run("OneEventPerTransactionMatchesFolding", func(t *testing.T) {
		t.Parallel()
		// A rebuild gathers the creations and folds the later updates and
		// switches of their rules into them; applied one event per
		// transaction, nothing is gathered. Both must give the same rows
		// (each event has its own time, so updated_at tells them apart).
		b := setup(t, setupOpts{noProjector: true, projectionWait: 50 * time.Millisecond})
		end := history(t, b, 300, 3)
		p := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{BatchSize: 1})
		if err := p.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		waitProjected(t, b, b.pg.Pool, end)
		p.Stop()
		got := dump(t, b.ctx, b.pg.Pool)
		if n := count(t, b.ctx, b.pg.Pool, `SELECT count(*) FROM rules WHERE updated_at > created_at`); n == 0 {
			t.Fatal("no rule was changed after its creation: the history tests nothing")
		}
		if want := reference(t, b); got != want {
			t.Fatalf("one event per transaction differs from a rebuild:\n got %s\nwant %s", got, want)
		}
	})

	t.Run("TwoInstancesShareTheDurable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{noProjector: true, projectionWait: 50 * time.Millisecond})
		var ps []*rulelog.Projector
		for range 2 {
			p := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{BatchSize: 3})
			if err := p.Start(b.ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Stop)
			ps = append(ps, p)
		}
		end := history(t, b, 800, 2)
		waitProjected(t, b, b.pg.Pool, end)
		if got, want := dump(t, b.ctx, b.pg.Pool), reference(t, b); got != want {
			t.Fatalf("two projectors differ from a clean build:\n got %s\nwant %s", got, want)
		}
		a, c := ps[0].Stats(), ps[1].Stats()
		t.Logf("instance 1: %+v, instance 2: %+v", a, c)
		if a.Applied+c.Applied != end {
			t.Fatalf("applied %d + %d, want %d", a.Applied, c.Applied, end)
		}
	})

	t.Run("RebuildIsIdentical", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		var ids []int64
		for i := range 30 {
			user := []string{"alice", "bob", "carol"}[i%3]
			r, err := b.cmds.Create(b.ctx, user, rule(user, fmt.Sprint(i)), rulelog.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		for i, id := range ids {
			user := []string{"alice", "bob", "carol"}[i%3]
			var err error
			switch i % 5 {
			case 0:
				_, err = b.cmds.Update(b.ctx, user, id, rule(user, "updated"), nil, rulelog.Meta{})
			case 1:
				_, err = b.cmds.SetDisabled(b.ctx, id, true, rulelog.Meta{Actor: "admin"})
			case 2:
				err = b.cmds.Delete(b.ctx, user, id, nil, rulelog.Meta{})
			case 3:
				if _, err = b.cmds.SetDisabled(b.ctx, id, true, rulelog.Meta{Actor: "admin"}); err == nil {
					_, err = b.cmds.SetDisabled(b.ctx, id, false, rulelog.Meta{Actor: "admin"})
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := b.cmds.EnsureUser(b.ctx, "nobody-yet", rulelog.Meta{}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := b.cmds.SetDelivery(b.ctx, "alice", []delivery.Setting{
			{Protocol: "email", Address: "alice@example.org", Digest: &delivery.Digest{MaxAge: 3600}},
		}, nil, rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		// A user whose first event is a delivery setting.
		if err := b.cmds.SetPaused(b.ctx, "dave", "irc", "dave", true); err != nil {
			t.Fatal(err)
		}
		end := streamLastSeq(t, b)
		before := dump(t, b.ctx, b.pg.Pool)
		if n := count(t, b.ctx, b.pg.Pool, `SELECT count(*) FROM rule_tombstones`); n != 6 {
			t.Fatalf("%d tombstones, want 6", n)
		}
		// A Redis that outlived its stream holds a version from the future.
		if err := b.redis.Do(b.ctx, b.redis.B().Set().Key(rulelog.VersionKey(b.prefix)).Value("999999").Build()).Error(); err != nil {
			t.Fatal(err)
		}

		last, err := b.proj.Rebuild(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if last != end {
			t.Fatalf("rebuilt to %d, want %d", last, end)
		}
		if after := dump(t, b.ctx, b.pg.Pool); after != before {
			t.Fatalf("rebuild differs from the incremental projection:\nincremental %s\n    rebuilt %s", before, after)
		}
		v, err := b.redis.Do(b.ctx, b.redis.B().Get().Key(rulelog.VersionKey(b.prefix)).Build()).AsUint64()
		if err != nil || v != end {
			t.Fatalf("Redis version %d (%v), want %d", v, err, end)
		}
		// The running projector goes on from the rebuilt state.
		r, err := b.cmds.Create(b.ctx, "alice", rule("alice", "after"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Name != "after" || r.Version != end+1 {
			t.Fatalf("after the rebuild: %+v version %d", r.Rule, r.Version)
		}
	})

	t.Run("RefreshesPlannerStatisticsAfterABulk", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{noProjector: true, projectionWait: 50 * time.Millisecond})
		analyzed := func() int {
			return count(t, b.ctx, b.pg.Pool, `SELECT count(*) FROM pg_stat_user_tables
				WHERE schemaname = $1 AND relname = 'rules' AND analyze_count > 0`, b.pg.Schema)
		}
		p := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{AnalyzeEvery: 200})
		if err := p.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		end := history(t, b, 150, 3)
		waitProjected(t, b, b.pg.Pool, end)
		if analyzed() != 0 {
			t.Fatalf("rules analyzed after %d events, fewer than AnalyzeEvery", end)
		}
		end = history(t, b, 100, 4)
		waitProjected(t, b, b.pg.Pool, end)
		// The statistics collector reports with a delay.
		fmntest.Eventually(t, 10*time.Second, "rules analyzed after 200 events", func() bool { return analyzed() == 1 })
	})

	t.Run("RebuildOfAnEmptyStream", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{noProjector: true})
		last, err := b.proj.Rebuild(b.ctx)
		if err != nil || last != 0 {
			t.Fatalf("rebuild: %d, %v", last, err)
		}
	})
}

func TestReader(t *testing.T) {
	t.Parallel()

	t.Run("ChangesIncremental", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		// A consumer's view, kept up to date with Changes only.
		view := map[int64]string{}
		var version uint64
		sync := func() {
			t.Helper()
			changed, deleted, v, err := b.reader.Changes(b.ctx, version)
			if err != nil {
				t.Fatal(err)
			}
			if v < version {
				t.Fatalf("version went back from %d to %d", version, v)
			}
			for _, r := range changed {
				view[r.ID] = r.Name + "/" + strconv.FormatBool(r.Disabled) + "/" + r.User.Name
			}
			for _, id := range deleted {
				delete(view, id)
			}
			version = v
		}
		full := func() map[int64]string {
			changed, _, _, err := b.reader.Changes(b.ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			m := map[int64]string{}
			for _, r := range changed {
				m[r.ID] = r.Name + "/" + strconv.FormatBool(r.Disabled) + "/" + r.User.Name
			}
			return m
		}
		sync()
		if len(view) != 0 || version != 0 {
			t.Fatalf("empty projection: %v at %d", view, version)
		}
		var ids []int64
		for i := range 6 {
			r, err := b.cmds.Create(b.ctx, "alice", rule("alice", fmt.Sprint(i)), rulelog.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		sync()
		if len(view) != 6 || version != uint64(ids[5]) {
			t.Fatalf("after creations: %v at %d", view, version)
		}
		for step, f := range []func() error{
			func() error {
				_, err := b.cmds.Update(b.ctx, "alice", ids[0], rule("alice", "x"), nil, rulelog.Meta{})
				return err
			},
			func() error { return b.cmds.Delete(b.ctx, "alice", ids[1], nil, rulelog.Meta{}) },
			func() error { _, err := b.cmds.SetDisabled(b.ctx, ids[2], true, rulelog.Meta{}); return err },
			func() error {
				// Created and deleted between two syncs.
				r, err := b.cmds.Create(b.ctx, "bob", rule("bob", "short-lived"), rulelog.Meta{})
				if err == nil {
					err = b.cmds.Delete(b.ctx, "bob", r.ID, nil, rulelog.Meta{})
				}
				return err
			},
			func() error { _, err := b.cmds.Create(b.ctx, "bob", rule("bob", "b"), rulelog.Meta{}); return err },
		} {
			if err := f(); err != nil {
				t.Fatal(err)
			}
			prev := version
			changedBefore := len(view)
			sync()
			if version <= prev {
				t.Fatalf("step %d: version %d did not move past %d", step, version, prev)
			}
			if want := full(); fmt.Sprint(want) != fmt.Sprint(view) {
				t.Fatalf("step %d: incremental view %v, full load %v (had %d)", step, view, want, changedBefore)
			}
		}
		changed, deleted, v, err := b.reader.Changes(b.ctx, version)
		if err != nil || len(changed) != 0 || len(deleted) != 0 || v != version {
			t.Fatalf("nothing new: %v %v %d %v", changed, deleted, v, err)
		}
	})

	t.Run("VersionFollowsTheProjector", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		v, err := b.reader.Version(b.ctx)
		if err != nil || v != 0 {
			t.Fatalf("version before any event: %d, %v", v, err)
		}
		var wake <-chan struct{}
		other := rulelog.NewReader(b.pg.Pool, newRedis(t, b.prefix, &wake), b.prefix)
		if v, err := other.Version(b.ctx); err != nil || v != 0 { // tracks the key
			t.Fatalf("version: %d, %v", v, err)
		}
		r, err := b.cmds.Create(b.ctx, "alice", rule("alice", "a"), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
		case <-time.After(fmntest.Scaled(5 * time.Second)):
			t.Fatal("no invalidation of the version key")
		}
		if v, err := other.Version(b.ctx); err != nil || v != r.Version {
			t.Fatalf("version after the invalidation: %d, %v; want %d", v, err, r.Version)
		}
		// Served from the client-side cache now.
		if v, err := other.Version(b.ctx); err != nil || v != r.Version {
			t.Fatalf("cached version: %d, %v", v, err)
		}
		// Without Redis, Version reads the projection.
		if v, err := rulelog.NewReader(b.pg.Pool, nil, "").Version(b.ctx); err != nil || v != r.Version {
			t.Fatalf("version from PostgreSQL: %d, %v", v, err)
		}
	})
}

// TestThroughput measures how fast a projector catches up with a backlog
// and how fast a rebuild goes, for the operators' note.
func TestThroughput(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("measures throughput")
	}
	b := setup(t, setupOpts{noProjector: true})
	const n = 20000
	end := history(t, b, n, 3)

	start := time.Now()
	p := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{})
	if err := p.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	waitProjectedWithin(t, b, b.pg.Pool, end, 5*time.Minute)
	took := time.Since(start)
	t.Logf("projector catch-up: %d events in %s (%.0f events/s)", end, took.Round(time.Millisecond), float64(end)/took.Seconds())
	p.Stop()
	before := dump(t, b.ctx, b.pg.Pool)

	start = time.Now()
	if _, err := p.Rebuild(b.ctx); err != nil {
		t.Fatal(err)
	}
	took = time.Since(start)
	t.Logf("rebuild: %d events in %s (%.0f events/s)", end, took.Round(time.Millisecond), float64(end)/took.Seconds())
	if after := dump(t, b.ctx, b.pg.Pool); after != before {
		t.Fatal("rebuild differs from the incremental projection")
	}
}
