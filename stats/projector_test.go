package stats_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

func TestStatisticsExactlyOnce(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	pg := fmntest.StartPostgres(t)
	ctx := fmntest.Context(t)
	hour := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

	// 300 notifications: rule 1 produced all, rule 2 every third; half in
	// the next hour.
	want := map[int64]int64{}
	for i := range 300 {
		ids := []int64{1}
		if i%3 == 0 {
			ids = append(ids, 2)
		}
		for _, id := range ids {
			want[id]++
		}
		note := notification.Notification{ID: fmntest.RandomID(), Protocol: "email", RuleIDs: ids,
			CreatedAt: hour.Add(time.Duration(i) * 15 * time.Second)}
		data, _ := json.Marshal(note)
		m := nats.NewMsg(wire.NotifySubject("email"))
		m.Data = data
		if _, err := n.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Something that is not a notification is skipped, never fatal.
	if _, err := n.JS.Publish(ctx, wire.NotifySubject("email"), []byte("garbage")); err != nil {
		t.Fatal(err)
	}

	total := func() map[int64]int64 {
		got := map[int64]int64{}
		rows, err := pg.Pool.Query(ctx, "SELECT rule_id, sum(count) FROM rule_generated GROUP BY rule_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, c int64
			if err := rows.Scan(&id, &c); err != nil {
				t.Fatal(err)
			}
			got[id] = c
		}
		return got
	}
	run := func(durable string) {
		p := stats.NewProjector(n.JS, pg.Pool, n.Streams, nil)
		p.Durable = durable
		p.Batch = 64
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(rctx) }()
		fmntest.Eventually(t, 10*time.Second, "projection reaches the end of NOTIFY", func() bool {
			var last int64
			_ = pg.Pool.QueryRow(ctx, "SELECT last_seq FROM projection_state WHERE name = 'stats'").Scan(&last)
			c, err := n.JS.Consumer(ctx, n.Streams.Notify, durable)
			if err != nil {
				return false
			}
			info, err := c.Info(ctx)
			return err == nil && last == 301 && info.NumPending == 0 && info.NumAckPending == 0
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run("stats")
	if got := total(); got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("counts %v, want %v", got, want)
	}
	var buckets int
	if err := pg.Pool.QueryRow(ctx, "SELECT count(*) FROM rule_generated WHERE rule_id = 1").Scan(&buckets); err != nil || buckets != 2 {
		t.Errorf("rule 1 has %d hourly buckets (%v), want 2", buckets, err)
	}

	// A second consumer replaying NOTIFY from the start (as after a lost
	// durable) applies nothing twice.
	run("stats-replay")
	if got := total(); got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("after a replay counts %v, want %v", got, want)
	}
}
