package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/rueidis"
)

const bodhiTopic = "org.fedoraproject.prod.bodhi.update.comment"

var testSite = notification.Site{Name: "fmn test", PublicURL: "https://fmn.example.org"}

// testWriter sends log lines to the test log. After the test has ended
// (a goroutine that outlived it) lines are dropped instead of panicking.
type testWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t testing.TB) testWriter {
	w := testWriter{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		*w.done = true
	})
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// busMsg is a bus message in its BUS form, built the way publishers build
// it (bus.Message.NATSMsg). body is marshalled to JSON; headers are string
// values.
func busMsg(t testing.TB, id, topic string, body any, headers map[string]string) *nats.Msg {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	m := bus.Message{ID: id, Topic: topic, Body: raw, Headers: map[string]json.RawMessage{}}
	for k, v := range headers {
		hv, _ := json.Marshal(v)
		m.Headers[k] = hv
	}
	nm, err := m.NATSMsg()
	if err != nil {
		t.Fatalf("message %s: %v", id, err)
	}
	return nm
}

// bundle is what an integration test of the consumer needs: its own
// embedded NATS with fmn's streams, its own Postgres schema and Redis key
// prefix, a running projector and the command side that creates rules.
type bundle struct {
	ctx    context.Context
	nats   *fmntest.NATS
	pg     *fmntest.Postgres
	prefix string
	cmds   *rulelog.Commands
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupWith(t, fmntest.RedisURL())
}

// setupWith is setup with the projector on the Redis at redisURL.
func setupWith(t *testing.T, redisURL string) *bundle {
	t.Helper()
	b := &bundle{
		ctx:    fmntest.Context(t),
		nats:   fmntest.StartNATS(t),
		pg:     fmntest.StartPostgres(t),
		prefix: fmntest.RedisPrefix(t),
	}
	proj := rulelog.NewProjector(b.nats.JS, b.pg.Pool, rulelog.ProjectorConfig{
		Stream: b.nats.Streams.Rules, Redis: newRedisAt(t, redisURL, b.prefix, nil), RedisPrefix: b.prefix, Logger: testLogger(t),
	})
	if err := proj.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proj.Stop)
	cmds, err := rulelog.NewCommands(b.ctx, b.nats.JS, b.pg.Pool, rulelog.CommandsConfig{
		Stream: b.nats.Streams.Rules, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	b.cmds = cmds
	return b
}

// newRedis connects to the test Redis; with notify, invalidations of the
// rules version key under prefix signal the returned channel.
func newRedis(t testing.TB, prefix string, notify *<-chan struct{}) rueidis.Client {
	t.Helper()
	return newRedisAt(t, fmntest.RedisURL(), prefix, notify)
}

// newRedisAt is newRedis on the Redis at url.
func newRedisAt(t testing.TB, url, prefix string, notify *<-chan struct{}) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if notify != nil {
		*notify = rulelog.NotifyVersion(&opt, prefix)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	t.Cleanup(func() {
		// Bounded: a test's private Redis may be down by now.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Do(ctx, c.B().Del().Key(rulelog.VersionKey(prefix)).Build()).Error()
		c.Close()
	})
	return c
}

// newMatcher is a consumer process's matcher: its own Redis client whose
// invalidations wake RunSync, loaded and kept in sync until the test ends.
func (b *bundle) newMatcher(t *testing.T) *consumer.Matcher {
	t.Helper()
	var wake <-chan struct{}
	client := newRedis(t, b.prefix, &wake)
	m := consumer.NewMatcher(rulelog.NewReader(b.pg.Pool, client, b.prefix), nil, testSite, testLogger(t))
	if err := m.Sync(b.ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunSync(ctx, wake, 500*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// running is a consumer instance running in the background.
type running struct {
	c      *consumer.Consumer
	cancel context.CancelFunc
	done   chan error
}

// startConsumer runs a consumer with its own NATS connection, as a separate
// instance would. It is stopped when the test ends; Run must then return
// nil.
func (b *bundle) startConsumer(t *testing.T, m *consumer.Matcher, cfg consumer.Config) *running {
	t.Helper()
	nc, err := nats.Connect(b.nats.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithCancel(b.ctx)
	r := &running{c: consumer.New(nc, b.nats.Streams, m, cfg, testLogger(t)), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- r.c.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("consumer Run: %v", err)
		}
	})
	return r
}

// stop ends Run and returns its result; it may be called more than once.
func (r *running) stop() error {
	r.cancel()
	err, ok := <-r.done
	if ok {
		close(r.done)
	}
	return err
}

// stillRunning fails the test when Run has returned.
func (r *running) stillRunning(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("consumer Run returned early: %v", err)
	default:
	}
}

// createRule creates a rule of user through the command side (and so
// through RULES and the projector) and returns it as projected.
func (b *bundle) createRule(t *testing.T, user string, tracking, params string, gens ...rules.GenerationRule) rulelog.StoredRule {
	t.Helper()
	r := rules.Rule{
		Name:            user + "'s " + tracking,
		TrackingRule:    rules.TrackingRule{Name: tracking},
		GenerationRules: gens,
	}
	if params != "" {
		r.TrackingRule.Params = json.RawMessage(params)
	}
	sr, err := b.cmds.Create(b.ctx, user, r, rulelog.Meta{})
	if err != nil {
		t.Fatalf("create rule of %s: %v", user, err)
	}
	return sr
}

// publish stores messages on BUS and waits for each PubAck.
func (b *bundle) publish(t *testing.T, msgs ...*nats.Msg) {
	t.Helper()
	for _, m := range msgs {
		if _, err := b.nats.JS.PublishMsg(b.ctx, m); err != nil {
			t.Fatalf("publish %s: %v", m.Subject, err)
		}
	}
}

// publishAsync stores many messages on BUS, pipelined: at most 500 await
// their PubAck at a time.
func publishAsync(t testing.TB, js jetstream.JetStream, msgs []*nats.Msg) {
	t.Helper()
	const window = 500
	futures := make([]jetstream.PubAckFuture, 0, window)
	settle := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatalf("publish %s: %v", f.Msg().Subject, err)
			case <-time.After(30 * time.Second):
				t.Fatalf("publish %s: no PubAck within 30s", f.Msg().Subject)
			}
		}
		futures = futures[:0]
	}
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatalf("publish %s: %v", m.Subject, err)
		}
		if futures = append(futures, f); len(futures) == window {
			settle()
		}
	}
	settle()
}

// consumerState is the durable's view of BUS.
func consumerState(ctx context.Context, js jetstream.JetStream, stream, durable string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// waitSettled waits until the durable has delivered every BUS message and
// holds no unacknowledged one: everything published so far is handled.
func waitSettled(t testing.TB, ctx context.Context, n *fmntest.NATS, durable string, within time.Duration) {
	t.Helper()
	var last string
	deadline := time.Now().Add(fmntest.Scaled(within))
	for {
		s, err := n.JS.Stream(ctx, n.Streams.Bus)
		if err != nil {
			t.Fatal(err)
		}
		si, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ci, err := consumerState(ctx, n.JS, n.Streams.Bus, durable)
		switch {
		case err == nil:
			if ci.NumPending == 0 && ci.NumAckPending == 0 && ci.Delivered.Stream >= si.State.LastSeq {
				return
			}
			last = fmt.Sprintf("pending %d, ack pending %d, delivered up to %d of %d, redelivered %d",
				ci.NumPending, ci.NumAckPending, ci.Delivered.Stream, si.State.LastSeq, ci.NumRedelivered)
		case !errors.Is(err, jetstream.ErrConsumerNotFound):
			t.Fatal(err)
		default:
			last = "no consumer " + durable
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s not settled within %s: %s", durable, within, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamMsgs counts the messages of a stream.
func streamMsgs(t testing.TB, ctx context.Context, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// storedMsg is one message read back from a stream.
type storedMsg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
}

// readStream reads every message a stream holds, in order, through an
// ordered consumer.
func readStream(t testing.TB, ctx context.Context, js jetstream.JetStream, stream string) []storedMsg {
	t.Helper()
	n := streamMsgs(t, ctx, js, stream)
	if n == 0 {
		return nil
	}
	oc, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	it, err := oc.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	out := make([]storedMsg, 0, n)
	for uint64(len(out)) < n {
		m, err := it.Next(jetstream.NextMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("read %s: %d of %d messages: %v", stream, len(out), n, err)
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, storedMsg{Seq: md.Sequence.Stream, Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	}
	return out
}

// notifications reads NOTIFY and decodes every notification, checking that
// its Nats-Msg-Id is its id.
func notifications(t testing.TB, ctx context.Context, n *fmntest.NATS) []*notification.Notification {
	t.Helper()
	msgs := readStream(t, ctx, n.JS, n.Streams.Notify)
	out := make([]*notification.Notification, 0, len(msgs))
	for _, m := range msgs {
		var note notification.Notification
		if err := json.Unmarshal(m.Data, &note); err != nil {
			t.Fatalf("NOTIFY seq %d: %v", m.Seq, err)
		}
		if id := m.Header.Get("Nats-Msg-Id"); id != note.ID {
			t.Errorf("NOTIFY seq %d: Nats-Msg-Id %q but notification id %q", m.Seq, id, note.ID)
		}
		if want := wire.NotifySubjectFor(note.Protocol, note.User); m.Subject != want {
			t.Errorf("NOTIFY seq %d: subject %q, want %q", m.Seq, m.Subject, want)
		}
		out = append(out, &note)
	}
	return out
}

// notificationIDs counts NOTIFY's messages by Nats-Msg-Id.
func notificationIDs(t testing.TB, ctx context.Context, n *fmntest.NATS) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range readStream(t, ctx, n.JS, n.Streams.Notify) {
		out[m.Header.Get("Nats-Msg-Id")]++
	}
	return out
}

// checkIDs compares the counted ids with the expected set: every expected
// id exactly once, nothing else.
func checkIDs(t testing.TB, got map[string]int, want map[string]bool) {
	t.Helper()
	var missing, dup, extra int
	for id := range want {
		switch got[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	for id := range got {
		if !want[id] {
			extra++
		}
	}
	if missing+dup+extra > 0 {
		t.Fatalf("NOTIFY: %d expected notifications missing, %d stored more than once, %d unexpected (of %d expected, %d stored)",
			missing, dup, extra, len(want), len(got))
	}
}

// eventually polls cond every 10ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	fmntest.Eventually(t, within, what, cond)
}
