package rulelog

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/fmn-project/fmn/projection"
	"github.com/fmn-project/fmn/queries"
	"github.com/jackc/pgx/v5/pgconn"
)

// applier applies events to the tables inside a transaction (a
// projection.Applier). Creations (of rules and users) are gathered and
// written together, a batch of them in one statement each, at Flush, every
// maxGathered, and before any event that depends on them: what an event
// does depends only on the events before it, and nothing reads the tables
// in between. An update, a switch or a deletion of a rule that is not
// gathered does not depend on them and is written at once; an update or a
// switch of one of fmn's own gathered rules is folded into its row.
type applier struct {
	// q writes through w: statements are sent together at the end of the
	// transaction (see projection.Writer).
	q   *queries.Queries
	w   *projection.Writer
	log *slog.Logger
	// users ensured in this transaction, written or gathered.
	users map[string]bool
	// newUsers gathers the users not written yet.
	newUsers queries.UserEnsureParams
	// created gathers the creations of rules not written yet; imported
	// says whether they are imported ones (rule.created with a RuleID,
	// keeping the id they had elsewhere) or fmn's own. One kind at a time:
	// a creation of the other kind writes them first.
	created  ruleRows
	imported bool
	// origins are the origins of created when they are fmn's own ("" for
	// none; imported rules have none).
	origins []string
	// updated are the times of the last change of created's rules (their
	// creation's, or a folded update's).
	updated []time.Time
	// gathered maps the ids of created to their index.
	gathered map[int64]int
	// touched are the users of the events applied since their answer
	// versions were last set (user_rules_version): set at Flush, or once
	// maxGathered of them are waiting.
	touched map[string]struct{}
	// switched are the rules switched on or off since then: their
	// statement names the rule alone, so their owners are bumped from the
	// table, whoever the event names.
	switched []int64
}

// maxGathered bounds what the applier holds before writing it (a rebuild
// applies the whole stream in one transaction).
const maxGathered = 2000

// ruleRows are rule creations as the set-based inserts take them
// (queries.RuleCreateParams, queries.RuleInsertImportedParams).
type ruleRows struct {
	Ids             []int64
	Usernames       []string
	Names           []string
	Disabled        []bool
	TrackingNames   []string
	TrackingParams  []json.RawMessage
	GenerationRules []json.RawMessage
	Versions        []int64
	Times           []time.Time
}

func (rr *ruleRows) add(id int64, ev Event, seq int64, params, gen []byte) {
	rr.Ids = append(rr.Ids, id)
	rr.Usernames = append(rr.Usernames, ev.User)
	rr.Names = append(rr.Names, ev.Rule.Name)
	rr.Disabled = append(rr.Disabled, ev.Rule.Disabled)
	rr.TrackingNames = append(rr.TrackingNames, ev.Rule.TrackingRule.Name)
	rr.TrackingParams = append(rr.TrackingParams, params)
	rr.GenerationRules = append(rr.GenerationRules, gen)
	rr.Versions = append(rr.Versions, seq)
	rr.Times = append(rr.Times, ev.Time)
}

// clear forgets the rows. It does not reuse their arrays: the statement
// that writes them holds them until the writer sends it.
func (rr *ruleRows) clear() { *rr = ruleRows{} }

// flush writes what is gathered: the users, then the rules.
func (a *applier) flush(ctx context.Context) error {
	if nu := &a.newUsers; len(nu.Names) > 0 {
		if err := a.q.UserEnsure(ctx, *nu); err != nil {
			return dbErr("ensure users", err)
		}
		// A new value, not the arrays emptied: the statement holds them
		// until the writer sends it.
		*nu = queries.UserEnsureParams{}
	}
	if len(a.created.Ids) == 0 {
		return nil
	}
	if !a.imported {
		rr := &a.created
		if err := a.q.RuleCreate(ctx, queries.RuleCreateParams{
			Ids: rr.Ids, Usernames: rr.Usernames, Names: rr.Names, Disabled: rr.Disabled,
			TrackingNames: rr.TrackingNames, TrackingParams: rr.TrackingParams, GenerationRules: rr.GenerationRules,
			Versions: rr.Versions, Times: rr.Times, UpdatedTimes: a.updated, Origins: a.origins,
		}); err != nil {
			return dbErr("insert rules", err)
		}
		a.clearCreated()
		return nil
	}
	// Imported rules: all but those whose id a rule has or had. The
	// importer checks before it appends, so only a hand-made event is
	// skipped, with a warning.
	ir := queries.RuleInsertImportedParams(a.created)
	written, err := a.q.RuleInsertImported(ctx, ir)
	if err != nil {
		return dbErr("insert imported rules", err)
	}
	if len(written) < len(ir.Ids) {
		done := make(map[int64]int, len(written))
		for _, id := range written {
			done[id]++
		}
		for i, id := range ir.Ids {
			if done[id] > 0 {
				done[id]--
				continue
			}
			a.log.WarnContext(ctx, "skip rule.created: its rule id is taken", slog.Int64("seq", ir.Versions[i]),
				slog.String("user", ir.Usernames[i]), slog.Int64("rule_id", id))
		}
	}
	a.clearCreated()
	return nil
}

// clearCreated forgets the rule creations written.
func (a *applier) clearCreated() {
	a.created.clear()
	a.origins, a.updated = nil, nil
	clear(a.gathered)
}

// fold applies a change of a rule to its gathered creation when it is one
// of fmn's own (an imported one may yet be skipped), and says whether it
// did; n is the rows the change affects, as its statement would.
func (a *applier) fold(ev Event, gen json.RawMessage, seq int64) (folded bool, n int64) {
	i, ok := a.gathered[ev.RuleID]
	if !ok || a.imported {
		return false, 0
	}
	rr := &a.created
	switch ev.Type {
	case EventRuleUpdated:
		if rr.Usernames[i] != ev.User {
			return true, 0
		}
		rr.Names[i], rr.Disabled[i], rr.TrackingNames[i] = ev.Rule.Name, ev.Rule.Disabled, ev.Rule.TrackingRule.Name
		rr.TrackingParams[i], rr.GenerationRules[i] = trackingParams(ev.Rule), gen
	case EventRuleDisabled, EventRuleEnabled:
		rr.Disabled[i] = ev.Type == EventRuleDisabled
	default:
		return false, 0
	}
	rr.Versions[i], a.updated[i] = seq, ev.Time
	return true, 1
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
	ev, gen, err := decodeApplied(se.Subject, se.Header, se.Data)
	if err != nil {
		lvl := slog.LevelError
		if errors.Is(err, ErrUnknownEvent) {
			lvl = slog.LevelWarn
		}
		a.log.Log(ctx, lvl, "skip rule event", slog.Uint64("seq", se.Seq),
			slog.String("subject", se.Subject), slog.Any("error", err))
		return nil
	}
	// A user's delivery settings are not in the list of their rules.
	if ev.Type != EventDeliveryUpdated {
		if err := a.touch(ctx, ev.User); err != nil {
			return err
		}
	}
	seq := int64(se.Seq)
	creation := ev.Type == EventRuleCreated || ev.Type == EventUserCreated
	imported := ev.Type == EventRuleCreated && ev.RuleID != 0
	if !a.users[ev.User] && (creation || ev.Type == EventDeliveryUpdated) {
		// The user's id is the sequence of the event that records them:
		// the same on every rebuild.
		a.newUsers.Names = append(a.newUsers.Names, ev.User)
		a.newUsers.Times = append(a.newUsers.Times, ev.Time)
		a.newUsers.Ids = append(a.newUsers.Ids, seq)
		a.users[ev.User] = true
	}
	// What an event does depends on the events before it (and on its
	// user): they are written first, unless both are creations of the
	// same kind.
	switch ev.Type {
	case EventRuleUpdated, EventRuleDeleted, EventRuleDisabled, EventRuleEnabled:
		if folded, fn := a.fold(ev, gen, seq); folded {
			if fn == 0 {
				a.warnNoRule(ctx, se.Seq, ev)
			}
			return nil
		}
		if _, dep := a.gathered[ev.RuleID]; dep {
			if err := a.flush(ctx); err != nil {
				return err
			}
		}
	default:
		if !creation || (ev.Type == EventRuleCreated && imported != a.imported) || len(a.created.Ids)+len(a.newUsers.Names) >= maxGathered {
			if err := a.flush(ctx); err != nil {
				return err
			}
		}
	}
	switch ev.Type {
	case EventRuleCreated:
		// A rule's id is the sequence of its creation event, but for an
		// imported rule, which keeps the id it had elsewhere.
		id := seq
		if imported {
			id = ev.RuleID
		}
		a.imported = imported
		if a.gathered == nil {
			a.gathered = map[int64]int{}
		}
		a.gathered[id] = len(a.created.Ids)
		a.created.add(id, ev, seq, trackingParams(ev.Rule), gen)
		if !imported {
			a.origins = append(a.origins, ev.Rule.Origin)
			a.updated = append(a.updated, ev.Time)
		}
		return nil
	case EventRuleUpdated:
		err = a.q.RuleUpdate(ctx, queries.RuleUpdateParams{
			ID: ev.RuleID, Username: ev.User, Name: ev.Rule.Name, Disabled: ev.Rule.Disabled,
			TrackingName: ev.Rule.TrackingRule.Name, TrackingParams: trackingParams(ev.Rule), GenerationRules: gen,
			Version: seq, UpdatedAt: ev.Time,
		})
	case EventRuleDeleted:
		err = a.q.RuleDelete(ctx, queries.RuleDeleteParams{RuleID: ev.RuleID, Username: ev.User, Version: seq})
	case EventRuleDisabled, EventRuleEnabled:
		err = a.q.RuleSetDisabled(ctx, queries.RuleSetDisabledParams{
			ID: ev.RuleID, Disabled: ev.Type == EventRuleDisabled, Version: seq, UpdatedAt: ev.Time,
		})
		if a.switched = append(a.switched, ev.RuleID); len(a.switched) >= maxGathered && err == nil {
			err = a.bumpVersions(ctx)
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
	if err != nil {
		return dbErr(ev.Type, err)
	}
	// The statement is sent with the rest of the transaction; whether it
	// found the rule is known then.
	a.w.Then(func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() == 0 {
			a.warnNoRule(ctx, se.Seq, ev)
		}
		return nil
	})
	return nil
}

// warnNoRule says that ev, at seq, changed no rule. The commands check
// before they append, so only a hand-made event gets here.
func (a *applier) warnNoRule(ctx context.Context, seq uint64, ev Event) {
	a.log.WarnContext(ctx, "rule event for a rule the user does not have", slog.Uint64("seq", seq),
		slog.String("type", ev.Type), slog.String("user", ev.User), slog.Int64("rule_id", ev.RuleID))
}

// Flush writes the creations gathered; Apply writes everything else as it
// goes.
func (a *applier) Flush(ctx context.Context) error {
	if err := a.flush(ctx); err != nil {
		return err
	}
	return a.bumpVersions(ctx)
}

// touch records that an event of user is applied in this transaction.
func (a *applier) touch(ctx context.Context, user string) error {
	if user == "" {
		return nil
	}
	if a.touched == nil {
		a.touched = map[string]struct{}{}
	}
	a.touched[user] = struct{}{}
	if len(a.touched) >= maxGathered {
		return a.bumpVersions(ctx)
	}
	return nil
}

// bumpVersions gives the touched users fresh answer versions, in the
// transaction that changes their rows: the API's cached answers of their
// rules stop matching when it commits.
func (a *applier) bumpVersions(ctx context.Context) error {
	if len(a.switched) > 0 {
		// A new slice, not the old one emptied: the statement holds it
		// until the writer sends it.
		ids := a.switched
		a.switched = nil
		if err := a.q.UserRulesVersionBumpRules(ctx, ids); err != nil {
			return dbErr("bump answer versions", err)
		}
	}
	if len(a.touched) == 0 {
		return nil
	}
	names := make([]string, 0, len(a.touched))
	for u := range a.touched {
		names = append(names, u)
	}
	clear(a.touched)
	return dbErr("bump answer versions", a.q.UserRulesVersionBump(ctx, names))
}
