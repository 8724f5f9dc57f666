package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
)

// countGenerated counts notifications of rule created at the given times
// the way fmn does: it publishes them on NOTIFY and runs the statistics
// projection, rule_generated's one writer, until it has counted them.
func countGenerated(t *testing.T, b *bundle, rule int64, times ...time.Time) {
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
	p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, nil)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	fmntest.WaitCaughtUp(t, b.ctx, b.nats.JS, b.pg.Pool, b.nats.Streams.Notify, stats.ProjectionName, 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
