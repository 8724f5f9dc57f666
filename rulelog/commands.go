package rulelog

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CommandsConfig configures Commands. Zero fields take the defaults.
type CommandsConfig struct {
	// Stream is the RULES stream's name (default streams.Defaults().Rules).
	Stream string
	// ProjectionWait bounds every wait for the projection: before a check
	// and after an append (read-your-writes). Default 5s.
	ProjectionWait time.Duration
	// PollInterval is how often a wait reads projection_state when no note
	// of the projector arrives. Default 50ms.
	PollInterval time.Duration
	// MaxAttempts bounds the read-check-append rounds of one command when
	// other changes of the same user keep landing in between. Default 16.
	MaxAttempts int
	// MaxRulesPerUser bounds how many rules one user may have: a creation
	// past it fails with a *TooManyRulesError (0: no bound).
	MaxRulesPerUser int
	// ProgressSubject is where the projector announces its progress
	// (default wire.RulesProgressSubject).
	ProgressSubject string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c CommandsConfig) withDefaults() CommandsConfig {
	if c.Stream == "" {
		c.Stream = streams.Defaults().Rules
	}
	if c.ProjectionWait <= 0 {
		c.ProjectionWait = 5 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 50 * time.Millisecond
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 16
	}
	if c.ProgressSubject == "" {
		c.ProgressSubject = wire.RulesProgressSubject
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Meta says who asked for a change.
type Meta struct {
	// Actor is the authenticated user or admin; it defaults to the rule's
	// owner.
	Actor string
	// RequestID is the API request that caused the change, if any.
	RequestID string
	// Time of the change; zero means now.
	Time time.Time
}

// Commands changes rules by appending events to the RULES stream. They
// never write the tables: they validate, check the current state in the
// projection, append with optimistic concurrency on the user's subject, and
// wait until the projector has applied the event so that the caller reads
// its own write.
type Commands struct {
	js       jetstream.JetStream
	stream   jetstream.Stream
	store    *Store
	cfg      CommandsConfig
	progress *progress
	sub      *nats.Subscription

	// creating counts the unchecked creations of each user in flight in
	// this process (see appendCreation).
	creatingMu sync.Mutex
	creating   map[string]int

	// batchHook, when set (by tests), sees the outcome of each message of
	// an atomic batch (its place in the batch, from 1, and its error) and
	// returns the outcome publishBatch goes on with.
	batchHook func(seq int, err error) error
}

// NewCommands returns the command side for the RULES stream, which must
// exist. Close it when done.
func NewCommands(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, cfg CommandsConfig) (*Commands, error) {
	cfg = cfg.withDefaults()
	var stream jetstream.Stream
	err := streams.Retry(ctx, cfg.Logger, "rules stream "+cfg.Stream, func(ctx context.Context) error {
		var err error
		stream, err = js.Stream(ctx, cfg.Stream)
		return err
	})
	if err != nil {
		return nil, err
	}
	c := &Commands{js: js, stream: stream, store: NewStore(pool), cfg: cfg, progress: newProgress(), creating: map[string]int{}}
	if nc := js.Conn(); nc != nil {
		if c.sub, err = c.progress.subscribe(nc, cfg.ProgressSubject); err != nil {
			return nil, fmt.Errorf("subscribe to projection progress: %w", err)
		}
	}
	return c, nil
}

// Close stops following the projector's progress.
func (c *Commands) Close() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
	}
}

// Store is the read side the commands check against.
func (c *Commands) Store() *Store { return c.store }

// WaitProjected waits until the projection has applied seq (bounded by
// ProjectionWait): ErrProjectionLagging otherwise.
func (c *Commands) WaitProjected(ctx context.Context, seq uint64) error {
	return c.progress.waitFor(ctx, seq, c.cfg.ProjectionWait, c.cfg.PollInterval, c.store.Projected)
}

// Create appends a new rule of user and returns it as projected; its id is
// the sequence of the event. The rule's id, owner and generated_last_week
// are set here, whatever the caller sent.
func (c *Commands) Create(ctx context.Context, user string, r rules.Rule, m Meta) (StoredRule, error) {
	r.ID, r.User, r.GeneratedLastWeek, r.Origin = 0, rules.User{Name: user}, 0, ""
	if err := validate(&r); err != nil {
		return StoredRule{}, err
	}
	ev := c.event(EventRuleCreated, user, 0, m)
	ev.Rule = &r
	seq, done, err := c.appendCreation(ctx, user, ev)
	if err != nil {
		return StoredRule{}, err
	}
	// An unchecked creation counts as in flight until its event is
	// projected, when the count of the user's rules includes it.
	defer done()
	r.ID = int64(seq)
	return c.readBack(ctx, seq, StoredRule{Rule: r, Version: seq})
}

// appendCreation appends a rule.created event of user. Well below the
// per-user bound, a creation checks nothing, so it needs no expected
// sequence: it cannot conflict, and it makes the other commands of the
// user retry. "Well below" counts the user's rules in the projection plus
// the unchecked creations of the user in flight in this process, against
// half the bound. Past that, a creation counts the user's rules on the
// projection of the user's last event and appends only if that event is
// still the last, so the bound holds against concurrent creations (exactly
// with one or two API processes; with more, unchecked creations racing in
// each could pass it by at most half of it).
func (c *Commands) appendCreation(ctx context.Context, user string, ev Event) (seq uint64, done func(), err error) {
	done = func() {}
	limit := c.cfg.MaxRulesPerUser
	if limit <= 0 {
		seq, err = c.append(ctx, ev, nil, newMsgID())
		return seq, done, err
	}
	n, err := c.store.CountUserRules(ctx, user)
	if err != nil {
		return 0, done, err
	}
	c.creatingMu.Lock()
	unchecked := n+c.creating[user] < limit/2
	if unchecked {
		c.creating[user]++
	}
	c.creatingMu.Unlock()
	if unchecked {
		done = func() {
			c.creatingMu.Lock()
			if c.creating[user]--; c.creating[user] <= 0 {
				delete(c.creating, user)
			}
			c.creatingMu.Unlock()
		}
		seq, err = c.append(ctx, ev, nil, newMsgID())
		return seq, done, err
	}
	seq, err = c.appendChecked(ctx, user, func(ctx context.Context) (*Event, error) {
		n, err := c.store.CountUserRules(ctx, user)
		if err != nil {
			return nil, err
		}
		if n >= limit {
			return nil, &TooManyRulesError{User: user, Rules: n, Limit: limit}
		}
		return &ev, nil
	})
	return seq, done, err
}

// TooManyRulesError is a creation refused because the user already has
// Limit rules.
type TooManyRulesError struct {
	User         string
	Rules, Limit int
}

func (e *TooManyRulesError) Error() string {
	return fmt.Sprintf("%s has %d rules, the most one user may have is %d", e.User, e.Rules, e.Limit)
}

// Is makes errors.Is(err, ErrTooManyRules) hold.
func (e *TooManyRulesError) Is(target error) bool { return target == ErrTooManyRules }

// Update replaces rule id of user. With ifMatch, the rule's version must
// equal it (ErrPreconditionFailed). A rule of another user is ErrNotFound.
func (c *Commands) Update(ctx context.Context, user string, id int64, r rules.Rule, ifMatch *uint64, m Meta) (StoredRule, error) {
	r.ID, r.User, r.GeneratedLastWeek = id, rules.User{Name: user}, 0
	if err := validate(&r); err != nil {
		return StoredRule{}, err
	}
	seq, err := c.appendChecked(ctx, user, func(ctx context.Context) (*Event, error) {
		cur, err := c.ownRule(ctx, user, id, ifMatch)
		if err != nil {
			return nil, err
		}
		// A rule keeps its origin: the event says what the table keeps.
		r.Origin = cur.Origin
		ev := c.event(EventRuleUpdated, user, id, m)
		ev.Rule = &r
		return &ev, nil
	})
	if err != nil {
		return StoredRule{}, err
	}
	return c.readBack(ctx, seq, StoredRule{Rule: r, Version: seq})
}

// Delete removes rule id of user, under the same conditions as Update.
func (c *Commands) Delete(ctx context.Context, user string, id int64, ifMatch *uint64, m Meta) error {
	seq, err := c.appendChecked(ctx, user, func(ctx context.Context) (*Event, error) {
		if _, err := c.ownRule(ctx, user, id, ifMatch); err != nil {
			return nil, err
		}
		ev := c.event(EventRuleDeleted, user, id, m)
		return &ev, nil
	})
	if err != nil {
		return err
	}
	return c.WaitProjected(ctx, seq)
}

// SetDisabled is the admin's switch of any rule. Setting the state the rule
// already has appends nothing and returns the rule.
func (c *Commands) SetDisabled(ctx context.Context, id int64, disabled bool, m Meta) (StoredRule, error) {
	cur, err := c.store.Rule(ctx, id)
	if err != nil {
		return StoredRule{}, err
	}
	user := cur.User.Name
	typ := EventRuleEnabled
	if disabled {
		typ = EventRuleDisabled
	}
	errUnchanged := errors.New("unchanged")
	seq, err := c.appendChecked(ctx, user, func(ctx context.Context) (*Event, error) {
		var err error
		if cur, err = c.ownRule(ctx, user, id, nil); err != nil {
			return nil, err
		}
		if cur.Disabled == disabled {
			return nil, errUnchanged
		}
		ev := c.event(typ, user, id, m)
		return &ev, nil
	})
	if errors.Is(err, errUnchanged) {
		return cur, nil
	}
	if err != nil {
		return StoredRule{}, err
	}
	cur.Disabled, cur.Version = disabled, seq
	return c.readBack(ctx, seq, cur)
}

// EnsureUser makes sure the projection knows user, appending user.created
// when the user has no event yet. Concurrent calls append one event.
//
// The call that records the user, and only that one, also appends the
// user's default rules: those defaults returns (nil: none), called once
// the projection does not know the user, before anything is appended, so
// that a failure of it (an account service down) records nothing and a
// later call tries again. A user whose subject has events already (their
// record raced in from another process, or an import of FMN v3 appended
// their rules) gets none. user.created and the default rules are one
// atomic batch (see recordUser): a crash at any point stores all of them
// or none, and a retry or a racing twin never stores one twice.
func (c *Commands) EnsureUser(ctx context.Context, user string, m Meta, defaults func(context.Context) ([]rules.Rule, error)) error {
	if _, err := c.store.User(ctx, user); !errors.Is(err, ErrNotFound) {
		return err
	}
	var list []rules.Rule
	if defaults != nil {
		var err error
		if list, err = defaults(ctx); err != nil {
			return fmt.Errorf("default rules of %s: %w", user, err)
		}
	}
	// Only as the first event of the subject. The message id is this
	// call's own: a racing twin (another process, or the import) fails the
	// expected sequence and records nothing, and a retry of this publish
	// is recognised as ours.
	seq, err := c.recordUser(ctx, user, list, m, newMsgID())
	if errors.Is(err, errConflict) {
		// The user has events already: the projection has them once it
		// reaches the last one.
		seq, err = c.lastSeq(ctx, user)
	}
	if err != nil {
		return err
	}
	return c.WaitProjected(ctx, seq)
}

// ownRule reads rule id after the caller has waited for the projection
// and checks that it is user's and, with ifMatch, its version.
func (c *Commands) ownRule(ctx context.Context, user string, id int64, ifMatch *uint64) (StoredRule, error) {
	cur, err := c.store.Rule(ctx, id)
	if err != nil {
		return StoredRule{}, err
	}
	if cur.User.Name != user {
		return StoredRule{}, ErrNotFound
	}
	if ifMatch != nil && *ifMatch != cur.Version {
		return StoredRule{}, ErrPreconditionFailed
	}
	return cur, nil
}

// appendChecked runs read-check-append until the append lands: it reads
// the last sequence of the user's subject, waits for the projection to
// reach it, lets check decide on that state, and appends expecting that
// sequence. When another change of the user landed in between, it starts
// over (at most MaxAttempts times): check runs again on the new state, so
// If-Match fails only when the rule itself changed.
func (c *Commands) appendChecked(ctx context.Context, user string, check func(context.Context) (*Event, error)) (uint64, error) {
	msgID := newMsgID()
	for attempt := 1; ; attempt++ {
		last, err := c.lastSeq(ctx, user)
		if err != nil {
			return 0, err
		}
		if err := c.WaitProjected(ctx, last); err != nil {
			return 0, err
		}
		ev, err := check(ctx)
		if err != nil {
			return 0, err
		}
		seq, err := c.append(ctx, *ev, &last, msgID)
		if !errors.Is(err, errConflict) {
			return seq, err
		}
		if attempt >= c.cfg.MaxAttempts {
			return 0, ErrConflict
		}
		c.cfg.Logger.DebugContext(ctx, "rule command retries after a concurrent change",
			slog.String("user", user), slog.String("event", ev.Type), slog.Int("attempt", attempt))
		// A random pause, growing with the attempts, lets racing commands
		// of one user take turns instead of colliding again.
		pause := time.NewTimer(rand.N(time.Duration(min(attempt, 10)) * 2 * time.Millisecond))
		select {
		case <-ctx.Done():
			pause.Stop()
			return 0, ctx.Err()
		case <-pause.C:
		}
	}
}

// errConflict: the subject's last sequence was not the expected one.
var errConflict = errors.New("wrong last sequence")

// append publishes ev on its user's subject with msgID, expecting the
// subject's last sequence to be *expect when expect is set. It returns the
// event's sequence, or errConflict.
func (c *Commands) append(ctx context.Context, ev Event, expect *uint64, msgID string) (uint64, error) {
	msg, err := ev.Message()
	if err != nil {
		return 0, err
	}
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(msgID)}
	if expect != nil {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(*expect))
	}
	ack, err := c.js.PublishMsg(ctx, msg, opts...)
	// An ack that timed out leaves the outcome unknown: publishing again
	// with the same message id is safe (a duplicate, or 10071 below).
	for retry := 0; retry < 2 && ackTimedOut(ctx, err); retry++ {
		ack, err = c.js.PublishMsg(ctx, msg, opts...)
	}
	if err == nil {
		// A duplicate's ack carries the sequence of the original.
		return ack.Sequence, nil
	}
	if !wrongLastSequence(err) {
		return 0, fmt.Errorf("append %s: %w", ev.Type, err)
	}
	// The server checks the expected sequence before deduplicating: a
	// retried publish that did land the first time fails here. It succeeded
	// when the subject's last message is ours.
	last, gerr := c.stream.GetLastMsgForSubject(ctx, msg.Subject)
	if gerr == nil && last.Header.Get(jetstream.MsgIDHeader) == msgID {
		return last.Sequence, nil
	}
	return 0, errConflict
}

// lastSeq is the sequence of the user's last event, 0 when there is none.
func (c *Commands) lastSeq(ctx context.Context, user string) (uint64, error) {
	msg, err := c.stream.GetLastMsgForSubject(ctx, wire.RulesUserSubject(user))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last rule event of %s: %w", user, err)
	}
	return msg.Sequence, nil
}

// readBack waits until the projection has applied seq and returns rule id
// as projected. When the projection lags, it returns what the event says
// with ErrProjectionLagging; when the rule is gone already (a concurrent
// delete), what the event says.
func (c *Commands) readBack(ctx context.Context, seq uint64, fromEvent StoredRule) (StoredRule, error) {
	if err := c.WaitProjected(ctx, seq); err != nil {
		return fromEvent, err
	}
	r, err := c.store.Rule(ctx, fromEvent.ID)
	if errors.Is(err, ErrNotFound) {
		return fromEvent, nil
	}
	return r, err
}

func (c *Commands) event(typ, user string, id int64, m Meta) Event {
	if m.Actor == "" {
		m.Actor = user
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	return Event{
		Type: typ, User: user, RuleID: id,
		Actor: m.Actor, RequestID: m.RequestID,
		// PostgreSQL keeps microseconds: the event says what the tables say.
		Time: m.Time.UTC().Truncate(time.Microsecond),
	}
}

func validate(r *rules.Rule) error {
	if err := rules.Validate(r); err != nil {
		return invalidError{err}
	}
	return nil
}

// invalidError is rules.Validate's error (a rules.ValidationErrors, for
// errors.As) that is also ErrInvalid (for errors.Is).
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{ErrInvalid, e.err} }

func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// ackTimedOut: the publish's own deadline passed, not the caller's.
func ackTimedOut(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded))
}

func newMsgID() string { return crand.Text() }
