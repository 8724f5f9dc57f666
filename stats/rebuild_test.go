package stats_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

type bundle struct {
	ctx  context.Context
	nats *fmntest.NATS
	pg   *fmntest.Postgres
	rd   *stats.Reader
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{ctx: fmntest.Context(t), nats: fmntest.StartNATS(t), pg: fmntest.StartPostgres(t)}
	b.rd = stats.NewReader(b.pg.Pool)
	return b
}

func (b *bundle) notify(t *testing.T, n notification.Notification, resend bool) {
	t.Helper()
	data, _ := json.Marshal(n)
	m := nats.NewMsg(wire.NotifySubject(n.Protocol))
	m.Data = data
	if resend {
		m.Header.Set(wire.HeaderResendRun, "run-1")
	}
	if _, err := b.nats.JS.PublishMsg(b.ctx, m); err != nil {
		t.Fatal(err)
	}
}

// project runs the projector until both feeds reach their streams' ends.
func (b *bundle) project(t *testing.T, p *stats.Projector) {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	end := func(stream string) int64 {
		st, err := b.nats.JS.Stream(b.ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int64(info.State.LastSeq)
	}
	fmntest.Eventually(t, 10*time.Second, "both feeds at the end of their streams", func() bool {
		var n, d int64
		_ = b.pg.Pool.QueryRow(b.ctx, "SELECT last_seq FROM projection_state WHERE name = $1", stats.ProjectionName).Scan(&n)
		_ = b.pg.Pool.QueryRow(b.ctx, "SELECT last_seq FROM projection_state WHERE name = $1", stats.DeliveriesProjectionName).Scan(&d)
		return n == end(b.nats.Streams.Notify) && d == end(b.nats.Streams.Events)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDimensionsDeliveriesAndRebuild(t *testing.T) {
	t.Parallel()
	b := setup(t)
	hour := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	for i := range 30 {
		n := notification.Notification{ID: fmntest.RandomID(), Protocol: []string{"email", "irc"}[i%2],
			User: []string{"alice", "bob", "carol"}[i%3], App: []string{"bodhi", ""}[i%2], RuleIDs: []int64{int64(1 + i%3)},
			CreatedAt: hour.Add(time.Duration(i) * 5 * time.Minute)}
		b.notify(t, n, false)
	}
	// A resend is delivered again but was generated once.
	b.notify(t, notification.Notification{ID: "again", Protocol: "email", User: "alice", RuleIDs: []int64{1}, CreatedAt: hour}, true)
	pub, err := senders.NewOutcomePublisher(b.nats.Conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := func(o senders.Outcome) {
		t.Helper()
		if err := pub.Store(b.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range []wire.DeliveryResult{wire.Sent, wire.Sent, wire.Retry, wire.Dead, wire.Sent} {
		store(senders.Outcome{Channel: "email", Result: r, StreamSeq: uint64(i + 1), Delivery: 1,
			Notification: &notification.Notification{ID: "x", User: "alice"}})
	}
	// The same attempt reported twice is stored once.
	store(senders.Outcome{Channel: "email", Result: wire.Sent, StreamSeq: 1, Delivery: 1})
	store(senders.Outcome{Channel: "irc", Result: wire.Retry, StreamSeq: 2, Delivery: 1})

	p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, nil)
	b.project(t, p)
	check := func(when string) {
		t.Helper()
		s, err := b.rd.Summary(b.ctx, stats.Range{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Generated != 30 || len(s.ByChannel) != 2 || s.ByChannel[0] != (stats.Count{Key: "email", Total: 15}) {
			t.Errorf("%s: generated %d by channel %v", when, s.Generated, s.ByChannel)
		}
		want := []stats.Deliveries{{Channel: "email", Sent: 3, Retried: 1, Dead: 1}, {Channel: "irc", Retried: 1}}
		if len(s.Deliveries) != 2 || s.Deliveries[0] != want[0] || s.Deliveries[1] != want[1] {
			t.Errorf("%s: deliveries %v, want %v", when, s.Deliveries, want)
		}
		users, _ := b.rd.Top(b.ctx, stats.DimUser, stats.Range{}, 2)
		if len(users) != 2 || users[0].Total != 10 {
			t.Errorf("%s: top 2 users %v", when, users)
		}
		apps, _ := b.rd.Top(b.ctx, stats.DimApp, stats.Range{}, 0)
		if len(apps) != 2 || apps[0] != (stats.Count{Key: "", Total: 15}) || apps[1] != (stats.Count{Key: "bodhi", Total: 15}) {
			t.Errorf("%s: apps %v", when, apps)
		}
		hourly, _ := b.rd.Hourly(b.ctx, stats.DimUser, "alice", stats.Range{Since: hour.Add(time.Hour)})
		if len(hourly) != 2 || hourly[0].Hour != hour.Add(time.Hour) || hourly[0].Total+hourly[1].Total != 6 {
			t.Errorf("%s: alice per hour from the second hour: %v", when, hourly)
		}
		rule, _ := b.rd.RuleHourly(b.ctx, 1, stats.Range{})
		if len(rule) != 3 || rule[0].Total != 4 {
			t.Errorf("%s: rule 1 per hour %v", when, rule)
		}
	}
	check("projected")

	if _, err := b.pg.Pool.Exec(b.ctx, "DELETE FROM generated_stats; UPDATE delivery_stats SET count = 99; DELETE FROM rule_generated"); err != nil {
		t.Fatal(err)
	}
	res, err := p.Rebuild(b.ctx, stats.RebuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Feeds) != 2 || res.Feeds[0].Messages != 31 || res.Feeds[1].Messages != 6 || !res.Feeds[0].KeptBefore.IsZero() {
		t.Errorf("rebuild %+v", res)
	}
	check("rebuilt")
	// The projector goes on from the rebuild without counting twice.
	b.project(t, p)
	check("projected after the rebuild")
}

// TestRebuildKeepsWhatTheStreamLost: NOTIFY keeps a week; the statistics
// keep longer. A rebuild recomputes only the hours the stream still covers.
func TestRebuildKeepsWhatTheStreamLost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().UTC()
	old, recent := now.Add(-48*time.Hour).Truncate(time.Hour), now.Add(2*time.Hour).Truncate(time.Hour)
	for i := range 20 {
		at := old
		if i >= 10 {
			at = recent
		}
		b.notify(t, notification.Notification{ID: fmntest.RandomID(), Protocol: "email", User: "alice", RuleIDs: []int64{7}, CreatedAt: at}, false)
	}
	p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, nil)
	b.project(t, p)
	// The first 10 expire.
	st, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Notify)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		if err := st.DeleteMsg(b.ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.pg.Pool.Exec(b.ctx, "UPDATE rule_generated SET count = count + 100"); err != nil {
		t.Fatal(err)
	}
	res, err := p.Rebuild(b.ctx, stats.RebuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Feeds[0].KeptBefore.IsZero() || res.Feeds[0].Messages != 10 {
		t.Errorf("rebuild %+v", res.Feeds[0])
	}
	all := stats.Range{Until: now.Add(24 * time.Hour)}
	got, _ := b.rd.RuleHourly(b.ctx, 7, all)
	if len(got) != 2 || got[0].Hour != old || got[0].Total != 110 || got[1].Hour != recent || got[1].Total != 10 {
		t.Errorf("per hour after the rebuild %v: the old hour kept as it was (110), the recent one recomputed (10)", got)
	}

	// Retention drops old buckets.
	p.Retention = 24 * time.Hour
	if n, err := p.Expire(b.ctx); err != nil || n != 4 {
		t.Errorf("expired %d buckets (%v), want 4: the old hour's rule, user, app and channel", n, err)
	}
	if got, _ := b.rd.RuleHourly(b.ctx, 7, all); len(got) != 1 || got[0].Hour != recent {
		t.Errorf("after retention: %v", got)
	}
}
