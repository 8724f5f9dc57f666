package rulelog_test

import (
	"testing"
	"time"

	"github.com/fmn-project/fmn"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/stats"
)

// TestAnswerVersion: a user's answer version changes in the transaction of
// every change of their rules' list, by either projection and by every
// path that writes the tables (events, counts, imports, rebuilds), and only
// then; a list is read with the version it has.
func TestAnswerVersion(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	version := func(user string) rulelog.AnswerVersion {
		t.Helper()
		v, err := b.store.UserAnswerVersion(b.ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// listed reads user's rules with their version, which must be the
	// version read on its own just after, and returns them.
	listed := func(user string) ([]rulelog.StoredRule, rulelog.AnswerVersion) {
		t.Helper()
		list, v, err := b.store.UserRulesVersioned(b.ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if now := version(user); !v.Same(now) {
			t.Fatalf("%s's list read at %+v, version now %+v", user, v, now)
		}
		return list, v
	}
	changed := func(what, user string, before rulelog.AnswerVersion) rulelog.AnswerVersion {
		t.Helper()
		v := version(user)
		if !v.Valid() || v.Same(before) {
			t.Fatalf("after %s, %s's version %+v (before %+v): want a new valid one", what, user, v, before)
		}
		return v
	}
	same := func(what, user string, before rulelog.AnswerVersion) {
		t.Helper()
		if v := version(user); !v.Same(before) {
			t.Fatalf("after %s, %s's version %+v, want it unchanged (%+v)", what, user, v, before)
		}
	}

	if v := version("alice"); !v.Valid() || v.Rules != 0 || v.Generated != 0 {
		t.Fatalf("a user fmn does not know has version %+v, want 0 and 0", v)
	}
	r, err := b.cmds.Create(b.ctx, "alice", rule("alice", "first"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	list, va := listed("alice")
	if len(list) != 1 || !va.Valid() {
		t.Fatalf("alice: %+v at %+v", list, va)
	}
	bob, err := b.cmds.Create(b.ctx, "bob", rule("bob", "bob's"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, vb := listed("bob")
	same("bob's creation", "alice", va)

	if _, err := b.cmds.Update(b.ctx, "alice", r.ID, rule("alice", "renamed"), nil, rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}
	va = changed("an update", "alice", va)
	if list, _ := listed("alice"); list[0].Name != "renamed" {
		t.Fatalf("alice's rules %+v", list)
	}
	if _, err := b.cmds.SetDisabled(b.ctx, r.ID, true, rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}
	va = changed("disabling", "alice", va)
	same("alice's changes", "bob", vb)

	// A switch names its rule: a hand-made one that names someone else
	// still changes the owner's version.
	b.appendProjected(t, rulelog.Event{Type: rulelog.EventRuleDisabled, User: "mallory", RuleID: bob.ID, Time: time.Now()})
	vb = changed("a switch of bob's rule naming mallory", "bob", vb)
	if list, _ := listed("bob"); !list[0].Disabled {
		t.Fatalf("bob's rules %+v", list)
	}
	same("a switch of bob's rule", "alice", va)

	// A notification of alice's rule counted by the statistics.
	p := stats.NewProjector(b.nats.JS, b.pg.Pool, b.nats.Streams, testLogger(t))
	publishGenerated(t, b, r.ID, []time.Time{time.Now()})
	projectStats(t, b, p)
	va = changed("a notification counted", "alice", va)
	same("alice's notification", "bob", vb)
	if list, _ := listed("alice"); list[0].GeneratedLastWeek != 1 {
		t.Fatalf("alice's rules %+v", list)
	}

	// Counts imported from FMN v3, and a rebuild of the statistics.
	if err := stats.Import(b.ctx, b.pg.Pool, []stats.ImportedCount{{RuleID: bob.ID, Hour: time.Now(), Count: 3}}); err != nil {
		t.Fatal(err)
	}
	vb = changed("an import", "bob", vb)
	if list, _ := listed("bob"); list[0].GeneratedLastWeek != 3 {
		t.Fatalf("bob's rules %+v", list)
	}
	if _, err := p.Rebuild(b.ctx, stats.RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	va = changed("a statistics rebuild", "alice", va)
	vb = changed("a statistics rebuild", "bob", vb)

	// A rebuild of the rules: the same rules, new versions.
	if _, err := b.proj.Rebuild(b.ctx); err != nil {
		t.Fatal(err)
	}
	va = changed("a rules rebuild", "alice", va)
	changed("a rules rebuild", "bob", vb)
	if list, _ := listed("alice"); len(list) != 1 || list[0].Name != "renamed" || !list[0].Disabled {
		t.Fatalf("alice's rules after the rebuild %+v", list)
	}

	// The last one gone: the version changes; the empty list has none.
	if err := b.cmds.Delete(b.ctx, "alice", r.ID, nil, rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}
	changed("the deletion", "alice", va)
	if list, v, err := b.store.UserRulesVersioned(b.ctx, "alice"); err != nil || len(list) != 0 || v.Valid() {
		t.Fatalf("alice without rules: %+v at %+v (%v)", list, v, err)
	}

	// The window of generated_last_week moves on the hour.
	_, vb = listed("bob")
	clock := time.Now().Add(time.Hour)
	rulelog.SetStoreClock(b.store, func() time.Time { return clock })
	if v := version("bob"); v.Same(vb) || v.Rules != vb.Rules || v.Generated != vb.Generated {
		t.Fatalf("an hour later, bob's version %+v, before %+v: want another window", v, vb)
	}

	// A projection made before the versions existed: 0, a version of its
	// own, until the schema (fmn migrate) gives every user one.
	rulelog.SetStoreClock(b.store, time.Now)
	if _, err := b.pg.Pool.Exec(b.ctx, "DELETE FROM user_rules_version"); err != nil {
		t.Fatal(err)
	}
	_, vb = listed("bob")
	if vb.Rules != 0 || vb.Generated == 0 {
		t.Fatalf("without a row, bob's version %+v", vb)
	}
	if _, err := b.pg.Pool.Exec(b.ctx, fmn.Schema); err != nil {
		t.Fatal(err)
	}
	vb = changed("the schema", "bob", vb)
	if _, err := b.pg.Pool.Exec(b.ctx, fmn.Schema); err != nil {
		t.Fatal(err)
	}
	same("the schema again", "bob", vb)
}
