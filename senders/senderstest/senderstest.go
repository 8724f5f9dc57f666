// Package senderstest holds what the tests of every sender share: running
// senders.Run against a test's NATS, collecting outcomes and dead letters,
// and checking that secrets reach neither errors nor logs.
package senderstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/wire"
)

// FastOptions retries after 10ms, 20ms, 40ms…, so that tests of retries
// and dead letters take milliseconds.
func FastOptions(maxDeliver int) senders.Options {
	return senders.Options{
		MaxDeliver: maxDeliver,
		BackOff:    []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond},
		AckWait:    5 * time.Second,
	}
}

// Outcomes collects what senders.Run reports.
type Outcomes struct {
	mu   sync.Mutex
	list []senders.Outcome
	// stored counts the outcomes Run stored (Options.StoreOutcome) before
	// settling their notification; each is reported (Record) just after.
	stored int
}

// Record is an Options.OnOutcome.
func (o *Outcomes) Record(x senders.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.list = append(o.list, x)
}

func (o *Outcomes) store() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stored++
}

// caughtUp says every outcome stored before a settlement is reported.
func (o *Outcomes) caughtUp() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.list) >= o.stored
}

// running are the Outcomes of the senders Start runs, by NATS and channel,
// for Settled.
var (
	runningMu sync.Mutex
	running   = map[runKey][]*Outcomes{}
)

type runKey struct {
	n       *fmntest.NATS
	channel string
}

// All returns a copy of the outcomes so far.
func (o *Outcomes) All() []senders.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]senders.Outcome(nil), o.list...)
}

// Count is the number of outcomes with result r.
func (o *Outcomes) Count(r wire.DeliveryResult) int {
	n := 0
	for _, x := range o.All() {
		if x.Result == r {
			n++
		}
	}
	return n
}

// Start runs senders.Run in the background until the test ends, with
// opts.OnOutcome recording into the returned Outcomes. The cleanup waits
// for Run to return and fails the test if it returned an error.
func Start(t testing.TB, n *fmntest.NATS, s senders.Sender, opts senders.Options, logger *slog.Logger) *Outcomes {
	t.Helper()
	out := &Outcomes{}
	opts.OnOutcome = out.Record
	// Counted before the settlement, so that Settled can wait for the
	// report that follows it.
	storeOutcome := opts.StoreOutcome
	opts.StoreOutcome = func(ctx context.Context, o senders.Outcome) error {
		if storeOutcome != nil {
			if err := storeOutcome(ctx, o); err != nil {
				return err
			}
		}
		out.store()
		return nil
	}
	key := runKey{n, s.Channel()}
	runningMu.Lock()
	running[key] = append(running[key], out)
	runningMu.Unlock()
	t.Cleanup(func() {
		runningMu.Lock()
		defer runningMu.Unlock()
		if running[key] = slices.DeleteFunc(running[key], func(o *Outcomes) bool { return o == out }); len(running[key]) == 0 {
			delete(running, key)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- senders.Run(ctx, n.JS, n.Streams, s, opts, logger) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("senders.Run: %v", err)
		}
	})
	return out
}

// Publish puts a notification on notify.<channel>, with its id as
// Nats-Msg-Id as the matcher does.
func Publish(t testing.TB, n *fmntest.NATS, channel string, x *notification.Notification) {
	t.Helper()
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	PublishRaw(t, n, channel, x.ID, data)
}

// PublishRaw puts any bytes on notify.<channel>.
func PublishRaw(t testing.TB, n *fmntest.NATS, channel, msgID string, data []byte) {
	t.Helper()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := n.JS.Publish(fmntest.Context(t), wire.NotifySubject(channel), data, opts...); err != nil {
		t.Fatal(err)
	}
}

// DeadLetters returns the messages stored on dlq.notify.<channel>.
func DeadLetters(t testing.TB, n *fmntest.NATS, channel string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := fmntest.Context(t)
	st, err := n.JS.Stream(ctx, n.Streams.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == wire.DLQNotifySubject(channel) {
			out = append(out, m)
		}
	}
	return out
}

// WaitDeadLetters waits until there are at least want dead letters.
func WaitDeadLetters(t testing.TB, n *fmntest.NATS, channel string, want int) []*jetstream.RawStreamMsg {
	t.Helper()
	var got []*jetstream.RawStreamMsg
	fmntest.Eventually(t, 10*time.Second, "dead letters on "+wire.DLQNotifySubject(channel), func() bool {
		got = DeadLetters(t, n, channel)
		return len(got) >= want
	})
	return got
}

// Settled waits until the channel's consumer has nothing left to deliver
// and nothing unacknowledged: every notification is sent or dead. Run
// reports an outcome (Options.OnOutcome) just after settling its
// notification; Settled also waits, a few seconds at most, until the
// senders Start runs on the channel have reported every outcome they
// stored, so that a test can count them. (A notification acked as sent
// earlier, Skipped, is reported without being stored first.)
func Settled(t testing.TB, n *fmntest.NATS, channel string) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	fmntest.Eventually(t, 10*time.Second, "consumer "+senders.ConsumerName(channel)+" settled", func() bool {
		c, err := n.JS.Consumer(fmntest.Context(t), n.Streams.Notify, senders.ConsumerName(channel))
		if err != nil {
			return false
		}
		info, err = c.Info(fmntest.Context(t))
		if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
			return false
		}
		// A consumer learns of a new message after the stream stored it
		// (and acked its publish): until then it reports nothing pending.
		// Settled only once it has delivered the last message it takes.
		// (Not the ack floor: a message the server gave up on, MaxDeliver,
		// stays below it.)
		last, err := lastSeq(t, n, info.Config)
		return err == nil && info.Delivered.Stream >= last
	})
	runningMu.Lock()
	outs := slices.Clone(running[runKey{n, channel}])
	runningMu.Unlock()
	// Not a failure when a sender stopped between the two: the test's
	// own checks then say what is missing.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if !slices.ContainsFunc(outs, func(o *Outcomes) bool { return !o.caughtUp() }) {
			break
		}
	}
	return info
}

// lastSeq is the stream sequence of the last NOTIFY message on the
// consumer's filter subjects (0 when there is none).
func lastSeq(t testing.TB, n *fmntest.NATS, cfg jetstream.ConsumerConfig) (uint64, error) {
	ctx := fmntest.Context(t)
	st, err := n.JS.Stream(ctx, n.Streams.Notify)
	if err != nil {
		return 0, err
	}
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = append(filters, cfg.FilterSubject)
	}
	var last uint64
	for _, f := range filters {
		m, err := st.GetLastMsgForSubject(ctx, f)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

// LogBuffer is a concurrency-safe log sink.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger logs everything, debug included, as JSON into the buffer.
func Logger() (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// NoSecret fails the test when text holds secret.
func NoSecret(t testing.TB, secret, where, text string) {
	t.Helper()
	if secret == "" {
		t.Fatal("NoSecret needs a secret")
	}
	if strings.Contains(text, secret) {
		t.Errorf("%s holds the secret %q:\n%s", where, secret, text)
	}
}

// LeaseHolder reads who holds the lease of cfg ("" when nobody does).
func LeaseHolder(t testing.TB, js jetstream.JetStream, cfg lease.Config) string {
	t.Helper()
	ctx := fmntest.Context(t)
	kv, _, err := lease.Bucket(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := lease.Holder(ctx, kv, cfg.Key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
