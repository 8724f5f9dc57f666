// Package projection runs a projection of a JetStream stream into
// PostgreSQL tables, for the rule projection (rulelog) and the statistics
// (stats); those packages say what an event does to their tables, this one
// how events get there exactly once:
//
//   - a durable pull consumer feeds batches; each batch is one transaction
//     that also moves the projection's projection_state row, under that
//     row's lock, so a message is applied once however often it is
//     delivered and however many instances run;
//   - messages are applied in stream order: what the position covers is
//     skipped (a redelivery), and a batch that skips sequences (another
//     instance, or an earlier run, still holds them) first reads the
//     missing ones from the stream (gap fill);
//   - a batch that fails (PostgreSQL is away) is held and tried again with
//     backoff, and kept from redelivery meanwhile; nothing later is applied
//     before it, so no batch is ever skipped;
//   - Rebuild recomputes projections from their streams in one transaction
//     that holds their locks.
//
// Runner has one lifecycle: Start (retrying the setup while NATS answers
// with transient errors), running (backoff on failure; a durable consumer
// that disappears is set up again from the projection's position), Stop.
package projection

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/streams"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is a stored message as a projection sees it.
type Msg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
	// Time is the stream's timestamp.
	Time time.Time
}

// Applier applies the messages of one transaction.
type Applier interface {
	// Apply applies one message; messages come in stream order. An error
	// fails the transaction (it is tried again): a message that can never
	// be applied should be logged and passed over instead.
	Apply(ctx context.Context, m Msg) error
	// Flush writes what Apply gathered, before the position moves.
	Flush(ctx context.Context) error
}

// Feed is a stream, or the part of it under Filter, projected under a
// projection_state row.
type Feed struct {
	// Name is the projection_state row.
	Name   string
	Stream string
	Filter string
}

// Config configures a Runner. Zero durations and sizes take the defaults.
type Config struct {
	Feed
	// Durable is the durable pull consumer's name; several instances may
	// share it. Description goes with it when the runner creates it.
	Durable, Description string
	// Begin returns the applier of one transaction, which writes through w
	// (queries.New(w)): its statements are sent together, with the
	// position's.
	Begin func(w *Writer) Applier
	// Committed, when set, is called after each commit with the
	// projection's position, once the batch is acknowledged.
	Committed func(ctx context.Context, last uint64)
	// BatchSize is the most messages applied in one transaction (default
	// 500). A single pending message is applied at once.
	BatchSize int
	// Prefetch fetches the next batch while the current one is applied, so
	// that the server gathers it while the transaction waits on
	// PostgreSQL. The batch fetched ahead is held unacknowledged meanwhile;
	// if the runner stops first, it is redelivered after AckWait (and its
	// successors fill it in from the stream before that).
	Prefetch bool
	// AckWait of the durable consumer when the runner creates it (default
	// 30s); it also bounds one transaction. A batch held longer (see
	// RetryDelay) is kept from redelivery with progress notes.
	AckWait time.Duration
	// RetryDelay is the first wait after a batch failed to apply (default
	// 250ms); it doubles on each failure up to MaxRetryDelay (default 15s).
	RetryDelay, MaxRetryDelay time.Duration
	// LogEvery is how often a projection that keeps failing says so again
	// (default 1 min): one line when it starts failing, at most one per
	// LogEvery meanwhile, one when it recovers.
	LogEvery time.Duration
	// What names the projection in its log lines (default "projection").
	What string
	// Logger defaults to slog.Default(); lines carry feed=Name.
	Logger *slog.Logger
	// Crash, when set (tests), is asked at each stage of a batch
	// ("fetched", "applied"); true makes the runner stop there at once, as
	// if the process died: no ack, no nak.
	Crash func(stage string) bool
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 250 * time.Millisecond
	}
	if c.MaxRetryDelay <= 0 {
		c.MaxRetryDelay = 15 * time.Second
	}
	c.MaxRetryDelay = max(c.MaxRetryDelay, c.RetryDelay)
	if c.LogEvery <= 0 {
		c.LogEvery = time.Minute
	}
	if c.What == "" {
		c.What = "projection"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Stats counts what a runner did since it was made.
type Stats struct {
	// Applied messages, including those read to fill a gap.
	Applied uint64
	// Skipped deliveries of messages the position already covered.
	Skipped uint64
	// LastSeq is the last position this runner committed.
	LastSeq uint64
	// ClaimsLost counts the transactions sent in one round trip that found
	// the position moved by another writer, and were applied again after
	// reading it under its lock.
	ClaimsLost uint64
}

// Runner applies one feed to its tables; see the package comment.
type Runner struct {
	js   jetstream.JetStream
	pool *pgxpool.Pool
	cfg  Config
	log  *slog.Logger

	applied, skipped, lastSeq, claimsLost atomic.Uint64

	// at is where this runner left the position, when atKnown (the loop's
	// own state: apply runs on its goroutine only).
	at      uint64
	atKnown bool

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// New returns a runner; Start or Run runs it.
func New(js jetstream.JetStream, pool *pgxpool.Pool, cfg Config) *Runner {
	cfg = cfg.withDefaults()
	return &Runner{js: js, pool: pool, cfg: cfg, log: cfg.Logger.With(slog.String("feed", cfg.Name))}
}

// Config returns the runner's configuration, defaults filled in.
func (r *Runner) Config() Config { return r.cfg }

// Stats returns the runner's counters.
func (r *Runner) Stats() Stats {
	return Stats{Applied: r.applied.Load(), Skipped: r.skipped.Load(), LastSeq: r.lastSeq.Load(), ClaimsLost: r.claimsLost.Load()}
}

// Run is Start, then waiting until ctx ends or the runner stops by
// itself, then Stop. It returns nil when ctx ended, else why it stopped.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-done:
	}
	return r.Stop()
}

// Start sets up the durable consumer, retrying while NATS answers with
// transient errors (a cluster electing its leaders) until ctx ends, and
// then applies the feed in the background until Stop or until ctx ends. A
// durable consumer the runner creates starts after the projection's
// position.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return errors.New(r.cfg.What + " already started")
	}
	st, cons, err := r.setup(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	done := make(chan struct{})
	r.cancel, r.done, r.err = cancel, done, nil
	go func() {
		defer close(done)
		defer stop()
		err := r.loop(rctx, st, cons)
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}()
	return nil
}

// Stop stops the runner, waits for the batch in hand and returns the error
// that stopped it by itself, if any. Messages it received but did not
// apply are redelivered later; their successors are not held up, they
// read them from the stream.
func (r *Runner) Stop() error {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancel, r.done = nil, nil
	return r.err
}

// setup looks up the stream and the durable consumer, creating the latter
// from the projection's position when it is missing. It retries while NATS
// answers with transient errors, and while PostgreSQL cannot tell the
// position, until ctx ends.
func (r *Runner) setup(ctx context.Context) (jetstream.Stream, jetstream.Consumer, error) {
	var (
		st   jetstream.Stream
		cons jetstream.Consumer
	)
	for attempt := 1; ; attempt++ {
		err := streams.Retry(ctx, r.log, "consumer "+r.cfg.Stream+"/"+r.cfg.Durable, func(ctx context.Context) error {
			var err error
			if st, err = r.js.Stream(ctx, r.cfg.Stream); err != nil {
				return fmt.Errorf("stream %s: %w", r.cfg.Stream, err)
			}
			cons, err = r.consumer(ctx)
			return err
		})
		var pe positionError
		if err == nil || ctx.Err() != nil || !errors.As(err, &pe) {
			return st, cons, err
		}
		wait := streams.DefaultBackoff.Delay(attempt)
		r.log.Warn(r.cfg.What+": cannot read its position to set up its consumer; retrying", "err", err,
			"attempt", attempt, "retry_in", wait.Round(time.Millisecond))
		if !streams.Sleep(ctx, wait) {
			return nil, nil, err
		}
	}
}

// positionError: PostgreSQL could not tell the projection's position.
type positionError struct{ err error }

func (e positionError) Error() string { return "read projection state: " + e.err.Error() }
func (e positionError) Unwrap() error { return e.err }

// consumer returns the durable consumer, created after the projection's
// position when it does not exist. An existing one is kept as it is.
func (r *Runner) consumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("consumer %s/%s: %w", r.cfg.Stream, r.cfg.Durable, err)
	}
	last, err := queries.New(r.pool).ProjectionGet(ctx, r.cfg.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		last, err = 0, nil
	}
	if err != nil {
		return nil, positionError{err}
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       r.cfg.Durable,
		Description:   r.cfg.Description,
		FilterSubject: r.cfg.Filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.cfg.AckWait,
		MaxAckPending: max(4*r.cfg.BatchSize, 1000),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, uint64(last)+1
	}
	cons, err = r.js.CreateConsumer(ctx, r.cfg.Stream, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Another instance made it first.
		cons, err = r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
	}
	if err != nil {
		return nil, fmt.Errorf("create consumer %s/%s: %w", r.cfg.Stream, r.cfg.Durable, err)
	}
	return cons, nil
}

// loop fetches and settles batches until ctx ends. Fetch errors that heal
// by themselves (timeouts, missing heartbeats, a node stalled or electing,
// a durable consumer deleted under it) are logged and retried with backoff,
// setting the consumer up again. It returns an error only for what does
// not heal: a closed connection, or a setup that fails for good.
func (r *Runner) loop(ctx context.Context, st jetstream.Stream, cons jetstream.Consumer) error {
	// ahead carries the fetch under way (at most one): with Prefetch, the
	// next batch's is started before the current batch is applied.
	type fetched struct {
		batch []jetstream.Msg
		err   error
	}
	ahead := make(chan fetched, 1)
	fetching := false
	fetchNext := func(cons jetstream.Consumer) {
		fetching = true
		go func() {
			batch, err := r.fetch(cons)
			ahead <- fetched{batch, err}
		}()
	}
	defer func() {
		// A stopped runner has no fetch running; what it fetched ahead
		// stays unacknowledged.
		if fetching {
			<-ahead
		}
	}()
	failures := 0
	for ctx.Err() == nil {
		if !fetching {
			fetchNext(cons)
		}
		f := <-ahead
		fetching = false
		batch, err := f.batch, f.err
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrConnectionClosed) {
				return fmt.Errorf("%s: consumer %s/%s: %w", r.cfg.What, r.cfg.Stream, r.cfg.Durable, err)
			}
			failures++
			wait := streams.DefaultBackoff.Delay(failures)
			r.log.Warn(r.cfg.What+": fetching failed; setting the consumer up again", "err", err,
				"failures", failures, "retry_in", wait.Round(time.Millisecond))
			if !streams.Sleep(ctx, wait) {
				return nil
			}
			nst, ncons, err := r.setup(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			st, cons = nst, ncons
			continue
		}
		failures = 0
		if len(batch) == 0 {
			continue
		}
		if r.cfg.Prefetch {
			fetchNext(cons)
		}
		msgs := make([]Msg, 0, len(batch))
		for _, m := range batch {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			msgs = append(msgs, Msg{Seq: md.Sequence.Stream, Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Time: md.Timestamp})
		}
		if r.crash("fetched") {
			return nil
		}
		last, ok := r.settle(ctx, st, batch, msgs)
		if !ok {
			return nil
		}
		if r.crash("applied") {
			return nil
		}
		for _, m := range batch {
			_ = m.Ack()
		}
		if r.cfg.Committed != nil {
			r.cfg.Committed(ctx, last)
		}
	}
	return nil
}

func (r *Runner) crash(stage string) bool { return r.cfg.Crash != nil && r.cfg.Crash(stage) }

// fetch returns what is pending, up to a batch, or else waits up to a
// second for one message. A batch that ends with an error returns what
// arrived before it, if anything.
func (r *Runner) fetch(cons jetstream.Consumer) ([]jetstream.Msg, error) {
	n := r.cfg.BatchSize
	// A request beyond what the consumer lets be pending (another instance
	// holds some) would wait instead of returning: ask for at most a
	// quarter of it.
	if info := cons.CachedInfo(); info != nil && info.Config.MaxAckPending > 0 {
		n = max(1, min(n, info.Config.MaxAckPending/4))
	}
	batch, err := cons.FetchNoWait(n)
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

// settle applies a batch, and while that fails (PostgreSQL is down, say)
// waits with a growing delay and tries again, fetching nothing else
// meanwhile: no later batch is applied before this one. It keeps the
// messages from being redelivered while it holds them. It logs the failure
// once, then at most once per LogEvery, and the recovery once. It returns
// the position after the batch, and false when ctx ends before the batch
// is applied.
func (r *Runner) settle(ctx context.Context, st jetstream.Stream, batch []jetstream.Msg, msgs []Msg) (uint64, bool) {
	slices.SortFunc(msgs, func(a, b Msg) int { return cmp.Compare(a.Seq, b.Seq) })
	delay := r.cfg.RetryDelay
	var (
		since, logged time.Time
		touched       = time.Now()
		failures      int
	)
	for {
		// The batch in hand is finished rather than left with a commit
		// whose outcome is unknown when the runner stops; AckWait bounds
		// a transaction that hangs (an unreachable server): it is
		// abandoned and tried again, and if it did commit, the retry
		// skips what it applied.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.AckWait)
		last, more, err := r.apply(actx, st, msgs)
		cancel()
		now := time.Now()
		if more {
			// A long gap, filled in steps: that is progress.
			continue
		}
		if err == nil {
			if failures > 0 {
				r.log.Info(r.cfg.What+" recovered", "after", now.Sub(since).Round(time.Millisecond), "retries", failures)
			}
			return last, true
		}
		if ctx.Err() != nil {
			return 0, false
		}
		failures++
		switch {
		case failures == 1:
			since, logged = now, now
			var first uint64
			if len(msgs) > 0 {
				first = msgs[0].Seq
			}
			r.log.Warn(r.cfg.What+" cannot apply its batch; holding it and retrying with backoff",
				"err", err, "first_seq", first, "messages", len(msgs), "max_delay", r.cfg.MaxRetryDelay)
		case now.Sub(logged) >= r.cfg.LogEvery:
			logged = now
			r.log.Warn(r.cfg.What+" still failing", "err", err,
				"for", now.Sub(since).Round(time.Second), "retries", failures-1)
		}
		// Wait between half and all of delay, so that instances do not
		// retry in step.
		if !streams.Sleep(ctx, delay/2+rand.N(delay/2+1)) {
			return 0, false
		}
		delay = min(2*delay, r.cfg.MaxRetryDelay)
		if time.Since(touched) >= r.cfg.AckWait/3 {
			touched = time.Now()
			for _, m := range batch {
				_ = m.InProgress()
			}
		}
	}
}

// fillLimit is the most messages one transaction reads from the stream to
// fill gaps.
func (r *Runner) fillLimit() int { return 10 * max(r.cfg.BatchSize, 100) }

// apply applies msgs (sorted by sequence) in one transaction that also
// moves the position, and returns the position after it. What the position
// already covers is skipped (a redelivery), and messages of the feed
// between the position and the batch are read from the stream and applied
// first (see fill). The position therefore always means that every message
// of the feed up to it was applied, once. A fill is bounded by fillLimit
// messages per transaction: when it reaches the bound, apply commits what
// it applied so far and says there is more (call it again).
//
// When the runner knows where it left the position (its last commit), the
// transaction goes in one round trip (applyAt): it claims the position it
// expects and sends every write with it. Otherwise, or when the claim
// fails (another instance, or a rebuild, moved the position), it reads the
// position under the row's lock first (applyLocked).
func (r *Runner) apply(ctx context.Context, st jetstream.Stream, msgs []Msg) (last uint64, more bool, err error) {
	var res applied
	if r.atKnown {
		// Forgotten until this commits: a failure leaves it unknown.
		r.atKnown = false
		res, err = r.applyAt(ctx, st, msgs, r.at)
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == claimFailed {
			r.claimsLost.Add(1)
			res, err = r.applyLocked(ctx, st, msgs)
		}
	} else {
		res, err = r.applyLocked(ctx, st, msgs)
	}
	if err != nil {
		return 0, false, err
	}
	r.at, r.atKnown = res.last, true
	r.applied.Add(res.applied)
	if !res.more {
		// A batch committed in steps is skipped over once, in its last one.
		r.skipped.Add(res.skipped)
	}
	for {
		cur := r.lastSeq.Load()
		if res.last <= cur || r.lastSeq.CompareAndSwap(cur, res.last) {
			break
		}
	}
	return res.last, res.more, nil
}

// claimFailed is the SQLSTATE of projection_claim's refusal.
const claimFailed = "FMN01"

// applied is what one transaction did.
type applied struct {
	// last is the position after it; more says a fill stopped at its
	// bound.
	last             uint64
	more             bool
	applied, skipped uint64
}

// applyAt applies msgs in one round trip on the assumption that the
// position stands at at: BEGIN, the claim of at, the writes, the new
// position and COMMIT go together. A failed claim fails the whole
// transaction (SQLSTATE claimFailed), and nothing of it is applied.
func (r *Runner) applyAt(ctx context.Context, st jetstream.Stream, msgs []Msg, at uint64) (applied, error) {
	if len(msgs) == 0 || msgs[len(msgs)-1].Seq <= at {
		// Only redeliveries: the position never goes back.
		return applied{last: at, skipped: uint64(len(msgs))}, nil
	}
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return applied{}, err
	}
	defer conn.Release()
	w := NewWriter(conn)
	_, _ = w.Exec(ctx, "BEGIN")
	q := queries.New(w)
	_ = q.ProjectionClaim(ctx, r.cfg.Name, int64(at))
	res, err := r.applyFrom(ctx, st, w, msgs, at)
	if err == nil {
		_, _ = q.ProjectionSet(ctx, r.cfg.Name, int64(res.last))
		_, _ = w.Exec(ctx, "COMMIT")
		err = w.Send(ctx)
	}
	if err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			// Best effort: a connection left in a transaction is
			// closed by Release.
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return applied{}, err
	}
	return res, nil
}

// applyLocked applies msgs after locking the position's row and reading
// it: BEGIN and the lock, the writes with the new position, COMMIT.
func (r *Runner) applyLocked(ctx context.Context, st jetstream.Stream, msgs []Msg) (applied, error) {
	var res applied
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		stored, err := queries.New(tx).ProjectionLock(ctx, r.cfg.Name)
		if err != nil {
			return fmt.Errorf("lock projection state: %w", err)
		}
		w := NewWriter(tx)
		if res, err = r.applyFrom(ctx, st, w, msgs, uint64(stored)); err != nil {
			return err
		}
		if res.last != uint64(stored) {
			_, _ = queries.New(w).ProjectionSet(ctx, r.cfg.Name, int64(res.last))
			w.Then(func(ct pgconn.CommandTag) error {
				if ct.RowsAffected() == 0 {
					return errors.New("projection state moved concurrently")
				}
				return nil
			})
		}
		return w.Send(ctx)
	})
	if err != nil {
		return applied{}, err
	}
	return res, nil
}

// applyFrom applies msgs through w when the position stands at stored,
// skipping what it covers and filling gaps, and flushes the applier when
// it applied anything. It sends w's statements whenever it holds many; the
// caller sends the rest with the new position.
func (r *Runner) applyFrom(ctx context.Context, st jetstream.Stream, w *Writer, msgs []Msg, stored uint64) (applied, error) {
	res := applied{last: stored}
	a := r.cfg.Begin(w)
	apply := func(m Msg) error {
		if err := a.Apply(ctx, m); err != nil {
			return err
		}
		res.applied++
		if w.Full() {
			return w.Send(ctx)
		}
		return nil
	}
	budget := r.fillLimit()
	for _, m := range msgs {
		if m.Seq <= res.last {
			res.skipped++
			continue
		}
		if m.Seq > res.last+1 {
			var err error
			if res.last, err = r.fill(ctx, st, apply, res.last, m.Seq, &budget); err != nil {
				return res, err
			}
			if res.last+1 < m.Seq {
				res.more = true
				break
			}
		}
		if err := apply(m); err != nil {
			return res, err
		}
		res.last = m.Seq
	}
	if res.last == stored {
		return res, nil
	}
	return res, a.Flush(ctx)
}

// fill applies the feed's messages stored after sequence after and before
// sequence before, read from the stream: they were delivered elsewhere
// (another instance, or a run that stopped before applying them), and
// their redelivery, later, will be skipped. It applies at most *budget
// messages, and returns the sequence up to which the feed is applied
// (before-1 when it read them all). A message
// deleted from the stream is passed over.
func (r *Runner) fill(ctx context.Context, st jetstream.Stream, apply func(Msg) error, after, before uint64, budget *int) (uint64, error) {
	for seq := after + 1; seq < before; {
		if *budget <= 0 {
			return seq - 1, nil
		}
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(r.cfg.Filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s from %d: %w", r.cfg.Stream, seq, err)
		}
		if raw.Sequence >= before {
			break
		}
		if err := apply(Msg{Seq: raw.Sequence, Subject: raw.Subject, Header: raw.Header, Data: raw.Data, Time: raw.Time}); err != nil {
			return 0, err
		}
		*budget--
		seq = raw.Sequence + 1
	}
	return before - 1, nil
}
