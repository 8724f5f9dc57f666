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
// also moves the feed's projection_state row, under that row's lock, and a
// feed's position means "every message of the feed up to here is counted":
// messages are applied in stream order, a batch is held and retried until
// it commits (see settle), and a batch that skips sequences (another
// instance, or an earlier run, still holds them) first reads the missing
// messages from the stream (see fill).
// Rebuild recomputes everything from what the streams still hold; Reader is
// the query side, for the CLI and the admin API.
package stats

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
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
	// AckWait of the durable consumers (default 1 min); a batch held
	// longer (see settle) is kept from redelivery with progress notes.
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
		{name: ProjectionName, stream: p.streams.Notify, filter: wire.NotifyAll, durable: p.Durable,
			deleteFrom: func(ctx context.Context, q *queries.Queries, since time.Time) error {
				if err := q.GeneratedDeleteFrom(ctx, since); err != nil {
					return err
				}
				return q.GeneratedStatsDeleteFrom(ctx, since)
			},
			add: func(c *counts, r record) { c.addNotification(r, p.log) }},
		{name: DeliveriesProjectionName, stream: p.streams.Events, filter: wire.EventsDeliveryAll, durable: p.Durable + "-deliveries",
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
		AckWait:       p.ackWait(),
		MaxAckPending: 4 * p.Batch,
	}, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stats consumer: %w", err)
	}
	st, err := p.js.Stream(ctx, f.stream)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stats stream: %w", err)
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
		if p.crash != nil && p.crash(f.name, "fetched") {
			return nil
		}
		if !p.settle(ctx, f, st, msgs, recs) {
			return nil
		}
		if p.crash != nil && p.crash(f.name, "applied") {
			return nil
		}
		for _, m := range msgs {
			_ = m.Ack()
		}
	}
	return nil
}

func (p *Projector) ackWait() time.Duration {
	if p.AckWait <= 0 {
		return time.Minute
	}
	return p.AckWait
}

// settle applies a batch, and while that fails (PostgreSQL is down, say)
// waits with a growing delay and tries again, fetching nothing else
// meanwhile: no later batch is applied before this one, which would then
// have to be read back from the stream (see fill). It keeps the messages
// from being redelivered while it holds them. It logs the failure once,
// then at most once per LogEvery, and the recovery once. It returns false
// when ctx ends before the batch is applied.
func (p *Projector) settle(ctx context.Context, f feed, st jetstream.Stream, msgs []jetstream.Msg, recs []record) bool {
	delay := p.RetryDelay
	if delay <= 0 {
		delay = 250 * time.Millisecond
	}
	maxDelay := max(p.MaxRetryDelay, delay)
	logEvery := p.LogEvery
	if logEvery <= 0 {
		logEvery = time.Minute
	}
	var (
		since, logged time.Time
		touched       = time.Now()
		failures      int
	)
	for {
		// A transaction that hangs (an unreachable server) is abandoned
		// and tried again; if it did commit, the retry skips what it
		// applied.
		actx, cancel := context.WithTimeout(ctx, p.ackWait())
		more, err := p.apply(actx, f, st, recs)
		cancel()
		now := time.Now()
		if more {
			// A long gap, filled in steps: that is progress.
			continue
		}
		if err == nil {
			if failures > 0 {
				p.log.Info("statistics projection recovered", "feed", f.name,
					"after", now.Sub(since).Round(time.Millisecond), "retries", failures)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		failures++
		switch {
		case failures == 1:
			since, logged = now, now
			p.log.Warn("statistics projection cannot apply its batch; holding it and retrying with backoff",
				"feed", f.name, "err", err, "first_seq", firstSeq(recs), "messages", len(recs), "max_delay", maxDelay)
		case now.Sub(logged) >= logEvery:
			logged = now
			p.log.Warn("statistics projection still failing", "feed", f.name, "err", err,
				"for", now.Sub(since).Round(time.Second), "retries", failures-1)
		}
		// Wait between half and all of delay, so that instances do not
		// retry in step.
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		delay = min(2*delay, maxDelay)
		if time.Since(touched) >= p.ackWait()/3 {
			touched = time.Now()
			for _, m := range msgs {
				_ = m.InProgress()
			}
		}
	}
}

func firstSeq(recs []record) uint64 {
	if len(recs) == 0 {
		return 0
	}
	return slices.MinFunc(recs, func(a, b record) int { return cmp.Compare(a.seq, b.seq) }).seq
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

// apply counts a batch in one transaction that also moves the feed's
// position, in stream order: what the position already covers is skipped
// (a redelivery), and messages of the feed between the position and the
// batch are read from the stream and counted first (see fill). The
// position therefore always means that every message of the feed up to it
// was counted, once. A fill is bounded by fillLimit messages per
// transaction: when it reaches the bound, apply commits what it counted so
// far and says there is more (call it again).
func (p *Projector) apply(ctx context.Context, f feed, st jetstream.Stream, recs []record) (more bool, err error) {
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.seq, b.seq) })
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		more = false
		q := queries.New(tx)
		if err := q.ProjectionInit(ctx, f.name); err != nil {
			return err
		}
		stored, err := q.ProjectionGetForUpdate(ctx, f.name)
		if err != nil {
			return err
		}
		c := newCounts()
		last := uint64(stored)
		budget := p.fillLimit()
		for _, r := range recs {
			if r.seq <= last {
				continue
			}
			if r.seq > last+1 {
				last, err = p.fill(ctx, f, st, c, last, r.seq, &budget)
				if err != nil {
					return err
				}
				if last+1 < r.seq {
					more = true
					break
				}
			}
			f.add(c, r)
			last = r.seq
		}
		if last == uint64(stored) {
			return nil
		}
		if err := c.write(ctx, q); err != nil {
			return err
		}
		n, err := q.ProjectionSet(ctx, f.name, int64(last))
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("statistics projection moved concurrently")
		}
		return nil
	})
	return more && err == nil, err
}

// fillLimit is the most messages one transaction reads from the stream to
// fill gaps.
func (p *Projector) fillLimit() int {
	return 10 * max(p.Batch, 100)
}

// fill counts the feed's messages stored after sequence after and before
// sequence before, read from the stream: they were delivered elsewhere
// (another instance, or a run that stopped before applying them), and
// their redelivery, later, will be skipped. It counts at most *budget
// messages, and returns the sequence up to which the feed is counted:
// before-1 when it read them all. The streams read here do not allow
// direct gets, so the stream leader answers, which has every message
// before one that was delivered.
func (p *Projector) fill(ctx context.Context, f feed, st jetstream.Stream, c *counts, after, before uint64, budget *int) (uint64, error) {
	for seq := after + 1; seq < before; {
		if *budget <= 0 {
			return seq - 1, nil
		}
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(f.filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s from %d: %w", f.stream, seq, err)
		}
		if raw.Sequence >= before {
			break
		}
		f.add(c, record{seq: raw.Sequence, subject: raw.Subject, header: raw.Header, data: raw.Data, stamp: raw.Time})
		*budget--
		seq = raw.Sequence + 1
	}
	return before - 1, nil
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
	if r.header.Get(wire.HeaderResendRun) != "" {
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
		channel = strings.TrimPrefix(r.subject, wire.NotifyPrefix)
	}
	c.generated[dimKey{DimUser, n.User, hour}]++
	c.generated[dimKey{DimApp, n.App, hour}]++
	c.generated[dimKey{DimChannel, channel, hour}]++
}

func (c *counts) addDelivery(r record, log *slog.Logger) {
	var e wire.DeliveryEvent
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
		channel = strings.TrimPrefix(r.subject, wire.EventsDeliveryPfx)
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
