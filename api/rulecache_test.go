package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/stats"
)

// TestRuleListCache: GET /users/{u}/rules answers from the cache while the
// user's answer is unchanged, and reads PostgreSQL again after every kind
// of change: through this API, through the command side (as another
// instance would), by the statistics projection and by an import, in the
// same way for every reader.
func TestRuleListCache(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	reads := func() (hits, misses float64) { return ruleListReads(t, b) }
	var last []byte
	// get lists user's rules, checks that the read was a hit or a miss
	// as said, and returns them.
	get := func(user string, hit bool) []api.Rule {
		t.Helper()
		h0, m0 := reads()
		r := b.do(t, user, http.MethodGet, "/api/v1/users/"+user+"/rules", nil)
		expect(t, r, http.StatusOK)
		h1, m1 := reads()
		if hit && (h1 != h0+1 || m1 != m0) || !hit && (h1 != h0 || m1 != m0+1) {
			t.Fatalf("hits %v -> %v, misses %v -> %v: want a %s", h0, h1, m0, m1, map[bool]string{true: "hit", false: "miss"}[hit])
		}
		var list []api.Rule
		r.json(t, &list)
		last = r.body
		return list
	}

	rule, tag := b.create(t, "alice", newRule("alice", "first"))
	if l := get("alice", false); len(l) != 1 || *l[0].Name != "first" {
		t.Fatalf("alice's rules %+v", l)
	}
	miss := last
	get("alice", true)
	if !bytes.Equal(last, miss) {
		t.Fatalf("the cached answer\n%s\ndiffers from the one read\n%s", last, miss)
	}

	// Another user's changes leave alice's answer cached.
	b.create(t, "bob", newRule("bob", "bob's"))
	get("bob", false)
	get("alice", true)
	get("bob", true)

	// Through this API.
	r := b.do(t, "alice", http.MethodPut, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), newRule("alice", "renamed"), "If-Match: "+tag)
	expect(t, r, http.StatusOK)
	if l := get("alice", false); len(l) != 1 || *l[0].Name != "renamed" {
		t.Fatalf("alice's rules after the PUT %+v", l)
	}
	get("alice", true)

	// Through the command side, as another instance of the API would.
	if _, err := b.cmds.SetDisabled(b.ctx, rule.ID, true, rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}
	if l := get("alice", false); len(l) != 1 || !l[0].Disabled {
		t.Fatalf("alice's rules after disabling %+v", l)
	}

	// A notification counted by the statistics projection, then counts
	// imported from FMN v3.
	countGenerated(t, b, rule.ID, time.Now())
	if l := get("alice", false); len(l) != 1 || l[0].GeneratedLastWeek != 1 {
		t.Fatalf("alice's rules after a notification %+v", l)
	}
	get("alice", true)
	get("bob", true)
	if err := stats.Import(b.ctx, b.pg.Pool, []stats.ImportedCount{{RuleID: rule.ID, Hour: time.Now().Add(-time.Hour), Count: 4}}); err != nil {
		t.Fatal(err)
	}
	if l := get("alice", false); len(l) != 1 || l[0].GeneratedLastWeek != 5 {
		t.Fatalf("alice's rules after an import %+v", l)
	}

	// The last rule deleted: an empty list, never cached.
	expect(t, b.do(t, "alice", http.MethodDelete, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), nil), http.StatusOK)
	for range 2 {
		if l := get("alice", false); len(l) != 0 {
			t.Fatalf("alice's rules after the deletion %+v", l)
		}
	}
	if string(bytes.TrimSpace(last)) != "[]" {
		t.Fatalf("alice's empty list %s", last)
	}
}

// TestRuleListCacheConcurrent: while readers list a user's rules over and
// over (hits, misses and replacements racing), every change is seen by the
// first read that starts after it returned, and no reader sees a name older
// than one it has seen before.
func TestRuleListCacheConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	rule, tag := b.create(t, "alice", newRule("alice", "v0"))
	name := func(r response) int {
		t.Helper()
		var list []api.Rule
		r.json(t, &list)
		if len(list) != 1 {
			t.Errorf("alice's rules %s", r.body)
			return -1
		}
		var n int
		if _, err := fmt.Sscanf(*list[0].Name, "v%d", &n); err != nil {
			t.Errorf("alice's rule %q", *list[0].Name)
		}
		return n
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	const readers = 4
	for range readers {
		go func() {
			defer func() { done <- struct{}{} }()
			seen := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules", nil)
				if r.status != http.StatusOK {
					t.Errorf("GET: %d %s", r.status, r.body)
					return
				}
				n := name(r)
				if n < seen {
					t.Errorf("a reader saw v%d after v%d", n, seen)
					return
				}
				seen = n
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		r := b.do(t, "alice", http.MethodPut, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), newRule("alice", fmt.Sprintf("v%d", i)), "If-Match: "+tag)
		expect(t, r, http.StatusOK)
		tag = r.header.Get("ETag")
		if n := name(b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules", nil)); n != i {
			t.Fatalf("after saving v%d, the list shows v%d", i, n)
		}
	}
	close(stop)
	for range readers {
		<-done
	}
	if h, m := ruleListReads(t, b); h == 0 || m < 20 {
		t.Errorf("%v hits, %v misses: want both", h, m)
	}
}
