package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/live"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/streams"
)

// setupLive is setup with the live feed registered; tickets live ttl.
func setupLive(t *testing.T, ttl time.Duration) (*bundle, *live.Tickets) {
	t.Helper()
	return setupLiveWith(t, ttl, setupOpts{})
}

// setupLiveWith is setupLive with options.
func setupLiveWith(t *testing.T, ttl time.Duration, o setupOpts) (*bundle, *live.Tickets) {
	t.Helper()
	b := setup(t, o)
	hub := live.NewHub(b.nats.JS, live.HubConfig{Stream: b.nats.Streams.Notify})
	go func() { _ = hub.Run(b.ctx) }()
	<-hub.Ready()
	tk := &live.Tickets{Redis: b.redis, Prefix: b.prefix, TTL: ttl}
	b.srv.RegisterNotifications(hub, tk)
	return b, tk
}

func (b *bundle) ticket(t *testing.T, user string) string {
	t.Helper()
	r := b.do(t, user, http.MethodPost, "/api/v1/users/"+user+"/notifications/ticket", nil)
	expect(t, r, http.StatusOK)
	var out struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expires_in"`
	}
	r.json(t, &out)
	if out.Ticket == "" || out.ExpiresIn <= 0 {
		t.Fatalf("ticket %s", r.body)
	}
	return out.Ticket
}

func (b *bundle) notify(t *testing.T, user, summary string) uint64 {
	t.Helper()
	n := notification.Notification{
		ID: fmntest.RandomID(), MessageID: fmntest.RandomID(), Protocol: "sse", Address: user, User: user,
		RuleID: 3, RuleIDs: []int64{3}, Summary: summary, Line: summary, CreatedAt: time.Now().UTC(),
	}
	data, _ := json.Marshal(n)
	ack, err := b.nats.JS.Publish(b.ctx, streams.NotifySSESubject(user), data)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// openStream opens a stream with a plain HTTP client, as EventSource does:
// no Authorization header.
func (b *bundle) openStream(t *testing.T, path string) (*http.Response, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.http.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return resp, func() { cancel(); _ = resp.Body.Close() }
}

// readEvents reads n events' ids and summaries.
func readEvents(t *testing.T, resp *http.Response, n int) []string {
	t.Helper()
	out := make(chan []string, 1)
	go func() {
		var got []string
		sc := bufio.NewScanner(resp.Body)
		id := ""
		for len(got) < n && sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				var it struct {
					Summary string `json:"summary"`
				}
				_ = json.Unmarshal([]byte(v), &it)
				got = append(got, id+":"+it.Summary)
			}
		}
		out <- got
	}()
	select {
	case got := <-out:
		return got
	case <-time.After(fmntest.Scaled(10 * time.Second)):
		t.Fatalf("fewer than %d events within %s", n, fmntest.Scaled(10*time.Second))
	}
	return nil
}

func TestLiveFeed(t *testing.T) {
	t.Parallel()

	t.Run("security", func(t *testing.T) {
		t.Parallel()
		b, tk := setupLive(t, 0)
		const stream = "/api/v1/users/alice/notifications/stream"

		// Another user's ticket, or a ticket for someone else.
		expect(t, b.do(t, "bob", http.MethodPost, "/api/v1/users/alice/notifications/ticket", nil), http.StatusForbidden)
		expect(t, b.do(t, "", http.MethodPost, "/api/v1/users/alice/notifications/ticket", nil), http.StatusUnauthorized)
		expect(t, b.do(t, "", http.MethodGet, stream+"?ticket="+b.ticket(t, "bob"), nil), http.StatusForbidden)
		// Bob's token does not open Alice's stream either.
		expect(t, b.do(t, "bob", http.MethodGet, stream, nil), http.StatusForbidden)
		expect(t, b.do(t, "bob", http.MethodGet, "/api/v1/users/alice/notifications", nil), http.StatusForbidden)

		// No ticket, an unknown one, a used one: 401.
		expect(t, b.do(t, "", http.MethodGet, stream, nil), http.StatusUnauthorized)
		expect(t, b.do(t, "", http.MethodGet, stream+"?ticket=forged", nil), http.StatusUnauthorized)
		ticket := b.ticket(t, "alice")
		resp, done := b.openStream(t, stream+"?ticket="+ticket)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream with a fresh ticket: %d", resp.StatusCode)
		}
		done()
		expect(t, b.do(t, "", http.MethodGet, stream+"?ticket="+ticket, nil), http.StatusUnauthorized)

		// An expired one: 401.
		short := &live.Tickets{Redis: b.redis, Prefix: tk.Prefix, TTL: 50 * time.Millisecond}
		expired, _, err := short.Issue(b.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		fmntest.Eventually(t, 5*time.Second, "ticket expired in Redis", func() bool {
			keys, err := b.redis.Do(b.ctx, b.redis.B().Keys().Pattern(tk.Prefix+"sse-ticket:*").Build()).AsStrSlice()
			return err == nil && len(keys) == 0
		})
		expect(t, b.do(t, "", http.MethodGet, stream+"?ticket="+expired, nil), http.StatusUnauthorized)

		// Neither the token nor a ticket is in a log line.
		logs := b.logs.String()
		for _, secret := range []string{b.token(t, "alice"), b.token(t, "bob"), ticket, expired} {
			if strings.Contains(logs, secret) {
				t.Errorf("a secret is in the log: %.20s…", secret)
			}
		}
		if strings.Contains(logs, "ticket=") || !strings.Contains(logs, "/notifications/stream") {
			t.Errorf("the access log should name the stream's path, without its query")
		}
	})

	t.Run("ticket, stream, reconnect with the last event id: none missed, none twice", func(t *testing.T) {
		t.Parallel()
		b, _ := setupLive(t, 0)
		const stream = "/api/v1/users/alice/notifications/stream"
		resp, done := b.openStream(t, stream+"?ticket="+b.ticket(t, "alice"))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		s1 := b.notify(t, "alice", "one")
		got := readEvents(t, resp, 1)
		if want := strconv.FormatUint(s1, 10) + ":one"; got[0] != want {
			t.Fatalf("got %v, want %s", got, want)
		}
		done()
		s2 := b.notify(t, "alice", "two")
		b.notify(t, "bob", "bob's")
		s3 := b.notify(t, "alice", "three")
		// A new EventSource cannot set Last-Event-ID: it passes it in the
		// query, with a new ticket.
		resp, done = b.openStream(t, stream+"?ticket="+b.ticket(t, "alice")+"&last_event_id="+strconv.FormatUint(s1, 10))
		defer done()
		s4 := b.notify(t, "alice", "four")
		got = readEvents(t, resp, 3)
		want := []string{strconv.FormatUint(s2, 10) + ":two", strconv.FormatUint(s3, 10) + ":three", strconv.FormatUint(s4, 10) + ":four"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after reconnect %v, want %v", got, want)
		}

		// The history, newest first.
		r := b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/notifications?limit=2", nil)
		expect(t, r, http.StatusOK)
		var items []struct {
			Seq     uint64 `json:"seq"`
			Summary string `json:"summary"`
			RuleID  int64  `json:"rule_id"`
		}
		r.json(t, &items)
		if len(items) != 2 || items[0].Seq != s4 || items[1].Summary != "three" || items[0].RuleID != 3 {
			t.Errorf("history %s", r.body)
		}
	})

	t.Run("an sse destination is the owner's own", func(t *testing.T) {
		t.Parallel()
		b, _ := setupLive(t, 0)
		body := newRule("alice", "live")
		body["generation_rules"] = []map[string]any{{"destinations": []map[string]string{{"protocol": "sse", "address": "alice"}}}}
		rule, _ := b.create(t, "alice", body)
		if d := rule.GenerationRules[0].Destinations[0]; d.Protocol != "sse" || d.Address != "alice" {
			t.Errorf("destination %+v", d)
		}
		body["generation_rules"] = []map[string]any{{"destinations": []map[string]string{{"protocol": "sse", "address": "bob"}}}}
		expect(t, b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body), http.StatusUnprocessableEntity)
	})
}
