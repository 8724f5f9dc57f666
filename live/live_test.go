package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/live"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/wire"
)

type bundle struct {
	ctx  context.Context
	nats *fmntest.NATS
	hub  *live.Hub
	http *httptest.Server
}

// setup runs a hub on a test's NATS and serves streams at /<user>,
// without authentication (the API's part).
func setup(t testing.TB, cfg live.HubConfig) *bundle {
	t.Helper()
	b := &bundle{ctx: fmntest.Context(t), nats: fmntest.StartNATS(t)}
	b.hub = newHub(t, b, cfg)
	b.http = serve(t, b.hub)
	return b
}

func newHub(t testing.TB, b *bundle, cfg live.HubConfig) *live.Hub {
	t.Helper()
	cfg.Stream = b.nats.Streams.Notify
	h := live.NewHub(b.nats.JS, cfg)
	go func() { _ = h.Run(b.ctx) }()
	select {
	case <-h.Ready():
	case <-time.After(fmntest.Scaled(10 * time.Second)):
		t.Fatal("hub not ready")
	}
	return h
}

func serve(t testing.TB, h *live.Hub) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := r.Header.Get("Last-Event-ID")
		after, _ := strconv.ParseUint(last, 10, 64)
		_ = h.Serve(r.Context(), w, strings.TrimPrefix(r.URL.Path, "/"), after, last != "")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// publish stores a notification of user's feed as the consumer does and
// returns its sequence.
func (b *bundle) publish(t testing.TB, user, summary string) uint64 {
	t.Helper()
	n := notification.Notification{
		ID: fmntest.RandomID(), MessageID: fmntest.RandomID(), Topic: "org.fedoraproject.prod.bodhi.update.comment",
		Protocol: "sse", Address: user, User: user, RuleID: 7, RuleIDs: []int64{7}, App: "bodhi",
		Summary: summary, Line: "[bodhi] " + summary, CreatedAt: time.Now().UTC(),
	}
	data, _ := json.Marshal(n)
	ack, err := b.nats.JS.Publish(b.ctx, wire.NotifySSESubject(user), data)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

type sseEvent struct {
	id   string
	data string
}

// client is a stream read by a real HTTP client.
type client struct {
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

func open(t testing.TB, url, lastID string) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &client{resp: resp, events: make(chan sseEvent, 1024), cancel: cancel}
	t.Cleanup(c.close)
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return c
}

func (c *client) close() {
	c.cancel()
	_ = c.resp.Body.Close()
}

// next waits for the next event.
func (c *client) next(t testing.TB) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(fmntest.Scaled(10 * time.Second)):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// upTo reads the events up to the marker, published after everything
// else, so that a duplicate or a stray event before it shows.
func (c *client) upTo(t testing.TB, marker uint64) []sseEvent {
	t.Helper()
	var got []sseEvent
	for {
		ev := c.next(t)
		got = append(got, ev)
		if ev.id == strconv.FormatUint(marker, 10) {
			return got
		}
	}
}

func summaries(t testing.TB, evs []sseEvent) string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		var it struct {
			Seq     uint64 `json:"seq"`
			Summary string `json:"summary"`
		}
		if err := json.Unmarshal([]byte(ev.data), &it); err != nil {
			t.Fatalf("event %s: %v", ev.data, err)
		}
		if strconv.FormatUint(it.Seq, 10) != ev.id {
			t.Errorf("event id %s, seq %d", ev.id, it.Seq)
		}
		out = append(out, it.Summary)
	}
	return strings.Join(out, ",")
}

func TestStream(t *testing.T) {
	t.Parallel()

	t.Run("live, then reconnect with Last-Event-ID: the missed ones, none twice", func(t *testing.T) {
		t.Parallel()
		b := setup(t, live.HubConfig{})
		c := open(t, b.http.URL+"/alice", "")
		b.publish(t, "bob", "not yours")
		s1 := b.publish(t, "alice", "one")
		ev := c.next(t)
		if summaries(t, []sseEvent{ev}) != "one" || ev.id != strconv.FormatUint(s1, 10) {
			t.Fatalf("first event %+v", ev)
		}
		c.close()
		b.publish(t, "alice", "two")
		b.publish(t, "bob", "not yours either")
		b.publish(t, "alice", "three")
		c2 := open(t, b.http.URL+"/alice", ev.id)
		marker := b.publish(t, "alice", "four")
		if got := summaries(t, c2.upTo(t, marker)); got != "two,three,four" {
			t.Errorf("after reconnect: %s, want two,three,four", got)
		}
	})

	t.Run("resume races live: every notification once, in order", func(t *testing.T) {
		t.Parallel()
		b := setup(t, live.HubConfig{})
		first := b.publish(t, "alice", "0")
		done := make(chan uint64)
		go func() {
			var last uint64
			for i := 1; i <= 200; i++ {
				last = b.publish(t, "alice", strconv.Itoa(i))
			}
			done <- last
		}()
		c := open(t, b.http.URL+"/alice", strconv.FormatUint(first, 10))
		marker := <-done
		got := c.upTo(t, marker)
		var want []string
		for i := 1; i <= 200; i++ {
			want = append(want, strconv.Itoa(i))
		}
		if s := summaries(t, got); s != strings.Join(want, ",") {
			t.Errorf("got %s", s)
		}
	})

	t.Run("a paused feed gets nothing meanwhile, live or on reconnection", func(t *testing.T) {
		t.Parallel()
		set := &feedSettings{paused: map[string]bool{}}
		b := setup(t, live.HubConfig{Settings: set})
		c := open(t, b.http.URL+"/alice", "")
		s1 := b.publish(t, "alice", "before")
		if got := summaries(t, c.upTo(t, s1)); got != "before" {
			t.Fatalf("before the pause: %s", got)
		}
		set.set("alice", true)
		b.publish(t, "alice", "paused live")
		fmntest.Eventually(t, 5*time.Second, "the paused one dropped", func() bool { return b.hub.Stats.Paused.Load() == 1 })
		c.close()
		b.publish(t, "alice", "paused while away")
		fmntest.Eventually(t, 5*time.Second, "both paused ones dropped", func() bool { return b.hub.Stats.Paused.Load() == 2 })
		// Reconnecting while paused: the stream reads back nothing of
		// what arrived meanwhile (it asks the settings once more).
		asked := set.asked()
		c2 := open(t, b.http.URL+"/alice", strconv.FormatUint(s1, 10))
		fmntest.Eventually(t, 5*time.Second, "the reconnection asks the settings", func() bool { return set.asked() > asked })
		set.set("alice", false)
		marker := b.publish(t, "alice", "resumed")
		if got := summaries(t, c2.upTo(t, marker)); got != "resumed" {
			t.Errorf("after the resume: %s, want only resumed", got)
		}
		if n := b.hub.Stats.Paused.Load(); n != 2 {
			t.Errorf("counted %d paused notifications, want 2", n)
		}
	})

	t.Run("two processes each deliver to their streams", func(t *testing.T) {
		t.Parallel()
		b := setup(t, live.HubConfig{})
		other := serve(t, newHub(t, b, live.HubConfig{}))
		c1 := open(t, b.http.URL+"/alice", "")
		c2 := open(t, other.URL+"/alice", "")
		b.publish(t, "alice", "both")
		for _, c := range []*client{c1, c2} {
			if s := summaries(t, []sseEvent{c.next(t)}); s != "both" {
				t.Errorf("got %s", s)
			}
		}
	})

	t.Run("a stream that falls behind is closed (the browser then resumes from NOTIFY)", func(t *testing.T) {
		t.Parallel()
		b := setup(t, live.HubConfig{Buffer: 1})
		sub := b.hub.Subscribe("carol")
		defer sub.Close()
		for i := range 3 {
			b.publish(t, "carol", strconv.Itoa(i))
		}
		fmntest.Eventually(t, 5*time.Second, "overflow", sub.Overflowed)
	})

	t.Run("heartbeats on an idle stream", func(t *testing.T) {
		t.Parallel()
		b := setup(t, live.HubConfig{Heartbeat: 20 * time.Millisecond})
		req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, b.http.URL+"/dave", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == ": heartbeat" {
				return
			}
		}
		t.Fatal("no heartbeat")
	})

	t.Run("history: the most recent, newest first", func(t *testing.T) {
		t.Parallel()
		b := setup(t, live.HubConfig{})
		for i := range 30 {
			b.publish(t, "erin", strconv.Itoa(i))
			for range 20 {
				b.publish(t, "frank", "noise")
			}
		}
		evs, err := b.hub.Recent(b.ctx, "erin", 5)
		if err != nil {
			t.Fatal(err)
		}
		var got []sseEvent
		for _, ev := range evs {
			got = append(got, sseEvent{id: strconv.FormatUint(ev.Seq, 10), data: string(ev.Data)})
		}
		if s := summaries(t, got); s != "29,28,27,26,25" {
			t.Errorf("recent: %s", s)
		}
		evs, err = b.hub.Recent(b.ctx, "erin", 100)
		if err != nil || len(evs) != 30 {
			t.Errorf("all of erin's: %d, %v", len(evs), err)
		}
		evs, err = b.hub.Recent(b.ctx, "nobody", 10)
		if err != nil || len(evs) != 0 {
			t.Errorf("nobody's: %d, %v", len(evs), err)
		}
	})

	t.Run("usernames that a subject token cannot hold", func(t *testing.T) {
		t.Parallel()
		b := setup(t, live.HubConfig{})
		c := open(t, b.http.URL+"/a.b", "")
		b.publish(t, "a.b", "dotted")
		if s := summaries(t, []sseEvent{c.next(t)}); s != "dotted" {
			t.Errorf("got %s", s)
		}
	})
}

// feedSettings are delivery settings held by the test: which users paused
// their live feed.
type feedSettings struct {
	mu     sync.Mutex
	paused map[string]bool
	asks   int
}

func (f *feedSettings) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asks
}

func (f *feedSettings) set(user string, paused bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused[user] = paused
}

func (f *feedSettings) Lookup(_ context.Context, user, protocol, address string) (delivery.Setting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asks++
	return delivery.Setting{Protocol: protocol, Address: address, Paused: protocol == "sse" && address == user && f.paused[user]}, nil
}
