package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPerUserCaps: one user cannot hold every live stream of the process,
// nor create rules without end; both refusals say why, and other users are
// not affected.
func TestPerUserCaps(t *testing.T) {
	t.Parallel()

	t.Run("rules: exact under concurrent creations, 422 with a message", func(t *testing.T) {
		t.Parallel()
		const limit = 6
		b := setup(t, setupOpts{maxRules: limit})
		// Twice the bound at once: exactly the bound is created.
		const tries = 2 * limit
		statuses := make([]int, tries)
		bodies := make([]string, tries)
		var wg sync.WaitGroup
		for i := range tries {
			wg.Go(func() {
				r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", newRule("alice", fmt.Sprintf("r%d", i)))
				statuses[i], bodies[i] = r.status, string(r.body)
			})
		}
		wg.Wait()
		created, refused := 0, 0
		for i, st := range statuses {
			switch st {
			case http.StatusOK:
				created++
			case http.StatusUnprocessableEntity:
				refused++
				if !strings.Contains(bodies[i], "alice already has 6 rules") || !strings.Contains(bodies[i], "delete") {
					t.Errorf("refusal without a clear message: %s", bodies[i])
				}
			default:
				t.Errorf("creation %d: status %d: %s", i, st, bodies[i])
			}
		}
		if created != limit || refused != tries-limit {
			t.Fatalf("%d created, %d refused; want %d and %d", created, refused, limit, tries-limit)
		}
		var list []map[string]any
		r := b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &list)
		if len(list) != limit {
			t.Fatalf("alice has %d rules, want %d", len(list), limit)
		}

		// Another user is not affected; alice may create again after a deletion.
		b.create(t, "bob", newRule("bob", "mine"))
		id := fmt.Sprint(list[0]["id"])
		expect(t, b.do(t, "alice", http.MethodDelete, "/api/v1/users/alice/rules/"+id, nil), http.StatusOK)
		b.create(t, "alice", newRule("alice", "again"))
		expect(t, b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", newRule("alice", "one too many")), http.StatusUnprocessableEntity)
	})

	t.Run("live streams: 429 past the bound, a slot again after one closes", func(t *testing.T) {
		t.Parallel()
		b, _ := setupLiveWith(t, 0, setupOpts{maxStreams: 2})
		const stream = "/api/v1/users/alice/notifications/stream"
		var closers []func()
		for range 2 {
			resp, done := b.openStream(t, stream+"?ticket="+b.ticket(t, "alice"))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("stream: %d", resp.StatusCode)
			}
			closers = append(closers, done)
		}
		// The third is refused before its ticket is spent.
		ticket := b.ticket(t, "alice")
		r := b.do(t, "", http.MethodGet, stream+"?ticket="+ticket, nil)
		expect(t, r, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "alice has 2 live streams open already") {
			t.Errorf("refusal: %v %s", r.header, r.body)
		}
		// With an Authorization header too.
		expect(t, b.do(t, "alice", http.MethodGet, stream, nil), http.StatusTooManyRequests)
		// Bob is not affected.
		resp, done := b.openStream(t, "/api/v1/users/bob/notifications/stream?ticket="+b.ticket(t, "bob"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("bob's stream: %d", resp.StatusCode)
		}
		done()
		// Closing one frees its slot; the unspent ticket still works.
		closers[0]()
		var last int
		for range 100 {
			resp, done := b.openStream(t, stream+"?ticket="+ticket)
			last = resp.StatusCode
			if last != http.StatusTooManyRequests {
				done()
				break
			}
			done()
			time.Sleep(20 * time.Millisecond)
		}
		if last != http.StatusOK {
			t.Fatalf("after closing a stream: %d", last)
		}
		closers[1]()
	})
}
