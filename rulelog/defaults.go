package rulelog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EventDefaultRulesSet is an admin's list of default rules (rule
// templates, see rules.Instantiate), on subject wire.RulesDefaultRules. The
// subject's last event is the list in force; it is read from the stream,
// not projected: the projector passes over it.
const EventDefaultRulesSet = "default-rules.set"

// DefaultRulesEvent is the body of EventDefaultRulesSet.
type DefaultRulesEvent struct {
	Type      string       `json:"type"`
	Templates []rules.Rule `json:"templates"`
	Actor     string       `json:"actor"`
	RequestID string       `json:"request_id,omitempty"`
	Time      time.Time    `json:"time"`
}

// DefaultRules is the admins' list of default rules as the stream holds
// it. Set is false until an admin sets one; Version is the sequence of the
// event that set it (0 when none).
type DefaultRules struct {
	Templates []rules.Rule
	Set       bool
	Version   uint64
}

// IsAdminSubject reports whether subject holds settings of the admins
// (wire.RulesDefaultRules) rather than a user's rule events.
func IsAdminSubject(subject string) bool { return subject == wire.RulesDefaultRules }

// DecodeDefaultRules decodes an EventDefaultRulesSet.
func DecodeDefaultRules(header nats.Header, data []byte) (DefaultRulesEvent, error) {
	var e DefaultRulesEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("decode default rules: %w", err)
	}
	if e.Type == "" {
		e.Type = header.Get(wire.HeaderEvent)
	}
	if e.Type != EventDefaultRulesSet {
		return e, fmt.Errorf("%w %q on %s", ErrUnknownEvent, e.Type, wire.RulesDefaultRules)
	}
	return e, nil
}

// DefaultRules reads the admins' list of default rules.
func (c *Commands) DefaultRules(ctx context.Context) (DefaultRules, error) {
	msg, err := c.stream.GetLastMsgForSubject(ctx, wire.RulesDefaultRules)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DefaultRules{}, nil
	}
	if err != nil {
		return DefaultRules{}, fmt.Errorf("read the default rules: %w", err)
	}
	e, err := DecodeDefaultRules(msg.Header, msg.Data)
	if err != nil {
		return DefaultRules{}, err
	}
	if e.Templates == nil {
		e.Templates = []rules.Rule{}
	}
	return DefaultRules{Templates: e.Templates, Set: true, Version: msg.Sequence}, nil
}

// SetDefaultRules appends the admins' new list of default rules, which
// must pass rules.ValidateTemplate (ErrInvalid). With ifMatch, the list in
// force must be the one of that version (ErrPreconditionFailed; 0: none
// set yet). It returns the new version.
func (c *Commands) SetDefaultRules(ctx context.Context, templates []rules.Rule, ifMatch *uint64, m Meta) (uint64, error) {
	for i := range templates {
		t := &templates[i]
		t.ID, t.User, t.GeneratedLastWeek, t.Origin = 0, rules.User{}, 0, ""
		if err := rules.ValidateTemplate(t); err != nil {
			return 0, TemplateError{Index: i, err: invalidError{err}}
		}
	}
	if templates == nil {
		templates = []rules.Rule{}
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	data, err := json.Marshal(DefaultRulesEvent{
		Type: EventDefaultRulesSet, Templates: templates,
		Actor: m.Actor, RequestID: m.RequestID, Time: m.Time.UTC().Truncate(time.Microsecond),
	})
	if err != nil {
		return 0, fmt.Errorf("encode default rules: %w", err)
	}
	msg := nats.NewMsg(wire.RulesDefaultRules)
	msg.Header.Set(wire.HeaderEvent, EventDefaultRulesSet)
	msg.Data = data
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(newMsgID())}
	if ifMatch != nil {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(*ifMatch))
	}
	ack, err := c.js.PublishMsg(ctx, msg, opts...)
	if wrongLastSequence(err) {
		return 0, ErrPreconditionFailed
	}
	if err != nil {
		return 0, fmt.Errorf("append %s: %w", EventDefaultRulesSet, err)
	}
	return ack.Sequence, nil
}

// TemplateError is a template of SetDefaultRules that is not valid: the
// error of rules.ValidateTemplate (errors.As a rules.ValidationErrors,
// errors.Is ErrInvalid) for the template at Index.
type TemplateError struct {
	Index int
	err   error
}

func (e TemplateError) Error() string {
	return "default rule " + strconv.Itoa(e.Index) + ": " + e.err.Error()
}

func (e TemplateError) Unwrap() error { return e.err }

// defaultRuleMsgID is the Nats-Msg-Id of the i-th default rule of user:
// appended again (a retry, a racing twin) within the duplicate window, it
// is a duplicate.
func defaultRuleMsgID(user string, i int) string {
	return "default-rule." + wire.EncodeToken(user) + "." + strconv.Itoa(i)
}

// appendDefaults appends the default rules of a user this process has
// just recorded, right after their user.created, and returns the last
// sequence appended (0 when none). They are ordinary rule.created events
// whose rules have Origin rules.OriginDefault; each has a message id of
// (user, index), so that a retry never creates one twice.
func (c *Commands) appendDefaults(ctx context.Context, user string, defaults []rules.Rule, m Meta) (uint64, error) {
	var last uint64
	for i, r := range defaults {
		r.ID, r.User, r.GeneratedLastWeek, r.Origin = 0, rules.User{Name: user}, 0, rules.OriginDefault
		if err := validate(&r); err != nil {
			c.cfg.Logger.WarnContext(ctx, "default rule left out: not valid for this user",
				slog.String("user", user), slog.Int("index", i), slog.Any("error", err))
			continue
		}
		ev := c.event(EventRuleCreated, user, 0, m)
		ev.Rule = &r
		seq, err := c.append(ctx, ev, nil, defaultRuleMsgID(user, i))
		if err != nil {
			return last, err
		}
		last = seq
	}
	return last, nil
}
