package replay

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// HistoryEntry is one rule event with what it changed.
type HistoryEntry struct {
	Seq    uint64        `json:"seq"`
	Stored time.Time     `json:"stored"`
	Event  rulelog.Event `json:"event"`
	// RuleID is the rule the event is about (its own sequence for
	// rule.created; 0 for user.created).
	RuleID int64 `json:"rule_id,omitempty"`
	// Changes lists the fields the event changed, with their values
	// before and after (JSON). A creation lists every field.
	Changes []Change `json:"changes,omitempty"`
	// Rule is the rule after the event (nil once deleted).
	Rule *rules.Rule `json:"rule,omitempty"`
}

// Change is one field changed by an event; Before or After is empty when
// the field appeared or went.
type Change struct {
	Field  string `json:"field"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// When is the time of the change: the event's own time (when the API
// accepted it), else when the stream stored it.
func (h HistoryEntry) When() time.Time {
	if !h.Event.Time.IsZero() {
		return h.Event.Time
	}
	return h.Stored
}

// History reads the RULES stream.
type History struct {
	JS     jetstream.JetStream
	Stream string // default streams.Defaults().Rules
}

func (h History) stream() string {
	if h.Stream == "" {
		return streams.Defaults().Rules
	}
	return h.Stream
}

// RuleOwner returns the user of rule id: the subject of its creation
// event, whose sequence is the id.
func (h History) RuleOwner(ctx context.Context, id int64) (string, error) {
	if id <= 0 {
		return "", fmt.Errorf("no rule %d", id)
	}
	st, err := h.JS.Stream(ctx, h.stream())
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", h.stream(), err)
	}
	m, err := st.GetMsg(ctx, uint64(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", fmt.Errorf("no rule %d: %s has no event %d", id, h.stream(), id)
	}
	if err != nil {
		return "", err
	}
	ev, err := rulelog.DecodeEvent(m.Subject, m.Header, m.Data)
	if err != nil {
		return "", err
	}
	if ev.Type != rulelog.EventRuleCreated {
		return "", fmt.Errorf("no rule %d: event %d is a %s of %s", id, id, ev.Type, ev.User)
	}
	return ev.User, nil
}

// Events calls fn for the events of user in order, each with the changes
// it made and the rule after it; with ruleID > 0, only that rule's. until,
// when not zero, ends the history at that time (see HistoryEntry.When).
func (h History) Events(ctx context.Context, user string, ruleID int64, until time.Time, fn func(HistoryEntry) error) error {
	state := map[int64]*rules.Rule{}
	sel := Selection{Subjects: []string{wire.RulesUserSubject(user)}}
	return streams.Scan(ctx, h.JS, h.stream(), sel, streams.ScanOptions{}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		ev, err := rulelog.DecodeEvent(m.Subject(), m.Headers(), m.Data())
		if err != nil {
			// The projector skips what it cannot decode; so does history.
			return nil
		}
		e := HistoryEntry{Seq: md.Sequence.Stream, Stored: md.Timestamp, Event: ev, RuleID: ev.RuleID}
		if !until.IsZero() && e.When().After(until) {
			return streams.ErrStopScan
		}
		var before *rules.Rule
		switch ev.Type {
		case rulelog.EventRuleCreated:
			e.RuleID = ev.CreatedID(e.Seq)
			r := *ev.Rule
			r.ID, r.User = e.RuleID, rules.User{Name: user}
			state[e.RuleID] = &r
		case rulelog.EventRuleUpdated:
			before = state[ev.RuleID]
			r := *ev.Rule
			r.ID, r.User = ev.RuleID, rules.User{Name: user}
			state[ev.RuleID] = &r
		case rulelog.EventRuleDeleted:
			before = state[ev.RuleID]
			delete(state, ev.RuleID)
		case rulelog.EventRuleDisabled, rulelog.EventRuleEnabled:
			before = state[ev.RuleID]
			if before != nil {
				r := *before
				r.Disabled = ev.Type == rulelog.EventRuleDisabled
				state[ev.RuleID] = &r
			}
		}
		if ruleID > 0 && e.RuleID != ruleID {
			return nil
		}
		e.Rule = state[e.RuleID]
		e.Changes = diffRules(before, e.Rule)
		return fn(e)
	})
}

// At returns the user's rules as they were at a time, by id; with ruleID >
// 0 only that rule (an empty result: it did not exist then).
func (h History) At(ctx context.Context, user string, ruleID int64, at time.Time) ([]rules.Rule, error) {
	state := map[int64]rules.Rule{}
	err := h.Events(ctx, user, ruleID, at, func(e HistoryEntry) error {
		if e.RuleID == 0 {
			return nil
		}
		if e.Rule == nil {
			delete(state, e.RuleID)
		} else {
			state[e.RuleID] = *e.Rule
		}
		return nil
	})
	out := make([]rules.Rule, 0, len(state))
	for _, r := range state {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b rules.Rule) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}

// diffRules lists the fields that differ between two states of a rule, as
// flattened JSON paths ("generation_rules[0].filters.applications").
func diffRules(before, after *rules.Rule) []Change {
	flat := func(r *rules.Rule) map[string]string {
		out := map[string]string{}
		if r == nil {
			return out
		}
		c := *r
		c.ID, c.GeneratedLastWeek = 0, 0
		data, err := json.Marshal(c)
		if err != nil {
			return out
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return out
		}
		flatten("", v, out)
		delete(out, "id")
		delete(out, "generated_last_week")
		delete(out, "user.name")
		return out
	}
	b, a := flat(before), flat(after)
	var fields []string
	for k := range b {
		fields = append(fields, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			fields = append(fields, k)
		}
	}
	slices.Sort(fields)
	var out []Change
	for _, f := range fields {
		if b[f] != a[f] {
			out = append(out, Change{Field: f, Before: b[f], After: a[f]})
		}
	}
	return out
}

// flatten maps objects to dotted paths and lists of objects to indexed
// paths; other values (lists of names included) stay whole, as JSON.
func flatten(path string, v any, out map[string]string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join(k), e, out)
		}
		return
	case []any:
		objects := len(x) > 0
		for _, e := range x {
			if _, ok := e.(map[string]any); !ok {
				objects = false
			}
		}
		if objects {
			for i, e := range x {
				flatten(path+"["+strconv.Itoa(i)+"]", e, out)
			}
			return
		}
	}
	data, _ := json.Marshal(v)
	out[path] = string(data)
}
