package rulelog

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fmn-project/fmn/projection"
	"github.com/fmn-project/fmn/queries"
)

// applier applies events to the tables inside a transaction (a
// projection.Applier).
type applier struct {
	q   *queries.Queries
	log *slog.Logger
	// users ensured in this transaction.
	users map[string]bool
}

// apply writes one event. Events that cannot be decoded are logged and
// passed over: the log is append-only, and one bad event must not stop
// every later change.
func (a *applier) Apply(ctx context.Context, se projection.Msg) error {
	ev, err := DecodeEvent(se.Subject, se.Header, se.Data)
	if err != nil {
		lvl := slog.LevelError
		if errors.Is(err, ErrUnknownEvent) {
			lvl = slog.LevelWarn
		}
		a.log.Log(ctx, lvl, "skip rule event", slog.Uint64("seq", se.Seq),
			slog.String("subject", se.Subject), slog.Any("error", err))
		return nil
	}
	seq := int64(se.Seq)
	if !a.users[ev.User] && (ev.Type == EventRuleCreated || ev.Type == EventUserCreated) {
		// The user's id is the sequence of the event that records them:
		// the same on every rebuild.
		if err := a.q.UserEnsure(ctx, queries.UserEnsureParams{Name: ev.User, CreatedAt: ev.Time, ID: &seq}); err != nil {
			return dbErr("ensure user", err)
		}
		a.users[ev.User] = true
	}
	var n int64
	switch ev.Type {
	case EventRuleCreated:
		params, gen, err := ruleColumns(ev.Rule)
		if err != nil {
			return err
		}
		err = a.q.RuleUpsert(ctx, queries.RuleUpsertParams{
			ID: seq, Username: ev.User, Name: ev.Rule.Name, Disabled: ev.Rule.Disabled,
			TrackingName: ev.Rule.TrackingRule.Name, TrackingParams: params, GenerationRules: gen,
			Version: seq, CreatedAt: ev.Time, UpdatedAt: ev.Time,
		})
		return dbErr("insert rule", err)
	case EventRuleUpdated:
		params, gen, err := ruleColumns(ev.Rule)
		if err != nil {
			return err
		}
		n, err = a.q.RuleUpdate(ctx, queries.RuleUpdateParams{
			ID: ev.RuleID, Username: ev.User, Name: ev.Rule.Name, Disabled: ev.Rule.Disabled,
			TrackingName: ev.Rule.TrackingRule.Name, TrackingParams: params, GenerationRules: gen,
			Version: seq, UpdatedAt: ev.Time,
		})
		if err != nil {
			return dbErr("update rule", err)
		}
	case EventRuleDeleted:
		n, err = a.q.RuleDelete(ctx, ev.RuleID, ev.User)
		if err != nil {
			return dbErr("delete rule", err)
		}
		if n > 0 {
			if err := a.q.TombstoneAdd(ctx, ev.RuleID, seq); err != nil {
				return dbErr("add tombstone", err)
			}
		}
	case EventRuleDisabled, EventRuleEnabled:
		n, err = a.q.RuleSetDisabled(ctx, queries.RuleSetDisabledParams{
			ID: ev.RuleID, Disabled: ev.Type == EventRuleDisabled, Version: seq, UpdatedAt: ev.Time,
		})
		if err != nil {
			return dbErr("switch rule", err)
		}
	case EventUserCreated:
		return nil
	}
	if n == 0 {
		// The commands check before they append, so only a hand-made
		// event gets here.
		a.log.WarnContext(ctx, "rule event for a rule the user does not have", slog.Uint64("seq", se.Seq),
			slog.String("type", ev.Type), slog.String("user", ev.User), slog.Int64("rule_id", ev.RuleID))
	}
	return nil
}

// Flush has nothing to do: Apply writes as it goes.
func (a *applier) Flush(context.Context) error { return nil }
