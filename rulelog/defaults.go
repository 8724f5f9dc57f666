package rulelog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
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
// must pass rules.ValidateTemplate (ErrInvalid) and hold at most
// MaxDefaultRules templates (ErrInvalid). With ifMatch, the list in
// force must be the one of that version (ErrPreconditionFailed; 0: none
// set yet). It returns the new version.
func (c *Commands) SetDefaultRules(ctx context.Context, templates []rules.Rule, ifMatch *uint64, m Meta) (uint64, error) {
	if len(templates) > MaxDefaultRules {
		return 0, fmt.Errorf("%w: %d default rules, at most %d (a new user's record and rules are one atomic batch)",
			ErrInvalid, len(templates), MaxDefaultRules)
	}
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
// sent again within the duplicate window (a retry of the batch that
// recorded the user), it is a duplicate, and the server refuses the whole
// batch rather than store anything twice.
func defaultRuleMsgID(user string, i int) string {
	return "default-rule." + wire.EncodeToken(user) + "." + strconv.Itoa(i)
}

// recordUser appends user.created as the first event of user's subject
// (expected last subject sequence 0), with message id msgID, followed by
// user's valid default rules, and returns the sequence to wait for: the
// user's last event. The events go as one atomic batch, so that a crash
// anywhere in between stores none of them and the next call records the
// user with all their default rules; without a valid default rule, it is a
// single publish. A subject that has another first event (a racing twin,
// an import) is errConflict, and then nothing of this call is stored.
//
// Each default rule is an ordinary rule.created event whose rule has
// Origin rules.OriginDefault and whose message id is (user, index). A
// batch whose outcome is unknown (its commit's answer was lost, the
// server was electing a leader) is sent again with a new batch id and the
// same message ids: when the first one was stored, the server refuses the
// second as a duplicate, and the subject's first event carrying msgID
// says that the batch is ours and stored, all of it.
func (c *Commands) recordUser(ctx context.Context, user string, defaults []rules.Rule, m Meta, msgID string) (uint64, error) {
	created := c.event(EventUserCreated, user, 0, m)
	zero := uint64(0)
	events, ids := c.defaultEvents(ctx, user, defaults, m)
	if len(events) == 0 {
		return c.append(ctx, created, &zero, msgID)
	}
	events = append([]Event{created}, events...)
	ids = append([]string{msgID}, ids...)
	for attempt := 1; ; attempt++ {
		msgs := make([]*nats.Msg, len(events))
		for i, ev := range events {
			msg, err := ev.Message()
			if err != nil {
				return 0, err
			}
			msg.Header.Set(jetstream.MsgIDHeader, ids[i])
			msgs[i] = msg
		}
		msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		last, err := c.publishBatch(ctx, msgs)
		if err == nil {
			return last, nil
		}
		if !batchOutcomeUnknown(ctx, err) {
			return 0, c.batchError(user, len(msgs), err)
		}
		// Refused because of what the stream holds, or not answered: the
		// subject's first event tells.
		first, ferr := c.firstEvent(ctx, user)
		switch {
		case ferr != nil:
			return 0, fmt.Errorf("append %s and %d default rules of %s: %w (then: %w)", EventUserCreated, len(msgs)-1, user, err, ferr)
		case first != nil && first.Header.Get(jetstream.MsgIDHeader) == msgID:
			return c.lastSeq(ctx, user)
		case first != nil:
			return 0, errConflict
		}
		if attempt >= batchAttempts || ctx.Err() != nil {
			return 0, c.batchError(user, len(msgs), err)
		}
		// Nothing stored: a pause, growing with the attempts, lets a leader
		// election or the server's other batches end.
		pause := time.NewTimer(rand.N(time.Duration(attempt*attempt) * 5 * time.Millisecond))
		select {
		case <-ctx.Done():
			pause.Stop()
			return 0, ctx.Err()
		case <-pause.C:
		}
	}
}

// batchAttempts bounds how many times recordUser sends a batch whose
// outcome was unknown and which turned out not stored.
const batchAttempts = 5

// defaultEvents makes the rule.created events of user's default rules
// and their message ids, leaving out (with a warning) those not valid for
// the user.
func (c *Commands) defaultEvents(ctx context.Context, user string, defaults []rules.Rule, m Meta) ([]Event, []string) {
	var events []Event
	var ids []string
	for i, r := range defaults {
		r.ID, r.User, r.GeneratedLastWeek, r.Origin = 0, rules.User{Name: user}, 0, rules.OriginDefault
		if err := validate(&r); err != nil {
			c.cfg.Logger.WarnContext(ctx, "default rule left out: not valid for this user",
				slog.String("user", user), slog.Int("index", i), slog.Any("error", err))
			continue
		}
		ev := c.event(EventRuleCreated, user, 0, m)
		ev.Rule = &r
		events = append(events, ev)
		ids = append(ids, defaultRuleMsgID(user, i))
	}
	return events, ids
}

// batchOutcomeUnknown reports the errors of a batch after which the
// stream must be looked at: the answer was lost or the server was busy
// (the batch may be stored, or not: trying again is safe), or the server
// refused the batch because of what the stream holds or is storing (an
// earlier send of the same batch, a racing twin).
func batchOutcomeUnknown(ctx context.Context, err error) bool {
	if ackTimedOut(ctx, err) || wrongLastSequence(err) {
		return true
	}
	switch batchErrorCode(err) {
	case codeAtomicDuplicate, codeDuplicateInProcess, codeAtomicIncomplete, codeAtomicTooManyBatches:
		return true
	}
	return ctx.Err() == nil && streams.IsTransient(err)
}

// batchError says what went wrong with the batch of n messages that
// records user, and what to do when it is the deployment's doing.
func (c *Commands) batchError(user string, n int, err error) error {
	what := fmt.Sprintf("append %s and %d default rules of %s as one atomic batch", EventUserCreated, n-1, user)
	switch batchErrorCode(err) {
	case codeAtomicDisabled:
		return fmt.Errorf("%s: stream %s does not allow atomic publish; an fmn server of this version (fmn serve, fmn dev) turns it on when it starts: %w",
			what, c.cfg.Stream, err)
	case codeAtomicTooLarge:
		return fmt.Errorf("%s: the NATS server allows fewer messages in a batch (jetstream { limits { batch { max_msgs } } }, default 1000); "+
			"raise it to at least %d, or shorten the default rules: %w", what, MaxDefaultRules+1, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// firstEvent is the first event on user's subject, nil when there is none.
func (c *Commands) firstEvent(ctx context.Context, user string) (*jetstream.RawStreamMsg, error) {
	msg, err := c.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(wire.RulesUserSubject(user)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("first rule event of %s: %w", user, err)
	}
	return msg, nil
}
