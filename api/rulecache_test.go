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
