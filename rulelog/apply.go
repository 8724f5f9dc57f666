package rulelog

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fmn-project/fmn/projection"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/rules"
)

// applier applies events to the tables inside a transaction (a
// projection.Applier).
type applier struct {
	q   *queries.Queries
	log *slog.Logger
	// users ensured in this transaction.
	users map[string]bool
	// importing gathers the creations of imported rules not written yet.
	importing importedRules
}

// importedRules are creations of rules that keep the id they had
// elsewhere (rule.created with a RuleID), written in one statement.
type importedRules struct {
	p queries.RuleInsertImportedParams
}

func (ir *importedRules) add(ev Event, seq int64, params, gen []byte) {
	ir.p.Ids = append(ir.p.Ids, ev.RuleID)
	ir.p.Usernames = append(ir.p.Usernames, ev.User)
	ir.p.Names = append(ir.p.Names, ev.Rule.Name)
	ir.p.Disabled = append(ir.p.Disabled, ev.Rule.Disabled)
	ir.p.TrackingNames = append(ir.p.TrackingNames, ev.Rule.TrackingRule.Name)
	ir.p.TrackingParams = append(ir.p.TrackingParams, params)
	ir.p.GenerationRules = append(ir.p.GenerationRules, gen)
	ir.p.Versions = append(ir.p.Versions, seq)
	ir.p.Times = append(ir.p.Times, ev.Time)
}

// flushImported writes the gathered imported rules, except those whose id
// a rule has or had: the importer checks before it appends, so only a
// hand-made event is skipped, with a warning.
func (a *applier) flushImported(ctx context.Context) error {
	ir := &a.importing
	if len(ir.p.Ids) == 0 {
		return nil
	}
	written, err := a.q.RuleInsertImported(ctx, ir.p)
	if err != nil {
		return dbErr("insert imported rules", err)
	}
	if len(written) < len(ir.p.Ids) {
		done := make(map[int64]int, len(written))
		for _, id := range written {
			done[id]++
		}
		for i, id := range ir.p.Ids {
			if done[id] > 0 {
				done[id]--
				continue
			}
			a.log.WarnContext(ctx, "skip rule.created: its rule id is taken", slog.Int64("seq", ir.p.Versions[i]),
				slog.String("user", ir.p.Usernames[i]), slog.Int64("rule_id", id))
		}
	}
	*ir = importedRules{}
	return nil
}

// apply writes one event. Events that cannot be decoded are logged and
// passed over: the log is append-only, and one bad event must not stop
// every later change.
func (a *applier) Apply(ctx context.Context, se projection.Msg) error {
	if IsAdminSubject(se.Subject) {
		// The admins' settings (the default rules) are read from the
		// stream where they are needed; no table holds them.
		return nil
	}
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
	if ev.Type != EventRuleCreated || ev.RuleID == 0 {
		// What an event does depends on the events before it.
		if err := a.flushImported(ctx); err != nil {
			return err
		}
	}
	if !a.users[ev.User] && (ev.Type == EventRuleCreated || ev.Type == EventUserCreated || ev.Type == EventDeliveryUpdated) {
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
		if ev.RuleID != 0 {
			// An imported rule keeps the id it had elsewhere. An import
			// appends thousands of these in a row: they are written
			// together, before any other event and at Flush.
			a.importing.add(ev, seq, params, gen)
			return nil
		}
		err = a.q.RuleUpsert(ctx, queries.RuleUpsertParams{
			ID: seq, Username: ev.User, Name: ev.Rule.Name, Disabled: ev.Rule.Disabled,
			TrackingName: ev.Rule.TrackingRule.Name, TrackingParams: params, GenerationRules: gen,
			Version: seq, CreatedAt: ev.Time, UpdatedAt: ev.Time, Origin: origin(ev.Rule),
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
	case EventDeliveryUpdated:
		settings, err := settingsColumn(ev.Settings)
		if err != nil {
			return err
		}
		return dbErr("put delivery settings", a.q.DeliverySettingsPut(ctx, queries.DeliverySettingsPutParams{
			Username: ev.User, Settings: settings, Version: seq, UpdatedAt: ev.Time,
		}))
	}
	if n == 0 {
		// The commands check before they append, so only a hand-made
		// event gets here.
		a.log.WarnContext(ctx, "rule event for a rule the user does not have", slog.Uint64("seq", se.Seq),
			slog.String("type", ev.Type), slog.String("user", ev.User), slog.Int64("rule_id", ev.RuleID))
	}
	return nil
}

// Flush writes the imported rules gathered; Apply writes everything else
// as it goes.
func (a *applier) Flush(ctx context.Context) error { return a.flushImported(ctx) }

// origin is the origin column of a created rule: NULL for a rule a person
// made.
func origin(r *rules.Rule) *string {
	if r.Origin == "" {
		return nil
	}
	return &r.Origin
}
