package rulelog_test

import (
	"testing"
	"time"

	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// TestImportedRuleID: a rule.created event that names its rule id (an
// FMN v3 rule imported) makes a rule of that id, unless a rule has or had
// it; replaying the history names the same id.
func TestImportedRuleID(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	appendEv := func(ev rulelog.Event) uint64 {
		t.Helper()
		ev.Time = time.Now().UTC().Truncate(time.Microsecond)
		return b.appendProjected(t, ev)
	}
	r := validRule("imported")
	seq := appendEv(rulelog.Event{Type: rulelog.EventRuleCreated, User: "alice", RuleID: 9000, Rule: &r, Actor: "fmn-import"})
	got, err := b.store.Rule(b.ctx, 9000)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "imported" || got.User.Name != "alice" || got.Version != seq {
		t.Errorf("imported rule: %+v", got)
	}
	if id := (rulelog.Event{RuleID: 9000}).CreatedID(seq); id != 9000 {
		t.Errorf("CreatedID = %d", id)
	}
	if id := (rulelog.Event{}).CreatedID(seq); id != int64(seq) {
		t.Errorf("CreatedID without RuleID = %d, want the sequence %d", id, seq)
	}

	t.Run("a taken id is not overwritten", func(t *testing.T) {
		other := validRule("mallory's")
		appendEv(rulelog.Event{Type: rulelog.EventRuleCreated, User: "mallory", RuleID: 9000, Rule: &other})
		got, err := b.store.Rule(b.ctx, 9000)
		if err != nil || got.User.Name != "alice" || got.Name != "imported" {
			t.Errorf("rule 9000 after a second creation: %+v, %v", got, err)
		}
	})
	t.Run("a deleted id is not taken again", func(t *testing.T) {
		if err := b.cmds.Delete(b.ctx, "alice", 9000, nil, rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		again := validRule("again")
		appendEv(rulelog.Event{Type: rulelog.EventRuleCreated, User: "alice", RuleID: 9000, Rule: &again})
		if _, err := b.store.Rule(b.ctx, 9000); err == nil {
			t.Error("a deleted rule's id was created again")
		}
	})
	t.Run("a rebuild gives the same rules", func(t *testing.T) {
		kept := validRule("kept")
		appendEv(rulelog.Event{Type: rulelog.EventRuleCreated, User: "bob", RuleID: 9001, Rule: &kept})
		if _, err := b.proj.Rebuild(b.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Rule(b.ctx, 9000); err == nil {
			t.Error("rule 9000 is back after a rebuild")
		}
		if got, err := b.store.Rule(b.ctx, 9001); err != nil || got.User.Name != "bob" || got.Name != "kept" {
			t.Errorf("rule 9001 after a rebuild: %+v, %v", got, err)
		}
	})
}

func validRule(name string) rules.Rule {
	return rules.Rule{Name: name, TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents},
		GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "email", Address: "a@example.org"}}}}}
}
