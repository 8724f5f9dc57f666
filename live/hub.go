// Package live serves each user's live feed of notifications (channel
// sse): one ordered consumer per process follows notify.sse.> on NOTIFY
// and fans every notification out in memory to the streams of its user
// (Hub), a stream that reconnects reads what it missed back from NOTIFY
// (Since), and short-lived single-use tickets let a browser's EventSource,
// which cannot send an Authorization header, open its stream (Tickets).
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Event is one notification of a user's feed.
type Event struct {
	// Seq is the NOTIFY stream sequence: the SSE event id, and where a
	// reconnecting stream resumes.
	Seq  uint64
	User string
	// Data is the feed item as JSON (Item), on one line.
	Data []byte
	// Received is when this process read it from NOTIFY (for latency
	// figures).
	Received time.Time
}

// Item is a notification as the feed shows it: the notification
// (notification.Notification, with its one-line form in "line" and the
// rule in "rule_id") and its stream sequence.
type Item struct {
	Seq uint64 `json:"seq"`
	notification.Notification
}

// newEvent decodes a stored notification into a feed event.
func newEvent(seq uint64, subject string, data []byte) (Event, error) {
	user, err := wire.DecodeToken(strings.TrimPrefix(subject, wire.NotifySSEPrefix))
	if err != nil {
		return Event{}, err
	}
	var n notification.Notification
	if err := json.Unmarshal(data, &n); err != nil {
		return Event{}, fmt.Errorf("notification %d: %w", seq, err)
	}
	n.Email = nil
	out, err := json.Marshal(Item{Seq: seq, Notification: n})
	if err != nil {
		return Event{}, err
	}
	return Event{Seq: seq, User: user, Data: out, Received: time.Now()}, nil
}

// HubConfig tunes a Hub. Zero fields take the defaults.
type HubConfig struct {
	// Stream is the NOTIFY stream's name (default "NOTIFY").
	Stream string
	// Buffer is how many events a stream may lag behind before it is
	// closed (default 64); the browser then reconnects and reads the
	// rest back from NOTIFY, so a slow client loses nothing and holds up
	// nobody.
	Buffer int
	// Heartbeat is the interval of the comment lines that keep proxies
	// from closing an idle stream (default 15s).
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a client (default 30s).
	WriteTimeout time.Duration
	// Settings are the users' delivery settings: a user who paused their
	// live feed (protocol sse, address the user) gets none of what
	// arrives meanwhile, live or on reconnection. Nil: never paused.
	Settings delivery.Source
	Logger   *slog.Logger
}

func (c HubConfig) withDefaults() HubConfig {
	if c.Stream == "" {
		c.Stream = streams.Defaults().Notify
	}
	if c.Buffer <= 0 {
		c.Buffer = 64
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// HubStats counts what a hub did.
type HubStats struct {
	// Received notifications from NOTIFY; Delivered to streams (one per
	// stream); Overflows: streams closed for lagging behind.
	Received, Delivered, Overflows atomic.Int64
	// Paused counts notifications dropped because their user had paused
	// the live feed.
	Paused atomic.Int64
	// Streams is the number of streams open now.
	Streams atomic.Int64
}

// Hub fans the live feed out to the streams of this process. One Hub per
// process: it holds one ordered consumer, however many streams are open.
type Hub struct {
	js    jetstream.JetStream
	cfg   HubConfig
	log   *slog.Logger
	Stats HubStats

	mu   sync.RWMutex
	subs map[string]map[*Sub]struct{}
	done bool // Run has ended: new subscriptions end at once

	streamMu sync.Mutex
	stream   jetstream.Stream

	// last is the sequence of the last NOTIFY message the hub read, or the
	// stream's last sequence when it started.
	last      atomic.Uint64
	ready     chan struct{}
	readyOnce sync.Once
}

// NewHub returns a hub; call Run.
func NewHub(js jetstream.JetStream, cfg HubConfig) *Hub {
	cfg = cfg.withDefaults()
	return &Hub{js: js, cfg: cfg, log: cfg.Logger, subs: map[string]map[*Sub]struct{}{}, ready: make(chan struct{})}
}

// Ready is closed once the hub follows NOTIFY: a stream that has read the
// history up to now misses nothing after.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Sub is one stream's subscription to its user's feed.
type Sub struct {
	h    *Hub
	user string
	c    chan Event
	// closed is guarded by h.mu; overflow says why C was closed.
	closed   bool
	overflow atomic.Bool
}

// C receives the user's events; it is closed when the stream lagged
// behind by more than the buffer (Overflowed) or was closed.
func (s *Sub) C() <-chan Event { return s.c }

// Overflowed reports whether C was closed because the stream fell behind.
func (s *Sub) Overflowed() bool { return s.overflow.Load() }

// Close ends the subscription; it is safe to call more than once.
func (s *Sub) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.removeLocked(s)
}

func (h *Hub) removeLocked(s *Sub) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.c)
	h.Stats.Streams.Add(-1)
	m := h.subs[s.user]
	delete(m, s)
	if len(m) == 0 {
		delete(h.subs, s.user)
	}
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for _, m := range h.subs {
		for s := range m {
			h.removeLocked(s)
		}
	}
}

// Subscribe starts receiving user's events.
func (h *Hub) Subscribe(user string) *Sub {
	s := &Sub{h: h, user: user, c: make(chan Event, h.cfg.Buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		s.closed = true
		close(s.c)
		return s
	}
	m := h.subs[user]
	if m == nil {
		m = map[*Sub]struct{}{}
		h.subs[user] = m
	}
	m[s] = struct{}{}
	h.Stats.Streams.Add(1)
	return s
}

// publish hands ev to every stream of its user without blocking: a stream
// whose buffer is full is closed.
func (h *Hub) publish(ev Event) {
	h.Stats.Received.Add(1)
	h.mu.RLock()
	var full []*Sub
	for s := range h.subs[ev.User] {
		select {
		case s.c <- ev:
			h.Stats.Delivered.Add(1)
		default:
			full = append(full, s)
		}
	}
	h.mu.RUnlock()
	if len(full) == 0 {
		return
	}
	h.mu.Lock()
	for _, s := range full {
		if !s.closed {
			s.overflow.Store(true)
			h.Stats.Overflows.Add(1)
			h.removeLocked(s)
		}
	}
	h.mu.Unlock()
}

// Run follows notify.sse.> until ctx ends, resuming after errors from the
// last sequence it read, so that no notification is skipped. When ctx
// ends it ends every stream, so that the HTTP server's graceful shutdown
// need not wait for them (browsers reconnect to another process).
//
// No NATS error ends it: a lost node, missing heartbeats or a deleted
// stream are logged and followed again, with a capped exponential
// backoff while they last.
func (h *Hub) Run(ctx context.Context) error {
	defer h.closeAll()
	failures := 0
	for {
		before := h.last.Load()
		err := h.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if h.last.Load() != before {
			failures = 0 // it went on for a while
		}
		failures++
		wait := streams.DefaultBackoff.Delay(failures)
		h.log.WarnContext(ctx, "live feed: following NOTIFY failed; retrying", slog.Any("error", err),
			slog.Int("failures", failures), slog.Duration("retry_in", wait.Round(time.Millisecond)))
		if !streams.Sleep(ctx, wait) {
			return nil
		}
	}
}

func (h *Hub) follow(ctx context.Context) error {
	st, err := h.notifyStream(ctx)
	if err != nil {
		return err
	}
	select {
	case <-h.ready:
	default:
		// The first start: the feed begins after what NOTIFY holds now.
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		h.last.Store(info.State.LastSeq)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{wire.NotifySSEAll},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    h.last.Load() + 1,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	h.readyOnce.Do(func() { close(h.ready) })
	for {
		m, err := it.Next()
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		seq := md.Sequence.Stream
		if seq <= h.last.Load() {
			continue
		}
		h.last.Store(seq)
		ev, err := newEvent(seq, m.Subject(), m.Data())
		if err != nil {
			h.log.WarnContext(ctx, "live feed: undecodable notification skipped", slog.Uint64("seq", seq), slog.Any("error", err))
			continue
		}
		if h.paused(ctx, ev.User) {
			h.Stats.Paused.Add(1)
			continue
		}
		h.publish(ev)
	}
}

// paused reports whether user has paused their live feed. Settings that
// cannot be read (not loaded yet) count as not paused: the feed is a
// convenience, and showing a notification is the lesser harm.
func (h *Hub) paused(ctx context.Context, user string) bool {
	if h.cfg.Settings == nil {
		return false
	}
	st, err := h.cfg.Settings.Lookup(ctx, user, rules.ProtocolSSE, user)
	return err == nil && st.Paused
}

func (h *Hub) notifyStream(ctx context.Context) (jetstream.Stream, error) {
	h.streamMu.Lock()
	defer h.streamMu.Unlock()
	if h.stream != nil {
		return h.stream, nil
	}
	st, err := h.js.Stream(ctx, h.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", h.cfg.Stream, err)
	}
	h.stream = st
	return st, nil
}
