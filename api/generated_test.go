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
	"github.com/fmn-project/fmn/streams"
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
		if _, err := b.nats.JS.Publish(b.ctx, streams.NotifySubject("email"), data); err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Notify)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, nil)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	fmntest.Eventually(t, 10*time.Second, "the statistics count every notification", func() bool {
		var last int64
		_ = b.pg.Pool.QueryRow(b.ctx, "SELECT last_seq FROM projection_state WHERE name = $1", stats.ProjectionName).Scan(&last)
		return uint64(last) == info.State.LastSeq
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
