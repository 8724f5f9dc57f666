package stats_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

// The statistics role goes on through a NATS restart: its fetches fail
// while the server is away, and it counts what comes once it is back.
func TestStatisticsSurviveANATSRestart(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	pg := fmntest.StartPostgres(t)
	ctx := fmntest.Context(t)
	p := stats.NewProjector(n.JS, pg.Pool, n.Streams, fmntest.Logger(t, slog.LevelInfo))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	stillRunning := func() {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("statistics Run ended: %v", err)
		default:
		}
	}
	publish := func(rule int64) {
		t.Helper()
		data, _ := json.Marshal(notification.Notification{ID: fmntest.RandomID(), Protocol: "email", RuleIDs: []int64{rule}, CreatedAt: time.Now().UTC()})
		m := nats.NewMsg(wire.NotifySubject("email"))
		m.Data = data
		pctx, pcancel := context.WithTimeout(ctx, fmntest.Scaled(10*time.Second))
		defer pcancel()
		for {
			_, err := n.JS.PublishMsg(pctx, m)
			if err == nil {
				return
			}
			if pctx.Err() != nil {
				t.Fatalf("publish: %v", err)
			}
			time.Sleep(50 * time.Millisecond) // reconnecting
		}
	}
	counted := func(rule int64) int64 {
		var c int64
		_ = pg.Pool.QueryRow(ctx, "SELECT coalesce(sum(count), 0) FROM rule_generated WHERE rule_id = $1", rule).Scan(&c)
		return c
	}

	publish(1)
	fmntest.Eventually(t, 10*time.Second, "the first notification counted", func() bool { stillRunning(); return counted(1) == 1 })

	n.Restart(t, 2*time.Second)
	publish(2)
	fmntest.Eventually(t, 30*time.Second, "the notification after the restart counted", func() bool { stillRunning(); return counted(2) == 1 })
	stillRunning()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("statistics Run: %v", err)
	}
}

// Started while NATS is away (a node restarting as the process starts),
// the statistics role retries setting up its consumers instead of
// failing, and counts once NATS is back.
func TestStatisticsStartDuringANATSOutage(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	pg := fmntest.StartPostgres(t)
	ctx := fmntest.Context(t)
	n.Stop()
	p := stats.NewProjector(n.JS, pg.Pool, n.Streams, fmntest.Logger(t, slog.LevelInfo))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	// Longer than a JetStream API request waits (5s).
	select {
	case err := <-done:
		t.Fatalf("statistics Run ended during the outage: %v", err)
	case <-time.After(7 * time.Second):
	}
	n.Start(t)

	data, _ := json.Marshal(notification.Notification{ID: fmntest.RandomID(), Protocol: "email", RuleIDs: []int64{7}, CreatedAt: time.Now().UTC()})
	m := nats.NewMsg(wire.NotifySubject("email"))
	m.Data = data
	fmntest.Eventually(t, 20*time.Second, "a publish after the outage", func() bool {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := n.JS.PublishMsg(pctx, m)
		return err == nil
	})
	fmntest.Eventually(t, 30*time.Second, "the notification counted", func() bool {
		select {
		case err := <-done:
			t.Fatalf("statistics Run ended: %v", err)
		default:
		}
		var c int64
		_ = pg.Pool.QueryRow(ctx, "SELECT coalesce(sum(count), 0) FROM rule_generated WHERE rule_id = 7").Scan(&c)
		return c == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("statistics Run: %v", err)
	}
}
