package consumer_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
)

// lineWatch is a log writer that passes lines to the test log and
// remembers whether one held a given text.
type lineWatch struct {
	testWriter
	want string
	seen *atomic.Bool
}

func (w lineWatch) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.seen.Store(true)
	}
	return w.testWriter.Write(p)
}

// A node that stalls longer than two heartbeats (the operator's 20 s
// stall, here 3 s against a 1 s heartbeat) makes the pull iterator report
// "no heartbeat received"; the consumer logs it, keeps pulling, and
// handles what comes once the node answers again.
func TestConsumerSurvivesMissingHeartbeats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createRule(t, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("alice@example.org")))
	m := b.newMatcher(t)

	proxy := fmntest.StartProxy(t, b.nats.URL)
	nc, err := nats.Connect(proxy.URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	seen := new(atomic.Bool)
	log := slog.New(slog.NewTextHandler(lineWatch{newTestWriter(t), "no heartbeat", seen}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := consumer.New(nc, b.nats.Streams, m, consumer.Config{PullExpiry: 2 * time.Second}, log)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stillRunning := func() {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("consumer Run ended: %v", err)
		default:
		}
	}

	about := map[string]string{"fedora_messaging_user_alice": "true"}
	b.publish(t, busMsg(t, "before", bodhiTopic, map[string]any{"agent": "bob"}, about))
	fmntest.Eventually(t, 10*time.Second, "the first message acked", func() bool { return c.Stats.Acked.Load() == 1 })

	proxy.Stall()
	fmntest.Eventually(t, 15*time.Second, "the consumer notices the missing heartbeats", func() bool {
		stillRunning()
		return seen.Load()
	})
	// A little longer, as a real stall would last.
	time.Sleep(500 * time.Millisecond)
	stillRunning()
	proxy.Resume()

	b.publish(t, busMsg(t, "after", bodhiTopic, map[string]any{"agent": "bob"}, about))
	fmntest.Eventually(t, 20*time.Second, "the message published after the stall acked", func() bool { return c.Stats.Acked.Load() == 2 })
	stillRunning()
	if n := c.Stats.Notifications.Load(); n != 2 {
		t.Errorf("%d notifications, want 2", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("consumer Run: %v", err)
	}
}

// Started while NATS is away (a node restarting as the process starts),
// the consumer retries setting up its durable consumer instead of
// failing, and matches once NATS is back.
func TestConsumerStartsDuringANATSOutage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createRule(t, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("alice@example.org")))
	m := b.newMatcher(t)
	nc, err := nats.Connect(b.nats.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b.nats.Stop()
	c := consumer.New(nc, b.nats.Streams, m, consumer.Config{}, testLogger(t))
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	// Longer than a JetStream API request waits (5s).
	select {
	case err := <-done:
		t.Fatalf("consumer Run ended during the outage: %v", err)
	case <-time.After(7 * time.Second):
	}
	b.nats.Start(t)

	msg := busMsg(t, "after-outage", bodhiTopic, map[string]any{"agent": "bob"}, map[string]string{"fedora_messaging_user_alice": "true"})
	fmntest.Eventually(t, 20*time.Second, "a publish after the outage", func() bool {
		pctx, pcancel := context.WithTimeout(b.ctx, time.Second)
		defer pcancel()
		_, err := b.nats.JS.PublishMsg(pctx, msg)
		return err == nil
	})
	fmntest.Eventually(t, 30*time.Second, "the message matched and acked", func() bool {
		select {
		case err := <-done:
			t.Fatalf("consumer Run ended: %v", err)
		default:
		}
		return c.Stats.Acked.Load() == 1 && c.Stats.Notifications.Load() == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("consumer Run: %v", err)
	}
}
