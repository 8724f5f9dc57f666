// Package stats projects fmn's streams into the statistics tables and reads
// them back for admins:
//
//   - NOTIFY → notifications generated per rule (rule_generated, which also
//     feeds generated_last_week), per user, per application and per channel
//     (generated_stats), in hourly buckets;
//   - EVENTS (delivery outcomes, events.delivery.<channel>) → delivery
//     attempts sent, retried and dead per channel and hour (delivery_stats).
//
// Each message is applied exactly once, in stream order, by a
// projection.Runner per feed: every batch is one transaction that also
// moves the feed's projection_state row, and a feed's position means
// "every message of the feed up to here is counted".
// Rebuild recomputes everything from what the streams still hold; Reader is
// the query side, for the CLI and the admin API.
package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/projection"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// ProjectionName is the projection_state row of the NOTIFY feed;
// DeliveriesProjectionName the row of the EVENTS feed.
const (
	ProjectionName           = "stats"
	DeliveriesProjectionName = "stats-deliveries"
)

// Dimensions of generated_stats.
const (
	DimUser    = "user"
	DimApp     = "app"
	DimChannel = "channel"
)

// Projector runs both feeds, each with a projection.Runner, and the
// retention of old buckets.
type Projector struct {
	js      jetstream.JetStream
	pool    *pgxpool.Pool
	streams streams.Config
	log     *slog.Logger
	// Durable is the NOTIFY consumer's name (default "stats"); the EVENTS
	// consumer is Durable+"-deliveries".
	Durable string
	// Batch is the most messages applied in one transaction.
	Batch int
	// AckWait of the durable consumers (default 1 min); a batch held
	// longer (see projection.Config) is kept from redelivery with progress
	// notes.
	AckWait time.Duration
	// RetryDelay is the first wait after a batch failed to apply (default
	// 250 ms); it doubles on each failure up to MaxRetryDelay (default
	// 15 s).
	RetryDelay, MaxRetryDelay time.Duration
	// LogEvery is how often a feed that keeps failing says so again
	// (default 1 min): one line when it starts failing, at most one per
	// LogEvery meanwhile, one when it recovers.
	LogEvery time.Duration
	// Retention drops buckets older than this (0 keeps them forever); it
	// runs at start and every RetentionEvery (default 1h).
	Retention      time.Duration
	RetentionEvery time.Duration
	now            func() time.Time
	// crash, when set (tests), is asked at each stage of a batch
	// ("fetched", "applied"); true makes the feed stop there at once, as
	// if the process died: no ack, no nak.
	crash func(feed, stage string) bool
}

// NewProjector returns a projector; Run starts it.
func NewProjector(js jetstream.JetStream, pool *pgxpool.Pool, sc streams.Config, log *slog.Logger) *Projector {
	if log == nil {
		log = slog.Default()
	}
	return &Projector{js: js, pool: pool, streams: sc, log: log, Durable: "stats", Batch: 500,
		AckWait: time.Minute, RetryDelay: 250 * time.Millisecond, MaxRetryDelay: 15 * time.Second,
		LogEvery: time.Minute, RetentionEvery: time.Hour, now: time.Now}
}

// feed is one stream projected into the tables.
type feed struct {
	projection.Feed
	durable string
	// deleteFrom clears the feed's buckets from a time on (rebuild).
	deleteFrom func(ctx context.Context, q *queries.Queries, since time.Time) error
	// add counts one stored message.
	add func(c *counts, m projection.Msg)
}

func (p *Projector) feeds() []feed {
	return []feed{
		{Feed: projection.Feed{Name: ProjectionName, Stream: p.streams.Notify, Filter: wire.NotifyAll}, durable: p.Durable,
			deleteFrom: func(ctx context.Context, q *queries.Queries, since time.Time) error {
				if err := q.RuleGeneratedDeleteFrom(ctx, since); err != nil {
					return err
				}
				// Counts may go: every user's answer changes.
				if err := q.UserGeneratedVersionBumpAll(ctx); err != nil {
					return err
				}
				return q.GeneratedStatsDeleteFrom(ctx, since)
			},
			add: func(c *counts, m projection.Msg) { c.addNotification(m, p.log) }},
		{Feed: projection.Feed{Name: DeliveriesProjectionName, Stream: p.streams.Events, Filter: wire.EventsDeliveryAll}, durable: p.Durable + "-deliveries",
			deleteFrom: func(ctx context.Context, q *queries.Queries, since time.Time) error {
				return q.DeliveryStatsDeleteFrom(ctx, since)
			},
			add: func(c *counts, m projection.Msg) { c.addDelivery(m, p.log) }},
	}
}

// Run applies NOTIFY and EVENTS until ctx ends, and drops expired buckets.
// A feed whose setup keeps failing or whose connection is closed stops
// Run with an error.
func (p *Projector) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, f := range p.feeds() {
		r := projection.New(p.js, p.pool, p.runnerConfig(f))
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				cancel(fmt.Errorf("statistics of %s: %w", f.Stream, err))
			}
		})
	}
	if p.Retention > 0 {
		wg.Go(func() { p.runRetention(ctx) })
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (p *Projector) runnerConfig(f feed) projection.Config {
	cfg := projection.Config{
		Feed:        f.Feed,
		Durable:     f.durable,
		Description: "fmn statistics projection",
		Begin: func(w *projection.Writer) projection.Applier {
			return &batch{q: queries.New(w), c: newCounts(), add: f.add}
		},
		BatchSize:     p.Batch,
		AckWait:       p.AckWait,
		RetryDelay:    p.RetryDelay,
		MaxRetryDelay: p.MaxRetryDelay,
		LogEvery:      p.LogEvery,
		What:          "statistics projection",
		Logger:        p.log,
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = time.Minute
	}
	if p.crash != nil {
		cfg.Crash = func(stage string) bool { return p.crash(f.Name, stage) }
	}
	return cfg
}

// batch counts the messages of one transaction and writes the counts at
// the end.
type batch struct {
	q   *queries.Queries
	c   *counts
	add func(c *counts, m projection.Msg)
}

func (b *batch) Apply(_ context.Context, m projection.Msg) error {
	b.add(b.c, m)
	return nil
}

func (b *batch) Flush(ctx context.Context) error { return b.c.write(ctx, b.q) }

func (p *Projector) runRetention(ctx context.Context) {
	every := p.RetentionEvery
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := p.Expire(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("dropping expired statistics failed; will retry", "err", err)
		} else if n > 0 {
			p.log.Info("dropped expired statistics buckets", "buckets", n, "retention", p.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Expire drops the buckets older than Retention and says how many went.
func (p *Projector) Expire(ctx context.Context) (int64, error) {
	if p.Retention <= 0 {
		return 0, nil
	}
	before := p.now().Add(-p.Retention).UTC().Truncate(time.Hour)
	var total int64
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := queries.New(tx)
		total = 0
		for _, del := range []func(context.Context, time.Time) (int64, error){
			q.RuleGeneratedDeleteBefore, q.GeneratedStatsDeleteBefore, q.DeliveryStatsDeleteBefore,
		} {
			n, err := del(ctx, before)
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}

// counts accumulates one batch (or a rebuild) before it is written.
type counts struct {
	rules      map[ruleKey]int64
	generated  map[dimKey]int64
	deliveries map[deliveryKey]int64
	// from drops buckets before it (rebuild: kept from before the stream's
	// retention, or expired).
	from time.Time
}

type ruleKey struct {
	rule int64
	hour time.Time
}

type dimKey struct {
	dim, key string
	hour     time.Time
}

type deliveryKey struct {
	channel, result string
	hour            time.Time
}

func newCounts() *counts {
	return &counts{rules: map[ruleKey]int64{}, generated: map[dimKey]int64{}, deliveries: map[deliveryKey]int64{}}
}

func (c *counts) addNotification(r projection.Msg, log *slog.Logger) {
	// A notification published again by an operator was counted when it
	// was generated; its delivery attempts count like any other.
	if r.Header.Get(wire.HeaderResendRun) != "" {
		return
	}
	var n notification.Notification
	if err := json.Unmarshal(r.Data, &n); err != nil {
		log.Warn("undecodable notification not counted", "seq", r.Seq, "err", err)
		return
	}
	at := n.CreatedAt
	if at.IsZero() {
		at = r.Time
	}
	hour := at.UTC().Truncate(time.Hour)
	if hour.Before(c.from) {
		return
	}
	for _, id := range n.RuleIDs {
		c.rules[ruleKey{id, hour}]++
	}
	channel := n.Protocol
	if channel == "" {
		channel = strings.TrimPrefix(r.Subject, wire.NotifyPrefix)
	}
	c.generated[dimKey{DimUser, n.User, hour}]++
	c.generated[dimKey{DimApp, n.App, hour}]++
	c.generated[dimKey{DimChannel, channel, hour}]++
}

func (c *counts) addDelivery(r projection.Msg, log *slog.Logger) {
	var e wire.DeliveryEvent
	if err := json.Unmarshal(r.Data, &e); err != nil || e.Result == "" {
		log.Warn("undecodable delivery event not counted", "seq", r.Seq, "err", err)
		return
	}
	at := e.Time
	if at.IsZero() {
		at = r.Time
	}
	hour := at.UTC().Truncate(time.Hour)
	if hour.Before(c.from) {
		return
	}
	channel := e.Channel
	if channel == "" {
		channel = strings.TrimPrefix(r.Subject, wire.EventsDeliveryPfx)
	}
	c.deliveries[deliveryKey{channel, string(e.Result), hour}]++
}

func (c *counts) write(ctx context.Context, q *queries.Queries) error {
	if len(c.rules) > 0 {
		arg := queries.RuleGeneratedAddManyParams{}
		for k, n := range c.rules {
			arg.RuleIds = append(arg.RuleIds, k.rule)
			arg.Buckets = append(arg.Buckets, k.hour)
			arg.Counts = append(arg.Counts, n)
		}
		if err := q.RuleGeneratedAddMany(ctx, arg); err != nil {
			return fmt.Errorf("count generated per rule: %w", err)
		}
		// The answers of GET /users/{u}/rules that these counts change:
		// their owners', whoever the notifications name.
		if err := q.UserGeneratedVersionBumpRules(ctx, arg.RuleIds); err != nil {
			return fmt.Errorf("bump answer versions: %w", err)
		}
	}
	if len(c.generated) > 0 {
		arg := queries.GeneratedStatsAddManyParams{}
		for k, n := range c.generated {
			arg.Dimensions = append(arg.Dimensions, k.dim)
			arg.Keys = append(arg.Keys, k.key)
			arg.Buckets = append(arg.Buckets, k.hour)
			arg.Counts = append(arg.Counts, n)
		}
		if err := q.GeneratedStatsAddMany(ctx, arg); err != nil {
			return fmt.Errorf("count generated: %w", err)
		}
	}
	if len(c.deliveries) > 0 {
		arg := queries.DeliveryStatsAddManyParams{}
		for k, n := range c.deliveries {
			arg.Channels = append(arg.Channels, k.channel)
			arg.Results = append(arg.Results, k.result)
			arg.Buckets = append(arg.Buckets, k.hour)
			arg.Counts = append(arg.Counts, n)
		}
		if err := q.DeliveryStatsAddMany(ctx, arg); err != nil {
			return fmt.Errorf("count deliveries: %w", err)
		}
	}
	return nil
}
