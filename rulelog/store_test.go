package rulelog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
)

// TestGeneratedLastWeek: rule_generated is written by its one owner, the
// statistics projection, from the notifications on NOTIFY; the store reads
// generated_last_week from it.
func TestGeneratedLastWeek(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	r, err := b.cmds.Create(b.ctx, "alice", rule("alice", "counted"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.cmds.Create(b.ctx, "alice", rule("alice", "quiet"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var times []time.Time
	for _, at := range []time.Time{now, now.Add(-time.Minute), now.Add(-48 * time.Hour)} {
		times = append(times, at, at)
	}
	// Notifications of one hour add up.
	times = append(times, now, now, now, now)
	// Older than a week: left out, and dropped by the retention.
	old := now.Add(-30 * 24 * time.Hour)
	for range 100 {
		times = append(times, old)
	}
	p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, testLogger(t))
	publishGenerated(t, b, r.ID, times)
	projectStats(t, b, p)

	got, err := b.store.Rule(b.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.GeneratedLastWeek != 10 {
		t.Fatalf("generated_last_week %d, want 10 (the 30-day-old 100 left out)", got.GeneratedLastWeek)
	}
	list, err := b.store.UserRules(b.ctx, "alice")
	if err != nil || len(list) != 2 || list[0].GeneratedLastWeek != 10 || list[1].ID != other.ID || list[1].GeneratedLastWeek != 0 {
		t.Fatalf("user rules: %+v, %v", list, err)
	}
	p.Retention = 7 * 24 * time.Hour
	if _, err := p.Expire(b.ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, b.ctx, b.pg.Pool, `SELECT count(*) FROM rule_generated WHERE bucket < now() - interval '7 days'`); n != 0 {
		t.Fatalf("%d buckets older than the retention left", n)
	}
	if got, err := b.store.Rule(b.ctx, r.ID); err != nil || got.GeneratedLastWeek != 10 {
		t.Fatalf("after the retention: generated_last_week %d (%v), want 10", got.GeneratedLastWeek, err)
	}
	if c := count(t, b.ctx, b.pg.Pool, `SELECT count(*) FROM rule_generated WHERE bucket <> date_trunc('hour', bucket, 'UTC')`); c != 0 {
		t.Fatalf("%d buckets are not whole UTC hours", c)
	}
}

// publishGenerated publishes a notification of rule on NOTIFY for each
// time, created then.
func publishGenerated(t *testing.T, b *bundle, rule int64, times []time.Time) {
	t.Helper()
	for i, at := range times {
		data, err := json.Marshal(notification.Notification{ID: fmt.Sprintf("n%d", i), Protocol: "email",
			User: "alice", App: "bodhi", RuleIDs: []int64{rule}, CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.nats.JS.Publish(b.ctx, wire.NotifySubject("email"), data); err != nil {
			t.Fatal(err)
		}
	}
}

// projectStats runs the statistics projection until it has counted every
// notification on NOTIFY.
func projectStats(t *testing.T, b *bundle, p *stats.Projector) {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	fmntest.WaitCaughtUp(t, b.ctx, b.nats.JS, b.pg.Pool, b.nats.Streams.Notify, stats.ProjectionName, 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
