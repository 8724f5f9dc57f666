package fmn3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Actor is who the imported events say made the change.
const Actor = "fmn-import-fmn3"

// Config is what Import needs of fmn. Zero fields take the defaults.
type Config struct {
	JS jetstream.JetStream
	// Stream is the RULES stream's name.
	Stream string
	// DB is fmn's PostgreSQL (the rules projection, the statistics).
	DB *pgxpool.Pool
	// DryRun reports what Import would do and changes nothing.
	DryRun bool
	// Out gets the progress lines (default io.Discard).
	Out io.Writer
	// ProgressEvery is how many appended rules make a progress line
	// (default 5000).
	ProgressEvery int
	// Window is the most appends awaiting their acknowledgement (default
	// 1000).
	Window int
	// ProjectionStall bounds each wait for the rules projection: Import
	// fails when the projection has not moved for this long (default 30s).
	ProjectionStall time.Duration
	// Now is the clock of the events (default time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 5000
	}
	if c.Window <= 0 {
		c.Window = 1000
	}
	if c.ProjectionStall <= 0 {
		c.ProjectionStall = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Refused is an FMN v3 rule fmn does not take, and why.
type Refused struct {
	ID      int64
	User    string
	Reasons []string
}

// Report says what Import did, or with DryRun what it would do.
type Report struct {
	DryRun bool
	// Read is how many rules of how many users the FMN v3 database holds.
	Read, Users int
	// Imported rules were appended by this run (Disabled of them disabled);
	// Unnamed of them have no name (kept so, as in FMN).
	Imported, Disabled, Unnamed int
	// Already were there from an earlier run; Deleted were imported
	// earlier and deleted in fmn since (they stay deleted).
	Already, Deleted int
	// UsersAdded are FMN users without a rule to import whom fmn did not
	// know: with their record they are not new users to fmn (default
	// rules are for those), as they had chosen their rules in FMN
	// (perhaps none).
	UsersAdded int
	Refused    []Refused
	// GeneratedHours is how many (rule, hour) counts of FMN's generated
	// table the statistics hold.
	GeneratedHours int
	// AdvancedTo is set when the RULES stream's next sequence had to move
	// past FMN's rule ids (see Import).
	AdvancedTo uint64
	// FirstID and LastID span the ids of the imported rules.
	FirstID, LastID int64
	// Blocked says, in a dry run, why the import would fail.
	Blocked string
}

// Print writes the report for people.
func (r Report) Print(w io.Writer) {
	would := func(did, will string) string {
		if r.DryRun {
			return will
		}
		return did
	}
	for _, ref := range r.Refused {
		fmt.Fprintf(w, "refused rule %d of %s: %s\n", ref.ID, ref.User, strings.Join(ref.Reasons, "; "))
	}
	fmt.Fprintf(w, "FMN v3: %d rules of %d users\n", r.Read, r.Users)
	if r.AdvancedTo > 0 {
		fmt.Fprintf(w, "%s the RULES stream's next sequence to %d, past FMN's rule ids, so that new rules never take one\n",
			would("moved", "would move"), r.AdvancedTo)
	}
	switch {
	case r.Imported > 0:
		fmt.Fprintf(w, "%s %d rules (%d disabled), keeping their ids (%d to %d)", would("imported", "would import"),
			r.Imported, r.Disabled, r.FirstID, r.LastID)
		if r.Unnamed > 0 {
			fmt.Fprintf(w, "; %d without a name (kept unnamed, as in FMN)", r.Unnamed)
		}
		fmt.Fprintln(w)
	case r.UsersAdded > 0:
	case len(r.Refused) == 0:
		fmt.Fprintf(w, "nothing to import: every rule is in fmn already\n")
	default:
		fmt.Fprintf(w, "nothing to import: every rule fmn takes is in fmn already\n")
	}
	if r.UsersAdded > 0 {
		fmt.Fprintf(w, "%s %d users without rules to import (so they are not new users to fmn)\n", would("recorded", "would record"), r.UsersAdded)
	}
	if r.Already > 0 {
		fmt.Fprintf(w, "%d rules were imported before\n", r.Already)
	}
	if r.Deleted > 0 {
		fmt.Fprintf(w, "%d rules were imported before and deleted in fmn since: they stay deleted\n", r.Deleted)
	}
	if len(r.Refused) > 0 {
		fmt.Fprintf(w, "%d rules refused (listed above)\n", len(r.Refused))
	}
	fmt.Fprintf(w, "%s %d hourly counts of generated notifications\n", would("statistics hold", "would add to the statistics"), r.GeneratedHours)
	if r.Blocked != "" {
		fmt.Fprintf(w, "but the import would fail: %s\n", r.Blocked)
	}
}

// Import appends the rules of snap to the RULES stream, one rule.created
// event each, with FMN's rule id in the event (the projector makes a rule
// of that id). A disabled rule's event creates it disabled, so it never
// matches a message, not even while an import is under way.
//
// Every rule is converted and validated before anything is appended: a rule
// fmn cannot take (an unknown tracking rule or filter, a destination fmn
// refuses) is reported and left out, the others are imported. Rules the
// projection has already (same id, same owner) are not appended again, and
// each event's Nats-Msg-Id is derived from the rule's id and content: a run
// that stopped half-way is completed by running it again, and a second run
// adds nothing.
//
// A new rule's id is the sequence of its creation event. So that no new
// rule ever takes an FMN id, the RULES stream must be past the highest FMN
// rule id before anything is imported: when it holds no event (a new
// deployment), Import moves its next sequence there; when it holds events
// below that id, Import refuses (import before fmn takes rule changes).
func Import(ctx context.Context, cfg Config, snap *Snapshot) (Report, error) {
	cfg = cfg.withDefaults()
	rep := Report{DryRun: cfg.DryRun, Read: len(snap.Rules), Users: snap.Users}

	type candidate struct {
		rule    rules.Rule
		unnamed bool
	}
	var (
		cands  []candidate
		maxID  int64
		ids    []int64
		byUser = map[int64]string{}
	)
	for _, s := range snap.Rules {
		maxID = max(maxID, s.ID)
		r, problems := Convert(s)
		if len(problems) > 0 {
			rep.Refused = append(rep.Refused, Refused{ID: s.ID, User: s.User, Reasons: problems})
			continue
		}
		cands = append(cands, candidate{rule: r, unnamed: s.Name == nil || strings.TrimSpace(*s.Name) == ""})
		ids = append(ids, s.ID)
		byUser[s.ID] = s.User
	}

	stream, err := cfg.JS.Stream(ctx, cfg.Stream)
	if err != nil {
		return rep, fmt.Errorf("rules stream %s: %w", cfg.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return rep, fmt.Errorf("rules stream %s: %w", cfg.Stream, err)
	}
	store := rulelog.NewStore(cfg.DB)
	if err := waitProjected(ctx, cfg, store, info.State.LastSeq); err != nil {
		return rep, err
	}

	// What fmn has already.
	q := queries.New(cfg.DB)
	have, err := q.RuleListByIDs(ctx, ids)
	if err != nil {
		return rep, fmt.Errorf("read fmn's rules: %w", err)
	}
	owner := make(map[int64]string, len(have))
	for _, h := range have {
		owner[h.ID] = h.Username
	}
	deleted, err := q.TombstoneListByIDs(ctx, ids)
	if err != nil {
		return rep, fmt.Errorf("read fmn's deleted rules: %w", err)
	}
	gone := make(map[int64]bool, len(deleted))
	for _, id := range deleted {
		gone[id] = true
	}
	var todo []rules.Rule
	present := map[int64]bool{}
	for _, c := range cands {
		id := c.rule.ID
		switch o, ok := owner[id]; {
		case ok && o == c.rule.User.Name:
			rep.Already++
			present[id] = true
		case ok:
			rep.Refused = append(rep.Refused, Refused{ID: id, User: c.rule.User.Name,
				Reasons: []string{fmt.Sprintf("fmn has a rule %d already, of %s", id, o)}})
		case gone[id]:
			rep.Deleted++
		default:
			todo = append(todo, c.rule)
			present[id] = true
			if c.unnamed {
				rep.Unnamed++
			}
			if c.rule.Disabled {
				rep.Disabled++
			}
		}
	}
	slices.SortFunc(rep.Refused, func(a, b Refused) int { return int(a.ID - b.ID) })
	withRules := map[string]bool{}
	for _, r := range todo {
		withRules[r.User.Name] = true
	}
	var maybe []string
	for _, u := range snap.UserNames {
		if !withRules[u] {
			maybe = append(maybe, u)
		}
	}
	known, err := q.UserListByNames(ctx, maybe)
	if err != nil {
		return rep, fmt.Errorf("read fmn's users: %w", err)
	}
	isKnown := make(map[string]bool, len(known))
	for _, u := range known {
		isKnown[u] = true
	}
	var newUsers []string
	for _, u := range maybe {
		if !isKnown[u] {
			newUsers = append(newUsers, u)
		}
	}
	rep.UsersAdded = len(newUsers)
	rep.Imported = len(todo)
	if len(todo) > 0 {
		rep.FirstID, rep.LastID = todo[0].ID, todo[len(todo)-1].ID
	}
	var counts []stats.ImportedCount
	for _, g := range snap.Generated {
		if present[g.RuleID] {
			counts = append(counts, stats.ImportedCount{RuleID: g.RuleID, Hour: g.Hour, Count: g.Count})
		}
	}
	rep.GeneratedHours = len(counts)

	// New rules must never take an FMN id: their ids are stream sequences.
	if len(todo)+len(newUsers) > 0 && info.State.LastSeq < uint64(maxID) {
		if info.State.Msgs > 0 {
			err := fmt.Errorf("the RULES stream %s holds %d events up to sequence %d, below FMN's highest rule id %d: "+
				"a rule created in fmn would take the id of an FMN rule. Import into an fmn whose RULES stream is empty "+
				"(before users change rules in it), or ask for help to move the stream", cfg.Stream, info.State.Msgs, info.State.LastSeq, maxID)
			if cfg.DryRun {
				rep.Blocked = err.Error()
				return rep, nil
			}
			return rep, err
		}
		rep.AdvancedTo = uint64(maxID) + 1
		if !cfg.DryRun {
			// An empty stream purged "up to" a sequence starts there.
			if err := stream.Purge(ctx, jetstream.WithPurgeSequence(rep.AdvancedTo)); err != nil {
				return rep, fmt.Errorf("move the RULES stream's sequence past %d: %w", maxID, err)
			}
			if info, err = stream.Info(ctx); err != nil {
				return rep, err
			}
			if info.State.LastSeq < uint64(maxID) {
				return rep, fmt.Errorf("the RULES stream's sequence is %d after moving it past %d", info.State.LastSeq, maxID)
			}
		}
	}
	if cfg.DryRun {
		return rep, nil
	}

	last, err := appendAll(ctx, cfg, todo, newUsers)
	if err != nil {
		return rep, err
	}
	if err := waitProjected(ctx, cfg, store, last); err != nil {
		return rep, fmt.Errorf("the events are appended, %w", err)
	}
	if len(todo)+len(newUsers) > 0 {
		fmt.Fprintf(cfg.Out, "the rules projection has applied them\n")
	}
	if err := stats.Import(ctx, cfg.DB, counts); err != nil {
		return rep, err
	}
	return rep, nil
}

// appendAll appends one rule.created event per rule, then one
// user.created per user, pipelined, and returns the sequence of the last.
func appendAll(ctx context.Context, cfg Config, todo []rules.Rule, users []string) (uint64, error) {
	type pending struct {
		f    jetstream.PubAckFuture
		user bool
	}
	var (
		last  uint64
		queue []pending
		start = time.Now()
		done  int
		total = len(todo) + len(users)
	)
	settle := func(keep int) error {
		for len(queue) > keep {
			p := queue[0]
			select {
			case ack := <-p.f.Ok():
				last = max(last, ack.Sequence)
			case err := <-p.f.Err():
				// A user with events already is known: nothing to add.
				var apiErr *jetstream.APIError
				if !p.user || !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
					return fmt.Errorf("append after %d of %d events: %w (run the import again to complete it)", done, total, err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			queue = queue[1:]
			done++
			if done%cfg.ProgressEvery == 0 {
				fmt.Fprintf(cfg.Out, "appended %d of %d rules (%.0f/s)\n", min(done, len(todo)), len(todo), float64(done)/time.Since(start).Seconds())
			}
		}
		return nil
	}
	publish := func(ev rulelog.Event, user bool, opts ...jetstream.PublishOpt) error {
		msg, err := ev.Message()
		if err != nil {
			return err
		}
		f, err := cfg.JS.PublishMsgAsync(msg, opts...)
		if err != nil {
			return fmt.Errorf("append %s of %s: %w (run the import again to complete it)", ev.Type, ev.User, err)
		}
		queue = append(queue, pending{f: f, user: user})
		return settle(cfg.Window)
	}
	now := cfg.Now().UTC().Truncate(time.Microsecond)
	for _, r := range todo {
		id, user := r.ID, r.User.Name
		body := r
		body.ID, body.GeneratedLastWeek = 0, 0
		ev := rulelog.Event{Type: rulelog.EventRuleCreated, User: user, RuleID: id, Rule: &body, Actor: Actor, Time: now}
		if err := publish(ev, false, jetstream.WithMsgID(MsgID(id, body))); err != nil {
			return 0, err
		}
	}
	for _, u := range users {
		// As rulelog's EnsureUser: only as the user's first event.
		ev := rulelog.Event{Type: rulelog.EventUserCreated, User: u, Actor: Actor, Time: now}
		if err := publish(ev, true, jetstream.WithMsgID("user.created."+wire.EncodeToken(u)), jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
			return 0, err
		}
	}
	if err := settle(0); err != nil {
		return 0, err
	}
	if total > 0 {
		fmt.Fprintf(cfg.Out, "appended %d rules and %d users in %s\n", len(todo), len(users), time.Since(start).Round(time.Millisecond))
	}
	return last, nil
}

// MsgID is the Nats-Msg-Id of an imported rule's creation: the FMN id and
// a hash of the rule, so that the same rule appended again within the
// stream's duplicate window is a duplicate.
func MsgID(id int64, r rules.Rule) string {
	data, _ := json.Marshal(r)
	sum := sha256.Sum256(data)
	return fmt.Sprintf("fmn3-import.%d.%s", id, hex.EncodeToString(sum[:12]))
}

// waitProjected waits until the rules projection has applied seq, for as
// long as it keeps moving.
func waitProjected(ctx context.Context, cfg Config, store *rulelog.Store, seq uint64) error {
	var (
		at      uint64
		movedAt = time.Now()
		saidAt  = time.Now()
	)
	for {
		cur, err := store.Projected(ctx)
		if err != nil {
			return fmt.Errorf("read the rules projection's position: %w", err)
		}
		if cur >= seq {
			return nil
		}
		if cur != at {
			at, movedAt = cur, time.Now()
		}
		if time.Since(saidAt) >= 5*time.Second {
			fmt.Fprintf(cfg.Out, "waiting for the rules projection: at sequence %d, the last event is %d\n", cur, seq)
			saidAt = time.Now()
		}
		if time.Since(movedAt) > cfg.ProjectionStall {
			return fmt.Errorf("the rules projection is at %d of %d and has not moved for %s: is fmn's projector running (fmn serve --roles projector, or fmn dev)?",
				cur, seq, cfg.ProjectionStall)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ErrNoDatabase is returned for an empty --from.
var ErrNoDatabase = errors.New("--from: the FMN v3 database's URL is required, e.g. --from postgres://fmn@db.example.org/fmn")
