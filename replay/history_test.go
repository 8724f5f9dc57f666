package replay_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/replay"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

func TestRuleHistory(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	ctx := fmntest.Context(t)
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	mk := func(apps ...string) *rules.Rule {
		return &rules.Rule{Name: "mine", TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents, Params: json.RawMessage("null")},
			GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "email", Address: "alice@example.org"}},
				Filters: rules.Filters{Applications: apps}}}}
	}
	events := []rulelog.Event{
		{Type: rulelog.EventRuleCreated, User: "alice", Rule: mk(), Actor: "alice", RequestID: "req-1", Time: t0},                                 // 1
		{Type: rulelog.EventRuleCreated, User: "bob", Rule: mk(), Actor: "bob", Time: t0.Add(time.Minute)},                                        // 2
		{Type: rulelog.EventRuleUpdated, User: "alice", RuleID: 1, Rule: mk("koji"), Actor: "alice", RequestID: "req-2", Time: t0.Add(time.Hour)}, // 3
		{Type: rulelog.EventRuleDisabled, User: "alice", RuleID: 1, Actor: "admin", RequestID: "req-3", Time: t0.Add(2 * time.Hour)},              // 4
		{Type: rulelog.EventRuleCreated, User: "alice", Rule: mk("bodhi"), Actor: "alice", Time: t0.Add(3 * time.Hour)},                           // 5
		{Type: rulelog.EventRuleDeleted, User: "alice", RuleID: 1, Actor: "alice", RequestID: "req-4", Time: t0.Add(4 * time.Hour)},               // 6
	}
	for _, e := range events {
		m, err := e.Message()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	h := replay.History{JS: n.JS, Stream: n.Streams.Rules}

	t.Run("RuleOwner", func(t *testing.T) {
		t.Parallel()
		if u, err := h.RuleOwner(ctx, 2); err != nil || u != "bob" {
			t.Errorf("owner of 2: %q, %v", u, err)
		}
		if _, err := h.RuleOwner(ctx, 3); err == nil {
			t.Error("event 3 is an update, not a rule")
		}
	})

	t.Run("OneRule", func(t *testing.T) {
		t.Parallel()
		var got []replay.HistoryEntry
		if err := h.Events(ctx, "alice", 1, time.Time{}, func(e replay.HistoryEntry) error {
			got = append(got, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range got {
			var ch []string
			for _, c := range e.Changes {
				ch = append(ch, c.Field+":"+c.Before+"→"+c.After)
			}
			lines = append(lines, e.Event.Type+" by "+e.Event.Actor+" "+e.Event.RequestID+" "+strings.Join(ch, ","))
		}
		if len(got) != 4 || !strings.HasPrefix(lines[0], "rule.created by alice req-1 ") ||
			lines[1] != `rule.updated by alice req-2 generation_rules[0].filters.applications:null→["koji"]` ||
			lines[2] != "rule.disabled by admin req-3 disabled:false→true" ||
			!strings.HasPrefix(lines[3], "rule.deleted by alice req-4 ") || got[3].Rule != nil {
			t.Errorf("history:\n%s", strings.Join(lines, "\n"))
		}
	})

	t.Run("At", func(t *testing.T) {
		t.Parallel()
		at := func(when time.Time, id int64) []rules.Rule {
			rs, err := h.At(ctx, "alice", id, when)
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		if rs := at(t0.Add(-time.Minute), 1); len(rs) != 0 {
			t.Errorf("before its creation: %v", rs)
		}
		if rs := at(t0.Add(90*time.Minute), 1); len(rs) != 1 || rs[0].Disabled || rs[0].GenerationRules[0].Filters.Applications[0] != "koji" {
			t.Errorf("after the update: %+v", rs)
		}
		if rs := at(t0.Add(150*time.Minute), 1); len(rs) != 1 || !rs[0].Disabled {
			t.Errorf("after the admin's switch: %+v", rs)
		}
		if rs := at(t0.Add(210*time.Minute), 0); len(rs) != 2 || rs[0].ID != 1 || rs[1].ID != 5 {
			t.Errorf("every rule of alice then: %+v", rs)
		}
		if rs := at(t0.Add(5*time.Hour), 0); len(rs) != 1 || rs[0].ID != 5 || rs[0].User.Name != "alice" {
			t.Errorf("now: %+v", rs)
		}
	})
}
