package api

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

func TestPreviewLimiter(t *testing.T) {
	t.Parallel()
	l := newPreviewLimiter(3, 2, 10*time.Second)
	a1, r := l.acquire("alice")
	if r != nil {
		t.Fatal(r)
	}
	a2, _ := l.acquire("alice")
	if _, r := l.acquire("alice"); r == nil || !r.user || r.limit != 2 || r.retryAfter != time.Second {
		t.Errorf("third preview of alice: %+v, want refused for the user's limit, retry after 1s", r)
	}
	b1, r := l.acquire("bob")
	if r != nil {
		t.Fatalf("bob: %+v", r)
	}
	if _, r := l.acquire("carol"); r == nil || r.user || r.limit != 3 {
		t.Errorf("fourth preview: %+v, want refused for the server's limit", r)
	}
	if n := l.runningNow(); n != 3 {
		t.Errorf("%d running", n)
	}
	a1()
	a1() // twice: counted once
	c1, r := l.acquire("carol")
	if r != nil {
		t.Fatalf("carol after a release: %+v", r)
	}
	for _, release := range []func(){a2, b1, c1} {
		release()
	}
	if n := l.runningNow(); n != 0 || len(l.byUser) != 0 {
		t.Errorf("%d running, users %v", n, l.byUser)
	}
	// Retry-After follows how long previews take, up to the timeout.
	l.avg = 3500 * time.Millisecond
	if got := l.retryAfterLocked(); got != 3500*time.Millisecond {
		t.Errorf("retry after %s", got)
	}
	l.avg = time.Minute
	if got := l.retryAfterLocked(); got != 10*time.Second {
		t.Errorf("retry after %s, want the timeout", got)
	}

	err := tooManyPreviews(&refusal{user: true, limit: 2, retryAfter: 3500 * time.Millisecond})
	var hs huma.HeadersError
	if !errors.As(err, &hs) || hs.GetHeaders().Get("Retry-After") != "4" {
		t.Fatalf("%v: want Retry-After 4", err)
	}
	var se huma.StatusError
	if !errors.As(err, &se) || se.GetStatus() != http.StatusTooManyRequests {
		t.Errorf("%v: want 429", err)
	}
}
