package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/fmn-project/fmn/rulelog"
)

// TestRuleListCacheBound: the cache holds at most its number of rules,
// letting the least recently read users go first; an answer larger than
// the whole cache is not kept; a new answer of a user replaces the old.
func TestRuleListCacheBound(t *testing.T) {
	c := newRuleListCache(10)
	v := func(n int64) rulelog.AnswerVersion {
		return rulelog.AnswerVersion{Rules: n, Generated: n, Window: time.Unix(3600, 0)}
	}
	rulesOf := func(n int) []Rule { return make([]Rule, n) }
	for i := range 5 {
		c.put(fmt.Sprint("u", i), v(int64(i)), rulesOf(2))
	}
	if u, r := c.len(); u != 5 || r != 10 {
		t.Fatalf("%d users, %d rules", u, r)
	}
	// u0 read: u1 is now the least recently read.
	if e, ok := c.get("u0"); !ok || !e.v.Same(v(0)) {
		t.Fatalf("u0: %+v %v", e, ok)
	}
	c.put("u5", v(5), rulesOf(3))
	for user, want := range map[string]bool{"u0": true, "u1": false, "u2": false, "u3": true, "u4": true, "u5": true} {
		if _, ok := c.get(user); ok != want {
			t.Errorf("%s cached: %v, want %v", user, ok, want)
		}
	}
	if u, r := c.len(); u != 4 || r != 9 {
		t.Fatalf("%d users, %d rules", u, r)
	}
	c.put("u5", v(6), rulesOf(1))
	if e, ok := c.get("u5"); !ok || !e.v.Same(v(6)) || len(e.body) != 1 {
		t.Fatalf("u5: %+v %v", e, ok)
	}
	if u, r := c.len(); u != 4 || r != 7 {
		t.Fatalf("%d users, %d rules", u, r)
	}
	c.put("big", v(7), rulesOf(11))
	if _, ok := c.get("big"); ok {
		t.Fatal("an answer larger than the cache is kept")
	}
	c.put("u0", v(8), rulesOf(11))
	if _, ok := c.get("u0"); ok {
		t.Fatal("u0's old answer is kept after a larger one")
	}
	c.drop("u3")
	if u, r := c.len(); u != 2 || r != 3 {
		t.Fatalf("%d users, %d rules", u, r)
	}
	none := newRuleListCache(-1)
	none.put("u", v(1), rulesOf(1))
	if _, ok := none.get("u"); ok || none != nil {
		t.Fatal("a cache of no rules keeps answers")
	}
}
