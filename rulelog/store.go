package rulelog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/rules"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors of the store and the commands. The REST API maps them to statuses.
var (
	// ErrNotFound: no such rule or user, or a rule of another user (→ 404,
	// so that nobody learns which rule ids exist).
	ErrNotFound = errors.New("not found")
	// ErrPreconditionFailed: If-Match does not equal the rule's version
	// (→ 412).
	ErrPreconditionFailed = errors.New("precondition failed: the rule has changed")
	// ErrInvalid wraps the error of rules.Validate (→ 422).
	ErrInvalid = errors.New("invalid rule")
	// ErrProjectionLagging: the projection did not reach an event within
	// the configured wait (→ 503). When returned after an append, the
	// change is stored and becomes visible later.
	ErrProjectionLagging = errors.New("rule projection is lagging")
	// ErrConflict: concurrent changes to the same user's rules kept the
	// command from appending within its attempts (→ 409 or 503).
	ErrConflict = errors.New("too many concurrent changes to the user's rules")
	// ErrTooManyRules: a creation would take the user past
	// CommandsConfig.MaxRulesPerUser; the error is a *TooManyRulesError.
	ErrTooManyRules = errors.New("too many rules")
)

// projectionName is the row of projection_state that the rules projector
// owns.
const projectionName = "rules"

// generatedWindow is the span of Rule.GeneratedLastWeek.
const generatedWindow = 7 * 24 * time.Hour

// StoredRule is a rule as the projection holds it. Version is its ETag.
// Marshalled to JSON it is exactly the rule of FMN's API.
type StoredRule struct {
	rules.Rule
	// UserID is the owner's id (User.ID): nil when not known.
	UserID    *int64    `json:"-"`
	Version   uint64    `json:"-"`
	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
}

// User is a row of the users table.
type User struct {
	Name      string
	CreatedAt time.Time
	// ID is the RULES stream sequence of the event that first recorded the
	// user (FMN's User.id); nil for a row projected before fmn kept ids,
	// until a rebuild.
	ID *int64
}

// RuleFilter selects rules in Store.Rules; nil fields match everything.
// After and Limit page through the rules by id: only rules with an id
// greater than After, at most Limit of them (0: no limit).
type RuleFilter struct {
	Disabled *bool
	User     *string
	After    int64
	Limit    int
}

// Store reads the projected tables. It is the one place that turns sqlc rows
// into rules and database errors into this package's errors.
type Store struct {
	pool *pgxpool.Pool
	q    *queries.Queries
	now  func() time.Time
}

// NewStore reads through pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, q: queries.New(pool), now: time.Now}
}

// Rule returns one rule with its generated_last_week.
func (s *Store) Rule(ctx context.Context, id int64) (StoredRule, error) {
	row, err := s.q.RuleGet(ctx, s.now().Add(-generatedWindow), id)
	if err != nil {
		return StoredRule{}, dbErr("get rule", err)
	}
	return storedRule(row.Rule, row.UserID, row.Generated)
}

// UserRules returns a user's rules by id, with generated_last_week, in one
// query (the API's most frequent read).
func (s *Store) UserRules(ctx context.Context, user string) ([]StoredRule, error) {
	list, _, err := s.UserRulesVersioned(ctx, user)
	return list, err
}

// AnswerVersion identifies one answer of UserRules: the same version, the
// same answer. Rules and Generated are the user's answer versions (see
// schema.sql; 0 where the user has no row: nothing changed since the
// tables exist); Window is the first hour that generated_last_week counts.
// The zero AnswerVersion identifies nothing.
type AnswerVersion struct {
	Rules, Generated int64
	Window           time.Time
}

// Valid says whether v identifies an answer: only then may it be cached.
func (v AnswerVersion) Valid() bool { return !v.Window.IsZero() }

// Same says whether v and w are the same valid version: their answers
// are the same.
func (v AnswerVersion) Same(w AnswerVersion) bool {
	return v.Valid() && v.Rules == w.Rules && v.Generated == w.Generated && v.Window.Equal(w.Window)
}

// window is the first hour generated_last_week counts at now, as the
// queries truncate it (date_trunc('hour', since, 'UTC')).
func (s *Store) window() time.Time {
	return s.now().Add(-generatedWindow).UTC().Truncate(time.Hour)
}

// UserRulesVersioned is UserRules with the version of its answer, read in
// the same snapshot (the rows carry it); the empty list of a user without
// rules comes without a version.
func (s *Store) UserRulesVersioned(ctx context.Context, user string) ([]StoredRule, AnswerVersion, error) {
	window := s.window()
	rows, err := s.q.RuleListByUser(ctx, user, window)
	if err != nil {
		return nil, AnswerVersion{}, dbErr("list rules", err)
	}
	var v AnswerVersion
	list := make([]StoredRule, len(rows))
	for i, row := range rows {
		if list[i], err = storedRule(row.Rule, row.UserID, row.Generated); err != nil {
			return nil, AnswerVersion{}, err
		}
		v = AnswerVersion{Rules: row.RulesVersion, Generated: row.GeneratedVersion, Window: window}
	}
	return list, v, nil
}

// UserAnswerVersion is the version UserRulesVersioned would give now for
// user's rules: one lookup of two rows, where UserRules reads every rule
// and sums a week of its counts.
func (s *Store) UserAnswerVersion(ctx context.Context, user string) (AnswerVersion, error) {
	v := AnswerVersion{Window: s.window()}
	row, err := s.q.UserAnswerVersions(ctx, user)
	if err != nil {
		return AnswerVersion{}, dbErr("read answer versions", err)
	}
	v.Rules, v.Generated = row.RulesVersion, row.GeneratedVersion
	return v, nil
}

// storedRule is a rule row with its owner's id and generated_last_week.
func storedRule(row queries.Rule, userID *int64, generated int64) (StoredRule, error) {
	r, err := ruleFromRow(row)
	if err != nil {
		return StoredRule{}, err
	}
	r.UserID = userID
	r.GeneratedLastWeek = generated
	return r, nil
}

// CountUserRules is how many rules user has in the projection.
func (s *Store) CountUserRules(ctx context.Context, user string) (int, error) {
	n, err := s.q.RuleCountByUser(ctx, user)
	if err != nil {
		return 0, dbErr("count rules", err)
	}
	return int(n), nil
}

// Rules is the admin listing, by id, with generated_last_week.
func (s *Store) Rules(ctx context.Context, f RuleFilter) ([]StoredRule, error) {
	var limit *int32
	if f.Limit > 0 {
		n := int32(min(f.Limit, math.MaxInt32))
		limit = &n
	}
	var (
		rows []queries.Rule
		err  error
	)
	if f.User != nil {
		rows, err = s.q.RuleListOfUser(ctx, queries.RuleListOfUserParams{Username: *f.User, After: f.After, Disabled: f.Disabled, MaxRows: limit})
	} else {
		rows, err = s.q.RuleList(ctx, queries.RuleListParams{After: f.After, Disabled: f.Disabled, MaxRows: limit})
	}
	if err != nil {
		return nil, dbErr("list rules", err)
	}
	return s.rulesFromRows(ctx, rows)
}

// User returns a user known to the projection.
func (s *Store) User(ctx context.Context, name string) (User, error) {
	row, err := s.q.UserGet(ctx, name)
	if err != nil {
		return User{}, dbErr("get user", err)
	}
	return User(row), nil
}

// SearchUsers returns up to limit users whose name contains pattern, case
// insensitively; the pattern is literal text, not a LIKE pattern.
func (s *Store) SearchUsers(ctx context.Context, pattern string, limit int) ([]User, error) {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(pattern)
	rows, err := s.q.UserSearch(ctx, esc, int32(min(max(limit, 0), 1<<30)))
	if err != nil {
		return nil, dbErr("search users", err)
	}
	users := make([]User, len(rows))
	for i, r := range rows {
		users[i] = User(r)
	}
	return users, nil
}

// Projected returns the last RULES sequence applied to the tables.
func (s *Store) Projected(ctx context.Context) (uint64, error) {
	return projected(ctx, s.q)
}

func projected(ctx context.Context, q *queries.Queries) (uint64, error) {
	seq, err := q.ProjectionGet(ctx, projectionName)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbErr("read projection state", err)
	}
	return uint64(seq), nil
}

func (s *Store) rulesFromRows(ctx context.Context, rows []queries.Rule) ([]StoredRule, error) {
	list, err := rulesFromRows(rows)
	if err != nil {
		return nil, err
	}
	if err := s.fillGenerated(ctx, list); err != nil {
		return nil, err
	}
	if err := s.fillUserIDs(ctx, list); err != nil {
		return nil, err
	}
	return list, nil
}

// fillUserIDs sets each rule's UserID from the users table.
func (s *Store) fillUserIDs(ctx context.Context, list []StoredRule) error {
	var names []string
	seen := map[string]bool{}
	for _, r := range list {
		if !seen[r.User.Name] {
			seen[r.User.Name] = true
			names = append(names, r.User.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	rows, err := s.q.UserIDs(ctx, names)
	if err != nil {
		return dbErr("user ids", err)
	}
	byName := make(map[string]*int64, len(rows))
	for _, row := range rows {
		byName[row.Name] = row.ID
	}
	for i := range list {
		list[i].UserID = byName[list[i].User.Name]
	}
	return nil
}

func (s *Store) fillGenerated(ctx context.Context, list []StoredRule) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]int64, len(list))
	for i, r := range list {
		ids[i] = r.ID
	}
	sums, err := s.q.RuleGeneratedSince(ctx, ids, s.now().Add(-generatedWindow))
	if err != nil {
		return dbErr("count generated", err)
	}
	byID := make(map[int64]int64, len(sums))
	for _, g := range sums {
		byID[g.RuleID] = g.Total
	}
	for i := range list {
		list[i].GeneratedLastWeek = byID[list[i].ID]
	}
	return nil
}

func rulesFromRows(rows []queries.Rule) ([]StoredRule, error) {
	list := make([]StoredRule, len(rows))
	for i, row := range rows {
		r, err := ruleFromRow(row)
		if err != nil {
			return nil, err
		}
		list[i] = r
	}
	return list, nil
}

func ruleFromRow(row queries.Rule) (StoredRule, error) {
	gen, err := decodeGenerationRules(row.GenerationRules)
	if err != nil {
		return StoredRule{}, fmt.Errorf("rule %d: generation rules: %w", row.ID, err)
	}
	if gen == nil {
		gen = []rules.GenerationRule{}
	}
	origin := ""
	if row.Origin != nil {
		origin = *row.Origin
	}
	return StoredRule{
		Rule: rules.Rule{
			ID:       row.ID,
			Name:     row.Name,
			Disabled: row.Disabled,
			User:     rules.User{Name: row.Username},
			TrackingRule: rules.TrackingRule{
				Name:   row.TrackingName,
				Params: row.TrackingParams,
			},
			GenerationRules: gen,
			Origin:          origin,
		},
		Version:   uint64(row.Version),
		CreatedAt: row.CreatedAt,
		UpdatedAt: row.UpdatedAt,
	}, nil
}

// ruleColumns encodes the JSON columns of a rule.
func ruleColumns(r *rules.Rule) (params, gen json.RawMessage, err error) {
	params = trackingParams(r)
	g := r.GenerationRules
	if g == nil {
		g = []rules.GenerationRule{}
	}
	gen, err = json.Marshal(g)
	return params, gen, err
}

// trackingParams is the tracking_params column of a rule.
func trackingParams(r *rules.Rule) json.RawMessage {
	if len(r.TrackingRule.Params) == 0 {
		return json.RawMessage("null")
	}
	return r.TrackingRule.Params
}

// dbErr translates pgx.ErrNoRows into ErrNotFound and wraps the rest.
func dbErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
