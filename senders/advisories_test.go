package senders_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

// startCapture runs CaptureAdvisories until the test ends and waits until
// its stream exists, so that no advisory is published unheard.
func startCapture(t *testing.T, n *fmntest.NATS) *senderstest.Outcomes {
	t.Helper()
	out := &senderstest.Outcomes{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- senders.CaptureAdvisories(ctx, n.JS, n.Streams, senders.AdvisoryOptions{OnOutcome: out.Record}, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("CaptureAdvisories: %v", err)
		}
	})
	fmntest.Eventually(t, 10*time.Second, "advisory consumer created", func() bool {
		_, err := n.JS.Consumer(fmntest.Context(t), "ADVISORIES", senders.AdvisoryConsumer)
		return err == nil
	})
	return out
}

// publishAdvisory sends a MAX_DELIVERIES advisory as the server would.
func publishAdvisory(t *testing.T, n *fmntest.NATS, stream, consumer string, seq, deliveries uint64) {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"type": "io.nats.jetstream.advisory.v1.max_deliver", "id": fmntest.RandomID(),
		"stream": stream, "consumer": consumer, "stream_seq": seq, "deliveries": deliveries,
	})
	if err != nil {
		t.Fatal(err)
	}
	subject := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + "." + consumer
	if err := n.Conn.Publish(subject, data); err != nil {
		t.Fatal(err)
	}
}

func TestCaptureAdvisories(t *testing.T) {
	t.Parallel()

	t.Run("OperatorMaxDeliverEndsInDeadLetters", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		captured := startCapture(t, n)
		r := &recorder{fail: func(*notification.Notification, int) error { return errors.New("relay busy") }}
		// Run would give up after 10 attempts; the operator's MaxDeliver
		// of 2 makes the server give up first, silently but for the
		// advisory.
		out := senderstest.Start(t, n, r, senderstest.FastOptions(10), nil)
		ctx := fmntest.Context(t)
		fmntest.Eventually(t, 10*time.Second, "sender consumer created", func() bool {
			_, err := n.JS.Consumer(ctx, n.Streams.Notify, senders.ConsumerName(channel))
			return err == nil
		})
		cc := senders.ConsumerConfig(channel, senderstest.FastOptions(10))
		cc.MaxDeliver = 2
		if _, err := n.JS.UpdateConsumer(ctx, n.Streams.Notify, cc); err != nil {
			t.Fatal(err)
		}

		senderstest.Publish(t, n, channel, note("x"))
		dl := senderstest.WaitDeadLetters(t, n, channel, 1)[0]
		senderstest.Settled(t, n, channel)
		wantHeaders := map[string]string{
			wire.HeaderReason:      "exhausted 2 deliveries: consumer sender-test reached its MaxDeliver",
			wire.HeaderDeliveries:  "2",
			wire.HeaderSource:      "notify.test",
			wire.HeaderSourceSq:    "1",
			wire.HeaderSourceMsgID: "x",
			jetstream.MsgIDHeader:  n.Streams.Notify + ":1",
		}
		for k, v := range wantHeaders {
			if got := dl.Header.Get(k); got != v {
				t.Errorf("dead letter header %s = %q, want %q", k, got, v)
			}
		}
		if !strings.Contains(string(dl.Data), `"id":"x"`) {
			t.Errorf("dead letter data is not the notification: %s", dl.Data)
		}
		if got := r.Attempts("x"); got != 2 {
			t.Errorf("%d attempts, want 2", got)
		}
		if out.Count(wire.Retry) != 2 || out.Count(wire.Dead) != 0 {
			t.Errorf("Run's outcomes %+v, want two retries", out.All())
		}
		fmntest.Eventually(t, 10*time.Second, "dead outcome reported", func() bool { return captured.Count(wire.Dead) == 1 })
		if o := captured.All()[0]; o.Channel != channel || o.Notification == nil || o.Notification.ID != "x" || o.Delivery != 2 {
			t.Errorf("outcome %+v", o)
		}
	})

	t.Run("NotificationGoneIsStillRecorded", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		startCapture(t, n)
		publishAdvisory(t, n, n.Streams.Notify, senders.ConsumerName("irc"), 42, 7)
		dl := senderstest.WaitDeadLetters(t, n, "irc", 1)[0]
		want := "exhausted 7 deliveries: consumer sender-irc reached its MaxDeliver; the notification is no longer in stream NOTIFY"
		if got := dl.Header.Get(wire.HeaderReason); got != want {
			t.Errorf("reason\n got %q\nwant %q", got, want)
		}
		if dl.Header.Get(wire.HeaderSourceSq) != "42" || len(dl.Data) != 0 {
			t.Errorf("dead letter %v %q", dl.Header, dl.Data)
		}
	})

	t.Run("OneDeadLetterPerNotification", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		startCapture(t, n)
		senderstest.Publish(t, n, "email", &notification.Notification{ID: "dup", Protocol: "email"})
		publishAdvisory(t, n, n.Streams.Notify, senders.ConsumerName("email"), 1, 3)
		publishAdvisory(t, n, n.Streams.Notify, senders.ConsumerName("email"), 1, 3)
		// A marker after both: once it is dead-lettered, both advisories
		// have been handled.
		publishAdvisory(t, n, n.Streams.Notify, senders.ConsumerName("email"), 99, 3)
		senderstest.WaitDeadLetters(t, n, "email", 2)
		dls := senderstest.DeadLetters(t, n, "email")
		if len(dls) != 2 || dls[0].Header.Get(wire.HeaderSourceSq) != "1" || dls[1].Header.Get(wire.HeaderSourceSq) != "99" {
			t.Errorf("%d dead letters, want one for seq 1 and one for seq 99", len(dls))
		}
	})

	t.Run("OtherConsumersAreIgnored", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		startCapture(t, n)
		senderstest.Publish(t, n, "email", &notification.Notification{ID: "a", Protocol: "email"})
		publishAdvisory(t, n, n.Streams.Bus, "matcher", 1, 5)
		publishAdvisory(t, n, n.Streams.Notify, "replay-tool", 1, 5)
		ctx := fmntest.Context(t)
		fmntest.Eventually(t, 10*time.Second, "advisories acknowledged", func() bool {
			c, err := n.JS.Consumer(ctx, "ADVISORIES", senders.AdvisoryConsumer)
			if err != nil {
				return false
			}
			info, err := c.Info(ctx)
			return err == nil && info.AckFloor.Stream == 2
		})
		st, err := n.JS.Stream(ctx, n.Streams.DLQ)
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := st.Info(ctx); info.State.Msgs != 0 {
			t.Errorf("%d dead letters for advisories of other consumers", info.State.Msgs)
		}
	})
}
