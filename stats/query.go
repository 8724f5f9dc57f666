package stats

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/wire"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reader answers statistics questions from the projected tables. It is the
// query API of the CLI (fmn stats) and of the admin REST API. Every answer
// is in hourly buckets: a Range covers the buckets that overlap it.
type Reader struct {
	q   *queries.Queries
	now func() time.Time
}

// NewReader reads through pool.
func NewReader(pool *pgxpool.Pool) *Reader {
	return &Reader{q: queries.New(pool), now: time.Now}
}

// Range is a time span [Since, Until). A zero Since means from the
// beginning, a zero Until up to now (the current hour included).
type Range struct {
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

func (r Range) bounds(now time.Time) (since, until time.Time) {
	since, until = r.Since, r.Until
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	if until.IsZero() {
		until = now.Add(time.Hour)
	}
	return since.UTC().Truncate(time.Hour), until.UTC()
}

// Count is a total for one key of a dimension (a user, an application, a
// channel). Key is "" for notifications of messages without application.
type Count struct {
	Key   string `json:"key"`
	Total int64  `json:"total"`
}

// RuleCount is a rule's total; Name and User are empty for a rule deleted
// since.
type RuleCount struct {
	RuleID int64  `json:"rule_id"`
	Name   string `json:"name"`
	User   string `json:"user"`
	Total  int64  `json:"total"`
}

// HourCount is the total of one hour (UTC, the start of the bucket).
type HourCount struct {
	Hour  time.Time `json:"hour"`
	Total int64     `json:"total"`
}

// Deliveries counts a channel's delivery attempts by result: sent,
// retried (failed transiently, tried again later), dead (dead-lettered)
// and paused (dropped: the destination was paused).
type Deliveries struct {
	Channel string `json:"channel"`
	Sent    int64  `json:"sent"`
	Retried int64  `json:"retried"`
	Dead    int64  `json:"dead"`
	Paused  int64  `json:"paused"`
}

// DeliveryHour is Deliveries for one hour (of one channel or all).
type DeliveryHour struct {
	Hour    time.Time `json:"hour"`
	Sent    int64     `json:"sent"`
	Retried int64     `json:"retried"`
	Dead    int64     `json:"dead"`
	Paused  int64     `json:"paused"`
}

// Activity comes from the rules projection, now: users with at least one
// enabled rule, every known user, and the rules by state.
type Activity struct {
	ActiveUsers   int64 `json:"active_users"`
	Users         int64 `json:"users"`
	EnabledRules  int64 `json:"enabled_rules"`
	DisabledRules int64 `json:"disabled_rules"`
}

// Summary is the overview of a range.
type Summary struct {
	Range Range `json:"range"`
	// Generated counts notifications (each once, whatever the number of
	// rules that produced it).
	Generated  int64        `json:"generated"`
	ByChannel  []Count      `json:"generated_by_channel"`
	Deliveries []Deliveries `json:"deliveries"`
	Activity   Activity     `json:"activity"`
}

// Summary returns the overview of r.
func (rd *Reader) Summary(ctx context.Context, r Range) (Summary, error) {
	s := Summary{Range: r}
	var err error
	if s.ByChannel, err = rd.Top(ctx, DimChannel, r, 0); err != nil {
		return s, err
	}
	for _, c := range s.ByChannel {
		s.Generated += c.Total
	}
	if s.Deliveries, err = rd.Deliveries(ctx, r); err != nil {
		return s, err
	}
	if s.Activity, err = rd.Activity(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// Top returns the totals of a dimension (DimUser, DimApp, DimChannel) over
// r, largest first; limit 0 returns every key.
func (rd *Reader) Top(ctx context.Context, dim string, r Range, limit int) ([]Count, error) {
	if err := checkDim(dim); err != nil {
		return nil, err
	}
	since, until := r.bounds(rd.now())
	rows, err := rd.q.GeneratedStatsTop(ctx, queries.GeneratedStatsTopParams{
		Dimension: dim, Since: since, Until: until, MaxRows: maxRows(limit)})
	if err != nil {
		return nil, fmt.Errorf("statistics per %s: %w", dim, err)
	}
	out := make([]Count, len(rows))
	for i, row := range rows {
		out[i] = Count{Key: row.Key, Total: row.Total}
	}
	return out, nil
}

// TopRules returns the notifications generated per rule over r, largest
// first; a notification produced by several rules counts for each.
func (rd *Reader) TopRules(ctx context.Context, r Range, limit int) ([]RuleCount, error) {
	since, until := r.bounds(rd.now())
	rows, err := rd.q.RuleGeneratedTop(ctx, queries.RuleGeneratedTopParams{Since: since, Until: until, MaxRows: maxRows(limit)})
	if err != nil {
		return nil, fmt.Errorf("statistics per rule: %w", err)
	}
	out := make([]RuleCount, len(rows))
	for i, row := range rows {
		out[i] = RuleCount{RuleID: row.RuleID, Name: row.Name, User: row.Username, Total: row.Total}
	}
	return out, nil
}

// Hourly returns the notifications per hour over r: of every channel when
// key is "", else of one key of dim. Hours without any are left out.
func (rd *Reader) Hourly(ctx context.Context, dim, key string, r Range) ([]HourCount, error) {
	if dim == "" {
		dim = DimChannel
	}
	if err := checkDim(dim); err != nil {
		return nil, err
	}
	since, until := r.bounds(rd.now())
	rows, err := rd.q.GeneratedStatsHourly(ctx, queries.GeneratedStatsHourlyParams{Dimension: dim, Key: key, Since: since, Until: until})
	if err != nil {
		return nil, fmt.Errorf("statistics per hour: %w", err)
	}
	out := make([]HourCount, len(rows))
	for i, row := range rows {
		out[i] = HourCount{Hour: row.Bucket.UTC(), Total: row.Total}
	}
	return out, nil
}

// RuleHourly returns one rule's notifications per hour over r.
func (rd *Reader) RuleHourly(ctx context.Context, ruleID int64, r Range) ([]HourCount, error) {
	since, until := r.bounds(rd.now())
	rows, err := rd.q.RuleGeneratedHourly(ctx, queries.RuleGeneratedHourlyParams{RuleID: ruleID, Since: since, Until: until})
	if err != nil {
		return nil, fmt.Errorf("statistics of rule %d: %w", ruleID, err)
	}
	out := make([]HourCount, len(rows))
	for i, row := range rows {
		out[i] = HourCount{Hour: row.Bucket.UTC(), Total: row.Count}
	}
	return out, nil
}

// Deliveries returns the delivery attempts per channel over r.
func (rd *Reader) Deliveries(ctx context.Context, r Range) ([]Deliveries, error) {
	since, until := r.bounds(rd.now())
	rows, err := rd.q.DeliveryStatsByChannel(ctx, since, until)
	if err != nil {
		return nil, fmt.Errorf("delivery statistics: %w", err)
	}
	out := []Deliveries{}
	for _, row := range rows {
		i := slices.IndexFunc(out, func(d Deliveries) bool { return d.Channel == row.Channel })
		if i < 0 {
			out = append(out, Deliveries{Channel: row.Channel})
			i = len(out) - 1
		}
		addResult(&out[i].Sent, &out[i].Retried, &out[i].Dead, &out[i].Paused, row.Result, row.Total)
	}
	return out, nil
}

// DeliveriesHourly returns the delivery attempts per hour over r, of one
// channel or, with "", of all.
func (rd *Reader) DeliveriesHourly(ctx context.Context, channel string, r Range) ([]DeliveryHour, error) {
	since, until := r.bounds(rd.now())
	rows, err := rd.q.DeliveryStatsHourly(ctx, queries.DeliveryStatsHourlyParams{Channel: channel, Since: since, Until: until})
	if err != nil {
		return nil, fmt.Errorf("delivery statistics per hour: %w", err)
	}
	out := []DeliveryHour{}
	for _, row := range rows {
		h := row.Bucket.UTC()
		if len(out) == 0 || !out[len(out)-1].Hour.Equal(h) {
			out = append(out, DeliveryHour{Hour: h})
		}
		d := &out[len(out)-1]
		addResult(&d.Sent, &d.Retried, &d.Dead, &d.Paused, row.Result, row.Total)
	}
	return out, nil
}

// Activity returns the counts of the rules projection.
func (rd *Reader) Activity(ctx context.Context) (Activity, error) {
	row, err := rd.q.RuleActivity(ctx)
	if err != nil {
		return Activity{}, fmt.Errorf("active users: %w", err)
	}
	return Activity(row), nil
}

func addResult(sent, retried, dead, paused *int64, result string, n int64) {
	switch result {
	case string(wire.Sent):
		*sent += n
	case string(wire.Retry):
		*retried += n
	case string(wire.Dead):
		*dead += n
	case string(wire.Paused):
		*paused += n
	}
}

func checkDim(dim string) error {
	switch dim {
	case DimUser, DimApp, DimChannel:
		return nil
	}
	return fmt.Errorf("unknown statistics dimension %q (want %s, %s or %s)", dim, DimUser, DimApp, DimChannel)
}

func maxRows(limit int) int32 {
	if limit <= 0 || limit > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(limit)
}
