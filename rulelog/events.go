// Package rulelog is the event-sourced side of fmn's rules: the events on
// the RULES stream, the commands that append them with optimistic
// concurrency, the projector that applies them to PostgreSQL, and the
// reader that consumers use to follow the projected rule set.
//
// The stream is the source of truth. A rule's id is the stream sequence of
// its creation event and its version (the ETag) the sequence of its last
// event. The tables written by the projector can be rebuilt from the stream
// at any time (Projector.Rebuild).
package rulelog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

// Event types. The type is in the body and in the header wire.HeaderEvent.
const (
	// EventRuleCreated carries the full rule; its id is the event's
	// sequence, or RuleID when the event sets it (a rule imported from FMN
	// v3 keeps its id: see ImportedRuleID).
	EventRuleCreated = "rule.created"
	// EventRuleUpdated carries the full rule that replaces rule RuleID.
	EventRuleUpdated = "rule.updated"
	// EventRuleDeleted removes rule RuleID.
	EventRuleDeleted = "rule.deleted"
	// EventRuleDisabled and EventRuleEnabled are an admin's switch of rule
	// RuleID; the rest of the rule is unchanged.
	EventRuleDisabled = "rule.disabled"
	EventRuleEnabled  = "rule.enabled"
	// EventUserCreated records a user before their first rule, so that the
	// users table, like every projection, comes from the stream alone.
	EventUserCreated = "user.created"
	// EventDeliveryUpdated carries the user's full list of non-default
	// delivery settings (Settings), replacing the previous list: a
	// destination not in it has the defaults (delivery.Setting).
	EventDeliveryUpdated = "delivery.updated"
)

// ErrUnknownEvent is returned by DecodeEvent for an event type this version
// does not know. The projector skips such events: a newer writer may have
// added them.
var ErrUnknownEvent = errors.New("unknown rule event type")

// Event is one entry of a user's rule history, on subject
// wire.RulesUserSubject(User) of the RULES stream.
type Event struct {
	Type string `json:"type"`
	// User owns the rules; the subject is authoritative when they differ.
	User string `json:"user"`
	// RuleID names the rule for every type but user.created. A created
	// event without it makes a rule whose id is the event's own sequence;
	// with it (an imported rule), a rule of that id.
	RuleID int64 `json:"rule_id,omitempty"`
	// Rule is the full rule for created and updated.
	Rule *rules.Rule `json:"rule,omitempty"`
	// Settings is the user's whole list of non-default delivery settings,
	// for delivery.updated (empty: every destination at the defaults).
	Settings []delivery.Setting `json:"settings,omitempty"`
	// Actor is who asked for the change: the user, or an admin.
	Actor     string    `json:"actor"`
	RequestID string    `json:"request_id,omitempty"`
	Time      time.Time `json:"time"`
}

// Message encodes the event for the user's subject, with its type in the
// header wire.HeaderEvent.
func (e Event) Message() (*nats.Msg, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	msg := nats.NewMsg(wire.RulesUserSubject(e.User))
	msg.Header.Set(wire.HeaderEvent, e.Type)
	msg.Data = data
	return msg, nil
}

// DecodeEvent decodes an event read from the stream. The user comes from
// the subject. An event of a type this version does not know decodes as far
// as it can and returns an error wrapping ErrUnknownEvent.
func DecodeEvent(subject string, header nats.Header, data []byte) (Event, error) {
	var e Event
	user, err := subjectUser(subject)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("decode rule event on %s: %w", subject, err)
	}
	e.User = user
	return e, e.check(subject, header)
}

// subjectUser is the user whose rule subject subject is.
func subjectUser(subject string) (string, error) {
	token, ok := strings.CutPrefix(subject, wire.RulesUserPfx)
	if !ok || token == "" || strings.Contains(token, ".") {
		return "", fmt.Errorf("%w: subject %q is not a user's rule subject", ErrUnknownEvent, subject)
	}
	return wire.DecodeToken(token)
}

// check completes a decoded event (its type from the header when the body
// has none) and checks that it has what its type needs.
func (e *Event) check(subject string, header nats.Header) error {
	if e.Type == "" {
		e.Type = header.Get(wire.HeaderEvent)
	}
	switch e.Type {
	case EventRuleCreated, EventRuleUpdated:
		if e.Rule == nil {
			return fmt.Errorf("%s event on %s has no rule", e.Type, subject)
		}
		if e.Type == EventRuleUpdated && e.RuleID == 0 {
			return fmt.Errorf("%s event on %s has no rule_id", e.Type, subject)
		}
	case EventRuleDeleted, EventRuleDisabled, EventRuleEnabled:
		if e.RuleID == 0 {
			return fmt.Errorf("%s event on %s has no rule_id", e.Type, subject)
		}
	case EventUserCreated:
	case EventDeliveryUpdated:
		for _, st := range e.Settings {
			if err := st.Validate(); err != nil {
				return fmt.Errorf("%s event on %s: %w", e.Type, subject, err)
			}
		}
	default:
		return fmt.Errorf("%w %q on %s", ErrUnknownEvent, e.Type, subject)
	}
	return nil
}

// CreatedID is the id of the rule a rule.created event stored at seq
// makes: its RuleID when set (an imported rule), else seq.
func (e Event) CreatedID(seq uint64) int64 {
	if e.RuleID != 0 {
		return e.RuleID
	}
	return int64(seq)
}
