// Package stats projects fmn's streams into the statistics tables and reads
// them back for admins:
//
//   - NOTIFY → notifications generated per rule (rule_generated, which also
//     feeds generated_last_week), per user, per application and per channel
//     (generated_stats), in hourly buckets;
//   - EVENTS (delivery outcomes, events.delivery.<channel>) → delivery
//     attempts sent, retried and dead per channel and hour (delivery_stats).
//
// Each message is applied exactly once: every batch is one transaction that
// also moves the feed's projection_state row, under that row's lock.
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
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/streams"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
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

// Projector runs both feeds and the retention of old buckets.
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
	// Retention drops buckets older than this (0 keeps them forever); it
	// runs at start and every RetentionEvery (default 1h).
	Retention      time.Duration
	RetentionEvery time.Duration
	now            func() time.Time
}

// NewProjector returns a projector; Run starts it.
func NewProjector(js jetstream.JetStream, pool *pgxpool.Pool, sc streams.Config, log *slog.Logger) *Projector {
	if log == nil {
		log = slog.Default()
	}
	return &Projector{js: js, pool: pool, streams: sc, log: log, Durable: "stats", Batch: 500,
		RetentionEvery: time.Hour, now: time.Now}
}

// feed is one stream projected into the tables.
type feed struct {
	name    string // projection_state row
	stream  string
	filter  string
	durable string
	// deleteFrom clears the feed's buckets from a time on (rebuild).
	deleteFrom func(ctx context.Context, q *queries.Queries, since time.Time) error
	// add counts one stored message.
	add func(c *counts, r record)
}

// record is a stored message as the feeds see it.
type record struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
	stamp   time.Time // stream timestamp
}

func (p *Projector) feeds() []feed {
	return []feed{
		{name: ProjectionName, stream: p.streams.Notify, filter: streams.NotifyAll, durable: p.Durable,
			deleteFrom: func(ctx context.Context, q *queries.Queries, since time.Time) error {
				if err := q.GeneratedDeleteFrom(ctx, since); err != nil {
					return err
				}
				return q.GeneratedStatsDeleteFrom(ctx, since)
			},
			add: func(c *counts, r record) { c.addNotification(r, p.log) }},
		{name: DeliveriesProjectionName, stream: p.streams.Events, filter: streams.EventsDeliveryPfx + ">", durable: p.Durable + "-deliveries",
			deleteFrom: func(ctx context.Context, q *queries.Queries, since time.Time) error {
				return q.DeliveryStatsDeleteFrom(ctx, since)
			},
			add: func(c *counts, r record) { c.addDelivery(r, p.log) }},
	}
}

// Run applies NOTIFY and EVENTS until ctx ends, and drops expired buckets.
func (p *Projector) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, f := range p.feeds() {
		wg.Go(func() {
			if err := p.runFeed(ctx, f); err != nil {
				cancel(fmt.Errorf("statistics of %s: %w", f.stream, err))
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

// runFeed applies one feed until ctx ends. Setting up its consumer is
// retried while NATS answers with transient errors; fetch errors that
// heal by themselves (timeouts, missing heartbeats, a node stalled or
// electing) are logged and retried with backoff. It returns an error only
// for what does not: a consumer deleted under it, a closed connection.
func (p *Projector) runFeed(ctx context.Context, f feed) error {
	log := p.log.With("feed", f.name)
	cons, err := streams.EnsureConsumer(ctx, p.js, f.stream, jetstream.ConsumerConfig{
		Durable:       f.durable,
		Description:   "fmn statistics projection",
		FilterSubject: f.filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 4 * p.Batch,
	}, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stats consumer: %w", err)
	}
	failures := 0
	for ctx.Err() == nil {
		msgs, err := p.fetch(ctx, cons)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if streams.IsGone(err) {
				return fmt.Errorf("stats consumer %s on %s: %w", f.durable, f.stream, err)
			}
			failures++
			wait := streams.DefaultBackoff.Delay(failures)
			log.Warn("fetching for the statistics failed; retrying", "err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
			streams.Sleep(ctx, wait)
			continue
		}
		failures = 0
		if len(msgs) == 0 {
			continue
		}
		recs := make([]record, 0, len(msgs))
		for _, m := range msgs {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			recs = append(recs, record{seq: md.Sequence.Stream, subject: m.Subject(), header: m.Headers(), data: m.Data(), stamp: md.Timestamp})
		}
		if err := p.apply(ctx, f, recs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("statistics batch failed; it will be redelivered", "err", err)
			for _, m := range msgs {
				_ = m.NakWithDelay(time.Second)
			}
			continue
		}
		for _, m := range msgs {
			_ = m.Ack()
		}
	}
	return nil
}

// fetch returns what is pending, up to a batch, or else waits up to a
// second for one message. A batch that ends with an error returns what
// arrived before it, if anything.
func (p *Projector) fetch(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	batch, err := cons.FetchNoWait(p.Batch)
	if err != nil {
		return nil, err
	}
	msgs, err := collect(batch)
	if len(msgs) > 0 || (err != nil && !errors.Is(err, nats.ErrTimeout)) {
		return msgs, nonEmpty(msgs, err)
	}
	batch, err = cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		return nil, err
	}
	msgs, err = collect(batch)
	return msgs, nonEmpty(msgs, err)
}

// nonEmpty drops a batch's error when messages arrived before it: they are
// applied, and the next fetch meets the error again if it lasts.
func nonEmpty(msgs []jetstream.Msg, err error) error {
	if len(msgs) > 0 || errors.Is(err, nats.ErrTimeout) {
		return nil
	}
	return err
}

func collect(b jetstream.MessageBatch) ([]jetstream.Msg, error) {
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	return out, b.Error()
}

// apply counts a batch in one transaction, skipping what an earlier
// transaction already applied.
func (p *Projector) apply(ctx context.Context, f feed, recs []record) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := queries.New(tx)
		if err := q.ProjectionInit(ctx, f.name); err != nil {
			return err
		}
		last, err := q.ProjectionGetForUpdate(ctx, f.name)
		if err != nil {
			return err
		}
		c := newCounts()
		maxSeq := uint64(last)
		for _, r := range recs {
			if r.seq <= uint64(last) {
				continue
			}
			maxSeq = max(maxSeq, r.seq)
			f.add(c, r)
		}
		if maxSeq == uint64(last) {
			return nil
		}
		if err := c.write(ctx, q); err != nil {
			return err
		}
		n, err := q.ProjectionSet(ctx, f.name, int64(maxSeq))
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("statistics projection moved concurrently")
		}
		return nil
	})
}

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
			q.GeneratedDeleteBefore, q.GeneratedStatsDeleteBefore, q.DeliveryStatsDeleteBefore,
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

func (c *counts) addNotification(r record, log *slog.Logger) {
	// A notification published again by an operator was counted when it
	// was generated; its delivery attempts count like any other.
	if r.header.Get(streams.HeaderResendRun) != "" {
		return
	}
	var n notification.Notification
	if err := json.Unmarshal(r.data, &n); err != nil {
		log.Warn("undecodable notification not counted", "seq", r.seq, "err", err)
		return
	}
	at := n.CreatedAt
	if at.IsZero() {
		at = r.stamp
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
		channel = strings.TrimPrefix(r.subject, streams.NotifyPrefix)
	}
	c.generated[dimKey{DimUser, n.User, hour}]++
	c.generated[dimKey{DimApp, n.App, hour}]++
	c.generated[dimKey{DimChannel, channel, hour}]++
}

func (c *counts) addDelivery(r record, log *slog.Logger) {
	var e senders.DeliveryEvent
	if err := json.Unmarshal(r.data, &e); err != nil || e.Result == "" {
		log.Warn("undecodable delivery event not counted", "seq", r.seq, "err", err)
		return
	}
	at := e.Time
	if at.IsZero() {
		at = r.stamp
	}
	hour := at.UTC().Truncate(time.Hour)
	if hour.Before(c.from) {
		return
	}
	channel := e.Channel
	if channel == "" {
		channel = strings.TrimPrefix(r.subject, streams.EventsDeliveryPfx)
	}
	c.deliveries[deliveryKey{channel, string(e.Result), hour}]++
}

func (c *counts) write(ctx context.Context, q *queries.Queries) error {
	if len(c.rules) > 0 {
		arg := queries.GeneratedAddManyParams{}
		for k, n := range c.rules {
			arg.RuleIds = append(arg.RuleIds, k.rule)
			arg.Buckets = append(arg.Buckets, k.hour)
			arg.Counts = append(arg.Counts, n)
		}
		if err := q.GeneratedAddMany(ctx, arg); err != nil {
			return fmt.Errorf("count generated per rule: %w", err)
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
