package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/api"
)

func TestDeliverySettings(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	const path = "/api/v1/users/alice/delivery"

	// Before any change: one default entry per destination, version 0.
	r := b.do(t, "alice", http.MethodGet, path, nil)
	expect(t, r, http.StatusOK)
	var got []api.DeliverySetting
	r.json(t, &got)
	if len(got) != 4 || got[0].Protocol != "email" || got[0].Paused || got[0].Digest != nil || got[3].Protocol != "sse" {
		t.Fatalf("defaults: %+v", got)
	}
	if !strings.Contains(string(r.body), `"digest":null`) {
		t.Errorf("a default digest must be null: %s", r.body)
	}
	etag0 := r.header.Get("ETag")

	// Set a digest on the email and pause the IRC nick; the Matrix entry
	// is missing (defaults).
	body := []map[string]any{
		{"protocol": "email", "address": "alice@example.org", "digest": map[string]any{"max_age": 3600, "max_count": 50}},
		{"protocol": "irc", "address": "alice", "paused": true},
	}
	r = b.do(t, "alice", http.MethodPut, path, body, "If-Match: "+etag0)
	expect(t, r, http.StatusOK)
	r.json(t, &got)
	if len(got) != 4 || got[0].Digest == nil || got[0].Digest.MaxAge != 3600 || *got[0].Digest.MaxCount != 50 ||
		!got[1].Paused || got[2].Paused || got[2].Digest != nil {
		t.Fatalf("after PUT: %+v", got)
	}
	etag1 := r.header.Get("ETag")
	if etag1 == "" || etag1 == etag0 {
		t.Fatalf("ETag %q after the change (was %q)", etag1, etag0)
	}
	r = b.do(t, "alice", http.MethodGet, path, nil)
	var again []api.DeliverySetting
	r.json(t, &again)
	if r.header.Get("ETag") != etag1 || len(again) != 4 || !again[1].Paused || again[0].Digest == nil {
		t.Fatalf("GET after PUT: %s %+v", r.header.Get("ETag"), again)
	}

	// A stale If-Match: 412.
	r = b.do(t, "alice", http.MethodPut, path, []any{}, "If-Match: "+etag0)
	expect(t, r, http.StatusPreconditionFailed)
	if p := r.problem(t); !strings.Contains(p.Detail, "changed since you read them") {
		t.Errorf("412 detail %q", p.Detail)
	}

	// A destination that is not alice's: 422 naming the entry.
	r = b.do(t, "alice", http.MethodPut, path, []map[string]any{
		{"protocol": "email", "address": "alice@example.org", "paused": true},
		{"protocol": "email", "address": "mallory@example.org", "paused": true},
	})
	expect(t, r, http.StatusUnprocessableEntity)
	p := r.problem(t)
	if len(p.FMNDetail) != 1 || !strings.Contains(p.Detail, `"mallory@example.org" is not one of alice's destinations`) ||
		len(p.Errors) != 1 || p.Errors[0].Location != "body[1]" {
		t.Errorf("422 for a stranger's address: %+v", p)
	}

	// Digest bounds.
	for _, d := range []map[string]any{{"max_age": 59}, {"max_age": 604801}, {"max_age": 600, "max_count": 1}, {"max_age": 600, "max_count": 1001}} {
		r = b.do(t, "alice", http.MethodPut, path, []map[string]any{{"protocol": "email", "address": "alice@example.org", "digest": d}})
		expect(t, r, http.StatusUnprocessableEntity)
		p := r.problem(t)
		if len(p.Errors) == 0 || !strings.HasPrefix(p.Errors[0].Location, "body[0].digest.max_") {
			t.Errorf("digest %v: %+v", d, p)
		}
	}
	// The live feed can be paused but has no digest.
	r = b.do(t, "alice", http.MethodPut, path, []map[string]any{{"protocol": "sse", "address": "alice", "digest": map[string]any{"max_age": 600}}})
	expect(t, r, http.StatusUnprocessableEntity)
	if p := r.problem(t); len(p.Errors) == 0 || p.Errors[0].Location != "body[0].digest" || !strings.Contains(p.Detail, "live feed") {
		t.Errorf("a digest for the live feed: %+v", p)
	}
	// Two entries for one destination.
	r = b.do(t, "alice", http.MethodPut, path, []map[string]any{
		{"protocol": "irc", "address": "alice", "paused": true},
		{"protocol": "irc", "address": "alice"},
	})
	expect(t, r, http.StatusUnprocessableEntity)
	if p := r.problem(t); !strings.Contains(p.Detail, "same destination") {
		t.Errorf("duplicate entry: %+v", p)
	}
	// Nothing of the refused requests was stored.
	r = b.do(t, "alice", http.MethodGet, path, nil)
	if r.header.Get("ETag") != etag1 {
		t.Errorf("ETag %s after refused changes, want %s", r.header.Get("ETag"), etag1)
	}

	// Own only; admins any.
	expect(t, b.do(t, "bob", http.MethodGet, path, nil), http.StatusForbidden)
	r = b.do(t, "bob", http.MethodPut, path, []any{})
	expect(t, r, http.StatusForbidden)
	r = b.do(t, "root", http.MethodPut, path, []map[string]any{{"protocol": "matrix", "address": "@alice:fedora.im", "paused": true}})
	expect(t, r, http.StatusOK)
	r.json(t, &got)
	if got[0].Digest != nil || got[1].Paused || !got[2].Paused {
		t.Errorf("after the admin's PUT (replace semantics): %+v", got)
	}

	// An empty list resets every destination.
	r = b.do(t, "alice", http.MethodPut, path, []any{})
	expect(t, r, http.StatusOK)
	r.json(t, &got)
	for _, s := range got {
		if s.Paused || s.Digest != nil {
			t.Errorf("after the reset: %+v", got)
		}
	}
}

func TestDeliveryNullDigest(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	r := b.do(t, "alice", http.MethodPut, "/api/v1/users/alice/delivery", `[{"protocol":"irc","address":"alice","paused":true,"digest":null},{"protocol":"email","address":"alice@example.org","digest":{"max_age":60,"max_count":null}}]`)
	expect(t, r, http.StatusOK)
}
