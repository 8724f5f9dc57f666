package senders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

const channel = "test"

// recorder is a Sender whose behaviour each test scripts: fail decides the
// result of each attempt (nil: sent).
type recorder struct {
	fail func(n *notification.Notification, attempt int) error

	mu       sync.Mutex
	attempts map[string]int
	sent     []string
}

func (r *recorder) Channel() string { return channel }
func (r *recorder) Close() error    { return nil }

func (r *recorder) Send(ctx context.Context, n *notification.Notification) error {
	r.mu.Lock()
	if r.attempts == nil {
		r.attempts = map[string]int{}
	}
	r.attempts[n.ID]++
	attempt := r.attempts[n.ID]
	r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(n, attempt); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.sent = append(r.sent, n.ID)
	r.mu.Unlock()
	return nil
}

func (r *recorder) Sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

func (r *recorder) Attempts(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[id]
}

func note(id string) *notification.Notification {
	return &notification.Notification{ID: id, Protocol: channel, Address: "someone", Line: "[app] hello " + id}
}

func TestRun(t *testing.T) {
	t.Parallel()

	t.Run("SendsAndAcks", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{}
		out := senderstest.Start(t, n, r, senderstest.FastOptions(5), nil)
		for i := range 3 {
			senderstest.Publish(t, n, channel, note(fmt.Sprint("n", i)))
		}
		fmntest.Eventually(t, 10*time.Second, "3 sent", func() bool { return out.Count(wire.Sent) == 3 })
		info := senderstest.Settled(t, n, channel)
		if got := strings.Join(r.Sent(), ","); got != "n0,n1,n2" {
			t.Errorf("sent %s, want n0,n1,n2 in order", got)
		}
		c := info.Config
		if c.Durable != "sender-test" || c.FilterSubject != "notify.test" || c.AckPolicy != jetstream.AckExplicitPolicy {
			t.Errorf("consumer config %+v", c)
		}
		if len(senderstest.DeadLetters(t, n, channel)) != 0 {
			t.Error("dead letters for sent notifications")
		}
	})

	t.Run("RetriesTransientFailures", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{fail: func(_ *notification.Notification, attempt int) error {
			if attempt < 3 {
				return errors.New("relay busy")
			}
			return nil
		}}
		out := senderstest.Start(t, n, r, senderstest.FastOptions(5), nil)
		senderstest.Publish(t, n, channel, note("a"))
		fmntest.Eventually(t, 10*time.Second, "sent after retries", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, channel)
		var got []string
		for _, o := range out.All() {
			got = append(got, fmt.Sprintf("%s#%d/%s/%q", o.Result, o.Delivery, o.RetryIn, o.Reason))
		}
		want := []string{`retry#1/10ms/"relay busy"`, `retry#2/20ms/"relay busy"`, `sent#3/0s/""`}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("outcomes\n got %v\nwant %v", got, want)
		}
	})

	t.Run("HonoursRetryHints", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{fail: func(_ *notification.Notification, attempt int) error {
			if attempt == 1 {
				return hinted{300 * time.Millisecond}
			}
			return nil
		}}
		out := senderstest.Start(t, n, r, senderstest.FastOptions(5), nil)
		senderstest.Publish(t, n, channel, note("h"))
		fmntest.Eventually(t, 10*time.Second, "sent after the hinted wait", func() bool { return out.Count(wire.Sent) == 1 })
		all := out.All()
		if len(all) != 2 || all[0].Result != wire.Retry || all[0].RetryIn != 300*time.Millisecond {
			t.Fatalf("outcomes %+v: the retry must wait the peer's 300ms, not the 10ms backoff", all)
		}
	})

	t.Run("DeadLettersAfterMaxDeliver", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{fail: func(*notification.Notification, int) error { return errors.New("relay busy\r\nagain") }}
		out := senderstest.Start(t, n, r, senderstest.FastOptions(3), nil)
		senderstest.Publish(t, n, channel, note("b"))
		dl := senderstest.WaitDeadLetters(t, n, channel, 1)[0]
		senderstest.Settled(t, n, channel)
		if got := r.Attempts("b"); got != 3 {
			t.Errorf("%d attempts, want 3", got)
		}
		wantHeaders := map[string]string{
			wire.HeaderReason:      "gave up after 3 attempts: relay busy again",
			wire.HeaderDeliveries:  "3",
			wire.HeaderSource:      "notify.test",
			wire.HeaderSourceSq:    "1",
			wire.HeaderSourceMsgID: "b",
			jetstream.MsgIDHeader:  n.Streams.Notify + ":1",
		}
		for k, v := range wantHeaders {
			if got := dl.Header.Get(k); got != v {
				t.Errorf("dead letter header %s = %q, want %q", k, got, v)
			}
		}
		if !strings.Contains(string(dl.Data), `"id":"b"`) {
			t.Errorf("dead letter data is not the notification: %s", dl.Data)
		}
		if got := out.Count(wire.Dead); got != 1 {
			t.Errorf("%d dead outcomes, want 1", got)
		}
	})

	t.Run("DeadLettersPermanentFailureAtOnce", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{fail: func(x *notification.Notification, _ int) error {
			if x.ID == "bad" {
				return fmt.Errorf("wrapped: %w", senders.Permanent(errors.New("no such user")))
			}
			return nil
		}}
		out := senderstest.Start(t, n, r, senderstest.FastOptions(5), nil)
		senderstest.Publish(t, n, channel, note("bad"))
		senderstest.Publish(t, n, channel, note("good"))
		dl := senderstest.WaitDeadLetters(t, n, channel, 1)[0]
		fmntest.Eventually(t, 10*time.Second, "good one sent", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, channel)
		if got := dl.Header.Get(wire.HeaderReason); got != "permanent failure: wrapped: no such user" {
			t.Errorf("reason %q", got)
		}
		if r.Attempts("bad") != 1 || dl.Header.Get(wire.HeaderDeliveries) != "1" {
			t.Errorf("a permanent failure was retried: %d attempts", r.Attempts("bad"))
		}
	})

	t.Run("DeadLettersPoisonMessages", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{}
		out := senderstest.Start(t, n, r, senderstest.FastOptions(5), nil)
		senderstest.PublishRaw(t, n, channel, "", []byte("{not json"))
		wrong := note("irc-one")
		wrong.Protocol = "irc"
		senderstest.Publish(t, n, channel, wrong)
		senderstest.Publish(t, n, channel, note("fine"))
		dls := senderstest.WaitDeadLetters(t, n, channel, 2)
		fmntest.Eventually(t, 10*time.Second, "good one sent", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, channel)
		if got := dls[0].Header.Get(wire.HeaderReason); !strings.HasPrefix(got, "undecodable notification: ") {
			t.Errorf("reason %q", got)
		}
		if string(dls[0].Data) != "{not json" {
			t.Errorf("dead letter data %q", dls[0].Data)
		}
		if got := dls[1].Header.Get(wire.HeaderReason); got != `notification for protocol "irc" published on channel "test"` {
			t.Errorf("reason %q", got)
		}
		if got := r.Sent(); len(got) != 1 || got[0] != "fine" {
			t.Errorf("sent %v", got)
		}
	})

	t.Run("SlowSendIsNotRedelivered", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		opts := senderstest.FastOptions(5)
		opts.AckWait = 200 * time.Millisecond
		// A second worker stands ready to take a redelivery.
		opts.Workers = 2
		// A relay that takes three times AckWait: InProgress must keep the
		// message ours.
		r := &recorder{fail: func(*notification.Notification, int) error {
			time.Sleep(3 * opts.AckWait)
			return nil
		}}
		out := senderstest.Start(t, n, r, opts, nil)
		senderstest.Publish(t, n, channel, note("slow"))
		fmntest.Eventually(t, 10*time.Second, "sent", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, channel)
		if got := r.Attempts("slow"); got != 1 {
			t.Errorf("%d attempts, want 1", got)
		}
	})
}

// blocker is a Sender that holds each Send until released.
type blocker struct {
	entered chan struct{}
	release chan error
}

func (b *blocker) Channel() string { return channel }
func (b *blocker) Close() error    { return nil }
func (b *blocker) Send(ctx context.Context, _ *notification.Notification) error {
	b.entered <- struct{}{}
	select {
	case err := <-b.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestRunShutdown(t *testing.T) {
	t.Parallel()

	start := func(t *testing.T, opts senders.Options) (*fmntest.NATS, *blocker, *senderstest.Outcomes, context.CancelFunc, chan error) {
		n := fmntest.StartNATS(t)
		b := &blocker{entered: make(chan struct{}, 1), release: make(chan error, 1)}
		out := &senderstest.Outcomes{}
		opts.OnOutcome = out.Record
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		done := make(chan error, 1)
		go func() { done <- senders.Run(ctx, n.JS, n.Streams, b, opts, nil) }()
		senderstest.Publish(t, n, channel, note("inflight"))
		<-b.entered
		return n, b, out, cancel, done
	}

	t.Run("FinishesTheInFlightSend", func(t *testing.T) {
		t.Parallel()
		n, b, out, cancel, done := start(t, senderstest.FastOptions(5))
		cancel()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) while a send was in flight", err)
		default:
		}
		b.release <- nil
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if out.Count(wire.Sent) != 1 {
			t.Errorf("outcomes %+v", out.All())
		}
		senderstest.Settled(t, n, channel)
	})

	t.Run("GivesUpAfterDrainTimeout", func(t *testing.T) {
		t.Parallel()
		opts := senderstest.FastOptions(5)
		opts.DrainTimeout = 20 * time.Millisecond
		_, _, out, cancel, done := start(t, opts)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		all := out.All()
		if len(all) != 1 || all[0].Result != wire.Retry {
			t.Errorf("outcomes %+v, want one retry", all)
		}
	})
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("550 no such user")
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{base, false},
		{senders.Permanent(base), true},
		{fmt.Errorf("rcpt: %w", senders.Permanent(base)), true},
		{senders.Permanent(senders.Permanent(base)), true},
	}
	for i, c := range cases {
		if got := senders.IsPermanent(c.err); got != c.want {
			t.Errorf("case %d: IsPermanent(%v) = %v", i, c.err, got)
		}
	}
	if senders.Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	if p := senders.Permanent(base); !errors.Is(p, base) || p.Error() != base.Error() {
		t.Errorf("Permanent hides the error: %v", p)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	o := senders.Options{}.WithDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if o.MaxDeliver != 10 || o.Workers != 1 || o.MaxAckPending != 1000 || o.BackOff[0] != time.Second {
		t.Errorf("defaults %+v", o)
	}
	bad := senders.Options{MaxDeliver: -1, BackOff: []time.Duration{0}, AckWait: time.Second, Workers: 4, MaxAckPending: 2}
	err := bad.Validate()
	for _, want := range []string{"max deliver", "backoff", "max ack pending"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	cc := senders.ConsumerConfig("email", senders.Options{})
	if cc.Durable != "sender-email" || cc.FilterSubject != "notify.email" || cc.MaxDeliver != -1 || cc.AckWait != 30*time.Second {
		t.Errorf("consumer config %+v", cc)
	}
}

// hinted is a rate-limit error that says when to retry.
type hinted struct{ d time.Duration }

func (h hinted) Error() string            { return "rate limited" }
func (h hinted) RetryHint() time.Duration { return h.d }

func TestRunStoresOutcomesBeforeSettling(t *testing.T) {
	t.Parallel()

	t.Run("EveryResultIsOnEventsBeforeTheAck", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		pub, err := senders.NewOutcomePublisher(n.Conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := &recorder{fail: func(x *notification.Notification, attempt int) error {
			switch {
			case x.ID == "bad":
				return senders.Permanent(errors.New("no such mailbox"))
			case x.ID == "flaky" && attempt == 1:
				return errors.New("try again")
			}
			return nil
		}}
		// At the moment the outcome is stored, the notification must still
		// be unsettled: check the consumer from inside StoreOutcome.
		var mu sync.Mutex
		var early []string
		opts := senderstest.FastOptions(5)
		opts.StoreOutcome = func(ctx context.Context, o senders.Outcome) error {
			if err := pub.Store(ctx, o); err != nil {
				return err
			}
			c, err := n.JS.Consumer(ctx, n.Streams.Notify, senders.ConsumerName(channel))
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			if info.AckFloor.Stream >= o.StreamSeq {
				mu.Lock()
				early = append(early, fmt.Sprintf("%s(seq %d) settled before its outcome was stored", o.Result, o.StreamSeq))
				mu.Unlock()
			}
			return nil
		}
		out := senderstest.Start(t, n, r, opts, nil)
		for _, id := range []string{"ok", "flaky", "bad"} {
			senderstest.Publish(t, n, channel, note(id))
		}
		fmntest.Eventually(t, 10*time.Second, "all settled", func() bool {
			return out.Count(wire.Sent) == 2 && out.Count(wire.Dead) == 1 && out.Count(wire.Retry) == 1
		})
		senderstest.Settled(t, n, channel)
		mu.Lock()
		defer mu.Unlock()
		if len(early) > 0 {
			t.Errorf("%s", strings.Join(early, "; "))
		}
		st, err := n.JS.Stream(fmntest.Context(t), n.Streams.Events)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(fmntest.Context(t), jetstream.WithSubjectFilter("events.delivery."+channel))
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 4 {
			t.Errorf("EVENTS holds %d delivery events, want 4 (sent, retry, sent, dead)", info.State.Msgs)
		}
	})

	// A store that fails for a moment (a stream leader being elected) is
	// tried again: the statistics do not miss the delivery.
	t.Run("AStoreFailingForAMomentIsRetried", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{}
		var calls, stored atomic.Int64
		opts := senderstest.FastOptions(5)
		opts.StoreOutcome = func(context.Context, senders.Outcome) error {
			if calls.Add(1) <= 2 {
				return errors.New("no responders: stream leader being elected")
			}
			stored.Add(1)
			return nil
		}
		out := senderstest.Start(t, n, r, opts, nil)
		senderstest.Publish(t, n, channel, note("y"))
		fmntest.Eventually(t, 10*time.Second, "sent", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, channel)
		if got := r.Attempts("y"); got != 1 || calls.Load() != 3 || stored.Load() != 1 {
			t.Errorf("sent %d times, store called %d times, stored %d; want 1, 3, 1", got, calls.Load(), stored.Load())
		}
	})

	t.Run("AFailingStoreDoesNotHoldDeliveryUp", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{}
		opts := senderstest.FastOptions(5)
		opts.StoreOutcome = func(context.Context, senders.Outcome) error { return errors.New("EVENTS unavailable") }
		out := senderstest.Start(t, n, r, opts, nil)
		senderstest.Publish(t, n, channel, note("x"))
		fmntest.Eventually(t, 10*time.Second, "sent", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, channel)
		if got := r.Attempts("x"); got != 1 {
			t.Errorf("sent %d times, want once", got)
		}
	})
}

// Started while NATS is away (a node restarting as the process starts), a
// sender retries setting up its consumer instead of failing, and sends
// once NATS is back.
func TestRunStartsDuringANATSOutage(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	n.Stop()
	r := &recorder{}
	out := senderstest.Start(t, n, r, senderstest.FastOptions(5), fmntest.Logger(t, slog.LevelInfo))
	// Longer than a JetStream API request waits (5s).
	time.Sleep(7 * time.Second)
	n.Start(t)
	fmntest.Eventually(t, 20*time.Second, "a publish after the outage", func() bool {
		ctx, cancel := context.WithTimeout(fmntest.Context(t), time.Second)
		defer cancel()
		_, err := n.JS.Publish(ctx, wire.NotifySubject(channel), mustJSON(t, note("after")), jetstream.WithMsgID("after"))
		return err == nil
	})
	fmntest.Eventually(t, 30*time.Second, "sent after the outage", func() bool { return out.Count(wire.Sent) == 1 })
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// settingsTable is a delivery.Source over a map, with a switchable failure:
// the seam senders read settings through (the real one, following the
// projection, is tested in rulelog and through the SMTP peer in app).
type settingsTable struct {
	mu     sync.Mutex
	paused map[string]bool // by address
	err    error
}

func (s *settingsTable) Lookup(_ context.Context, _, protocol, address string) (delivery.Setting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return delivery.Setting{Protocol: protocol, Address: address, Paused: s.paused[address]}, s.err
}

func (s *settingsTable) set(address string, paused bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused[address], s.err = paused, err
}

func TestRunPausedDestinations(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := &recorder{}
	settings := &settingsTable{paused: map[string]bool{"stopped": true}}
	opts := senderstest.FastOptions(5)
	opts.Settings = settings
	out := senderstest.Start(t, n, r, opts, nil)

	p := note("p1")
	p.Address = "stopped"
	senderstest.Publish(t, n, channel, p)
	senderstest.Publish(t, n, channel, note("s1"))
	fmntest.Eventually(t, 10*time.Second, "one paused, one sent", func() bool {
		return out.Count(wire.Paused) == 1 && out.Count(wire.Sent) == 1
	})
	senderstest.Settled(t, n, channel)
	if got := strings.Join(r.Sent(), ","); got != "s1" {
		t.Fatalf("sent %s, want only s1 (p1's destination is paused)", got)
	}

	// A lookup that fails retries; the notification goes out once it works.
	settings.set("stopped", false, errors.New("settings not loaded yet"))
	p2 := note("p2")
	p2.Address = "stopped"
	senderstest.Publish(t, n, channel, p2)
	fmntest.Eventually(t, 10*time.Second, "a retry on the failed lookup", func() bool { return out.Count(wire.Retry) >= 1 })
	if r.Attempts("p2") != 0 {
		t.Fatal("sent although its setting could not be read")
	}
	settings.set("stopped", false, nil)
	fmntest.Eventually(t, 10*time.Second, "p2 sent once resumed", func() bool { return out.Count(wire.Sent) == 2 })
	senderstest.Settled(t, n, channel)
	if len(senderstest.DeadLetters(t, n, channel)) != 0 {
		t.Error("dead letters")
	}
}
