package streams_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// logRecorder keeps the messages logged through it (and passes them to
// the test log).
type logRecorder struct {
	mu    sync.Mutex
	lines []string
	next  slog.Handler
}

func newLogRecorder(t *testing.T) (*logRecorder, *slog.Logger) {
	r := &logRecorder{next: fmntest.Logger(t, slog.LevelDebug).Handler()}
	return r, slog.New(r)
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrRecorder{r: r, attrs: as, next: r.next.WithAttrs(as)}
}
func (r *logRecorder) WithGroup(string) slog.Handler { return r }
func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	return r.record(ctx, rec, nil, r.next)
}

func (r *logRecorder) record(ctx context.Context, rec slog.Record, attrs []slog.Attr, next slog.Handler) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	for _, a := range attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return next.Handle(ctx, rec)
}

type attrRecorder struct {
	r     *logRecorder
	attrs []slog.Attr
	next  slog.Handler
}

func (a *attrRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (a *attrRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrRecorder{r: a.r, attrs: append(append([]slog.Attr{}, a.attrs...), as...), next: a.next.WithAttrs(as)}
}
func (a *attrRecorder) WithGroup(string) slog.Handler { return a }
func (a *attrRecorder) Handle(ctx context.Context, rec slog.Record) error {
	return a.r.record(ctx, rec, a.attrs, a.next)
}

// count is how many logged lines hold all of parts.
func (r *logRecorder) count(parts ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
next:
	for _, l := range r.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		n++
	}
	return n
}

// connect is a new connection to url, as another process would have.
func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Many processes starting together against a fresh server each set up the
// streams; all succeed, and the streams have the configuration.
func TestEnsureConcurrently(t *testing.T) {
	t.Parallel()
	srv, err := streams.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ensureConcurrently(t, srv.URL(), 8, streams.Defaults())
}

func ensureConcurrently(t *testing.T, url string, n int, cfg streams.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(fmntest.Context(t), fmntest.Scaled(time.Minute))
	defer cancel()
	jss := make([]jetstream.JetStream, n)
	for i := range jss {
		jss[i] = connect(t, url)
	}
	start := make(chan struct{})
	errs := make([]error, n)
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i, js := range jss {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			errs[i] = streams.Ensure(ctx, js, cfg, fmntest.Logger(t, slog.LevelInfo).With("process", i))
			took[i] = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: Ensure: %v", i, err)
		}
	}
	t.Logf("%d concurrent Ensure took %v", n, took)
	for _, sc := range cfg.StreamConfigs() {
		info, err := jss[0].Stream(ctx, sc.Name)
		if err != nil {
			t.Errorf("stream %s: %v", sc.Name, err)
			continue
		}
		got := info.CachedInfo().Config
		if got.Replicas != cfg.Replicas || got.MaxAge != sc.MaxAge || !equalStrings(got.Subjects, sc.Subjects) {
			t.Errorf("stream %s: replicas %d, max age %s, subjects %v; want %d, %s, %v",
				sc.Name, got.Replicas, got.MaxAge, got.Subjects, cfg.Replicas, sc.MaxAge, sc.Subjects)
		}
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// The operator's cluster: three processes set up R3 streams on a fresh
// three-node cluster at the same moment.
func TestEnsureConcurrentlyOnACluster(t *testing.T) {
	t.Parallel()
	c := fmntest.StartNATSCluster(t, 3)
	cfg := streams.Defaults()
	cfg.Replicas = 3
	ensureConcurrently(t, c.URL, 3, cfg)
}

// A second Ensure with the same configuration changes nothing; with a
// new max age it updates the stream, and keeps what an operator set on
// fields fmn does not manage.
func TestEnsureUpdatesOnlyWhatDiffers(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ctx := fmntest.Context(t)
	rec, log := newLogRecorder(t)
	cfg := n.Streams
	if err := streams.Ensure(ctx, n.JS, cfg, log); err != nil {
		t.Fatal(err)
	}
	if k := rec.count("stream configuration updated"); k != 0 {
		t.Errorf("Ensure with the configuration in place updated %d streams", k)
	}
	// An operator caps BUS by size (nats stream edit).
	st, err := n.JS.Stream(ctx, cfg.Bus)
	if err != nil {
		t.Fatal(err)
	}
	edited := st.CachedInfo().Config
	edited.MaxBytes = 1 << 30
	if _, err := n.JS.UpdateStream(ctx, edited); err != nil {
		t.Fatal(err)
	}
	cfg.BusMaxAge = 36 * time.Hour
	if err := streams.Ensure(ctx, n.JS, cfg, log); err != nil {
		t.Fatal(err)
	}
	if k := rec.count("stream configuration updated", "stream=BUS", "MaxAge"); k != 1 {
		t.Errorf("BUS updated %d times, want once, naming MaxAge: %q", k, rec.lines)
	}
	if k := rec.count("stream configuration updated"); k != 1 {
		t.Errorf("%d streams updated, want 1 (BUS)", k)
	}
	got := info(t, n.JS, cfg.Bus)
	if got.MaxAge != 36*time.Hour || got.MaxBytes != 1<<30 {
		t.Errorf("BUS: max age %s, max bytes %d; want 36h and the operator's 1 GiB", got.MaxAge, got.MaxBytes)
	}
}

func info(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	st, err := js.Stream(fmntest.Context(t), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return st.CachedInfo().Config
}

// Commands look the streams up: whatever their configuration says, the
// streams stay as they are.
func TestLookupChangesNothing(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ctx := fmntest.Context(t)
	server := n.Streams
	server.BusMaxAge = 36 * time.Hour
	server.DLQMaxAge = 90 * 24 * time.Hour
	if err := streams.Ensure(ctx, n.JS, server, fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatal(err)
	}
	before := map[string]jetstream.StreamConfig{}
	for _, name := range server.Names() {
		before[name] = info(t, n.JS, name)
	}
	// A command run without the server's settings.
	if err := streams.Lookup(ctx, n.JS, streams.Defaults(), fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	for _, name := range server.Names() {
		if got := info(t, n.JS, name); got.MaxAge != before[name].MaxAge || got.Replicas != before[name].Replicas || got.Duplicates != before[name].Duplicates {
			t.Errorf("stream %s changed by a lookup: %+v, was %+v", name, got, before[name])
		}
	}

	// A missing stream is an error that says who creates it, and Lookup
	// does not create it.
	other := streams.Defaults()
	other.DLQ = "DLQ2"
	err := streams.Lookup(ctx, n.JS, other, fmntest.Logger(t, slog.LevelWarn))
	if err == nil || !strings.Contains(err.Error(), "DLQ2") || !strings.Contains(err.Error(), "fmn serve") {
		t.Errorf("Lookup of a missing stream: %v", err)
	}
	if _, err := n.JS.Stream(ctx, "DLQ2"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("Lookup created DLQ2: %v", err)
	}
}

// On a cluster: a stream with three replicas keeps them when a server
// starts with FMN_STREAM_REPLICAS=1 (with a warning), and a command's
// lookup leaves them; only the explicit opt-in lowers them.
func TestReplicasAreNotLoweredWithoutOptIn(t *testing.T) {
	t.Parallel()
	c := fmntest.StartNATSCluster(t, 3)
	_, js := c.Connect(t)
	ctx, cancel := context.WithTimeout(fmntest.Context(t), fmntest.Scaled(time.Minute))
	defer cancel()
	r3 := streams.Defaults()
	r3.Replicas = 3
	if err := streams.Ensure(ctx, js, r3, fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatal(err)
	}

	// `fmn dlq list` without FMN_STREAM_REPLICAS.
	if err := streams.Lookup(ctx, js, streams.Defaults(), fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	for _, name := range r3.Names() {
		if got := info(t, js, name).Replicas; got != 3 {
			t.Errorf("after a lookup, stream %s has %d replicas, want 3", name, got)
		}
	}

	// A server started with replicas 1 and a new max age: the max age
	// applies, the replicas stay.
	rec, log := newLogRecorder(t)
	r1 := streams.Defaults()
	r1.BusMaxAge = 48 * time.Hour
	if err := streams.Ensure(ctx, js, r1, log); err != nil {
		t.Fatalf("Ensure with replicas 1: %v", err)
	}
	for _, name := range r3.Names() {
		if got := info(t, js, name).Replicas; got != 3 {
			t.Errorf("after a server start with replicas 1, stream %s has %d replicas, want 3", name, got)
		}
		if rec.count("more replicas than configured", "stream="+name, "FMN_STREAM_ALLOW_DOWNSCALE") != 1 {
			t.Errorf("no warning about the replicas of %s kept: %q", name, rec.lines)
		}
	}
	if got := info(t, js, r1.Bus).MaxAge; got != 48*time.Hour {
		t.Errorf("BUS max age %s, want 48h", got)
	}

	// The opt-in.
	r1.AllowDownscale = true
	if err := streams.Ensure(ctx, js, r1, log); err != nil {
		t.Fatalf("Ensure with FMN_STREAM_ALLOW_DOWNSCALE: %v", err)
	}
	for _, name := range r3.Names() {
		if got := info(t, js, name).Replicas; got != 1 {
			t.Errorf("with the opt-in, stream %s has %d replicas, want 1", name, got)
		}
	}
}

// A storage type JetStream cannot change is an error naming the
// setting, given at once rather than after retries.
func TestEnsureRefusesAnotherStorage(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	cfg := n.Streams
	cfg.Storage = jetstream.MemoryStorage
	start := time.Now()
	err := streams.Ensure(fmntest.Context(t), n.JS, cfg, fmntest.Logger(t, slog.LevelWarn))
	var ce *streams.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "FMN_STREAM_STORAGE") {
		t.Errorf("Ensure with memory storage over file streams: %v", err)
	}
	if d := time.Since(start); d > fmntest.Scaled(2*time.Second) {
		t.Errorf("a permanent error took %s", d)
	}
}

// Retry gives up at once on an error that is not transient, and when the
// context ends; it retries transient ones with a growing, capped delay.
func TestRetry(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	b := streams.Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond, Attempt: time.Second}
	calls := 0
	err := streams.RetryWith(ctx, b, nil, "thing", func(context.Context) error {
		calls++
		if calls < 4 {
			return nats.ErrTimeout
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Errorf("transient failures: %v after %d calls", err, calls)
	}
	calls = 0
	err = streams.RetryWith(ctx, b, nil, "thing", func(context.Context) error {
		calls++
		return jetstream.ErrStreamNotFound
	})
	if !errors.Is(err, jetstream.ErrStreamNotFound) || calls != 1 || !strings.Contains(err.Error(), "thing") {
		t.Errorf("a permanent error: %v after %d calls", err, calls)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = streams.RetryWith(short, b, nil, "thing", func(context.Context) error { return nats.ErrNoResponders })
	if !errors.Is(err, nats.ErrNoResponders) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("retries until the deadline: %v", err)
	}
	// Each attempt is bounded: a request whose answer never comes is
	// given up and tried again.
	calls = 0
	err = streams.RetryWith(ctx, streams.Backoff{Min: time.Millisecond, Attempt: 20 * time.Millisecond}, nil, "thing", func(actx context.Context) error {
		calls++
		if calls == 1 {
			<-actx.Done()
			return actx.Err()
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Errorf("a lost answer: %v after %d calls", err, calls)
	}

	for n := 1; n < 12; n++ {
		d := b.Delay(n)
		step := min(time.Millisecond<<(n-1), 4*time.Millisecond)
		if d < step/2 || d > step {
			t.Errorf("Delay(%d) = %s, want within [%s, %s]", n, d, step/2, step)
		}
	}
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nats.ErrTimeout, true},
		{context.DeadlineExceeded, true},
		{nats.ErrNoResponders, true},
		{fmt.Errorf("stream BUS: %w", jetstream.ErrNoHeartbeat), true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10009, Description: "JetStream cluster can not handle request"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"}, true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10074, Description: "replicas > 1 not supported in non-clustered mode"}, false},
		{&jetstream.APIError{Code: 500, ErrorCode: 10052, Description: "stream configuration invalid"}, false},
		{jetstream.ErrStreamNotFound, false},
		{jetstream.ErrConsumerDeleted, false},
		{nats.ErrConnectionClosed, false},
		{context.Canceled, false},
		{errors.New("something else"), false},
		{nil, false},
	} {
		if got := streams.IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// nats.go's asynchronous errors (here a slow consumer) reach the
// structured log, with the subscription's subject, instead of standard
// error.
func TestLogOptionsRouteAsyncErrors(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	rec, log := newLogRecorder(t)
	nc, err := nats.Connect(n.URL, streams.LogOptions(log)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	release := make(chan struct{})
	defer close(release)
	sub, err := nc.Subscribe("slow.subject", func(*nats.Msg) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := nc.Publish("slow.subject", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 5*time.Second, "a structured slow-consumer line", func() bool {
		return rec.count("NATS slow consumer", "subject=slow.subject", "component=nats") > 0
	})
}
