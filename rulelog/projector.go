package rulelog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/rueidis"
)

// ProjectorConfig configures a Projector. Zero fields take the defaults.
type ProjectorConfig struct {
	// Stream is the RULES stream's name (default streams.Defaults().Rules).
	Stream string
	// Durable is the durable pull consumer's name (default "projector").
	// Several instances may share it.
	Durable string
	// Redis, when set, gets the version key bumped after each commit, in
	// the background: a Redis that is down or hangs never holds up the
	// projection (consumers then follow it through the progress notes and
	// PostgreSQL).
	Redis rueidis.Client
	// RedisTimeout bounds each bump of the version key (default 1s).
	RedisTimeout time.Duration
	// RedisPrefix prefixes the version key (see VersionKey).
	RedisPrefix string
	// ProgressSubject is where progress is announced (default
	// wire.RulesProgressSubject).
	ProgressSubject string
	// BatchSize is the most events applied in one transaction (default
	// 500). A single pending event is applied at once.
	BatchSize int
	// AckWait of the durable consumer when the projector creates it
	// (default 30s).
	AckWait time.Duration
	// RetryDelay is how long a batch whose transaction failed waits for
	// its redelivery, and how often a failed Redis bump is retried
	// (default 1s).
	RetryDelay time.Duration
	// AnalyzeEvery is how many applied events make the projector refresh
	// the planner statistics of its tables (default 10,000; see analyze).
	AnalyzeEvery int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c ProjectorConfig) withDefaults() ProjectorConfig {
	if c.Stream == "" {
		c.Stream = streams.Defaults().Rules
	}
	if c.Durable == "" {
		c.Durable = "projector"
	}
	if c.ProgressSubject == "" {
		c.ProgressSubject = wire.RulesProgressSubject
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = time.Second
	}
	if c.RedisTimeout <= 0 {
		c.RedisTimeout = time.Second
	}
	if c.AnalyzeEvery <= 0 {
		c.AnalyzeEvery = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ProjectorStats counts what a projector did since it was made.
type ProjectorStats struct {
	// Applied events, including those fetched to fill a gap.
	Applied uint64
	// Skipped deliveries of events the tables already had.
	Skipped uint64
	// LastSeq is the last sequence this projector committed.
	LastSeq uint64
}

// Projector applies the RULES stream to the tables. Each batch of events is
// one transaction that also moves projection_state('rules'), under that
// row's lock, so an event is applied exactly once however often it is
// delivered and however many projectors run. Events are applied strictly in
// stream order: when a delivery skips sequences (a restart while another
// instance still held them), the missing events are read from the stream
// directly.
type Projector struct {
	js     jetstream.JetStream
	pool   *pgxpool.Pool
	cfg    ProjectorConfig
	log    *slog.Logger
	stream jetstream.Stream

	applied, skipped, lastSeq atomic.Uint64
	// redisWant is the sequence the version key should hold; redisKick
	// wakes bumpLoop, which sets it.
	redisWant atomic.Uint64
	redisKick chan struct{}
	// analyzedAt is the applied count at the last ANALYZE (see analyze).
	analyzedAt atomic.Uint64

	initMu sync.Mutex // guards stream
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewProjector returns a projector; Start runs it.
func NewProjector(js jetstream.JetStream, pool *pgxpool.Pool, cfg ProjectorConfig) *Projector {
	cfg = cfg.withDefaults()
	return &Projector{js: js, pool: pool, cfg: cfg, log: cfg.Logger.With(slog.String("projector", cfg.Durable)),
		redisKick: make(chan struct{}, 1)}
}

// Stats returns the projector's counters.
func (p *Projector) Stats() ProjectorStats {
	return ProjectorStats{Applied: p.applied.Load(), Skipped: p.skipped.Load(), LastSeq: p.lastSeq.Load()}
}

// Start makes sure of the durable consumer and starts applying events in
// the background until Stop or until ctx ends. A new durable consumer
// starts after the projection's last sequence. Setting up is retried while
// NATS answers with transient errors (a cluster electing its leaders);
// once running, missing heartbeats and disconnections are logged and
// survived, and a durable consumer that disappears (deleted, or lost with
// its node) is set up again from the projection's last sequence.
func (p *Projector) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return errors.New("projector already started")
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	msgs := make(chan jetstream.Msg, 2*p.cfg.BatchSize)
	cc, err := p.subscribe(ctx, rctx, msgs)
	if err != nil {
		stop()
		cancel()
		return err
	}
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		defer stop()
		var wg sync.WaitGroup
		if p.cfg.Redis != nil {
			wg.Go(func() { p.bumpLoop(rctx) })
		}
		wg.Go(func() { p.run(rctx, msgs) })
		p.supervise(rctx, cc, msgs)
		wg.Wait()
	}()
	return nil
}

// subscribe sets up the durable consumer and consumes it into msgs until
// rctx ends, retrying transient failures until ctx ends.
func (p *Projector) subscribe(ctx, rctx context.Context, msgs chan<- jetstream.Msg) (jetstream.ConsumeContext, error) {
	var cc jetstream.ConsumeContext
	err := streams.Retry(ctx, p.log, "rules consumer "+p.cfg.Stream+"/"+p.cfg.Durable, func(ctx context.Context) error {
		if err := p.init(ctx); err != nil {
			return err
		}
		last, err := projected(ctx, queries.New(p.pool))
		if err != nil {
			return err
		}
		cons, err := p.consumer(ctx, last)
		if err != nil {
			return err
		}
		cc, err = cons.Consume(func(m jetstream.Msg) {
			select {
			case msgs <- m:
			case <-rctx.Done():
			}
		},
			jetstream.PullMaxMessages(p.cfg.BatchSize),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				p.log.Warn("rules consumer", slog.Any("error", err))
			}))
		if err != nil {
			return fmt.Errorf("consume %s/%s: %w", p.cfg.Stream, p.cfg.Durable, err)
		}
		return nil
	})
	return cc, err
}

// supervise stops consuming when ctx ends, and consumes again when the
// consumption stops by itself (its durable consumer was deleted).
func (p *Projector) supervise(ctx context.Context, cc jetstream.ConsumeContext, msgs chan<- jetstream.Msg) {
	for {
		select {
		case <-ctx.Done():
			cc.Stop()
			return
		case <-cc.Closed():
		}
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("rules consumer stopped by the server; setting it up again")
		for {
			next, err := p.subscribe(ctx, ctx, msgs)
			if err == nil {
				cc = next
				break
			}
			if ctx.Err() != nil {
				return
			}
			p.log.Error("setting up the rules consumer failed; trying again", slog.Any("error", err))
			if !streams.Sleep(ctx, streams.DefaultBackoff.Max) {
				return
			}
		}
	}
}

// Stop stops the projector and waits for its current batch. Events it
// received but did not apply are redelivered later; their successors are
// not held up, they fetch them (see Projector).
func (p *Projector) Stop() {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	p.mu.Lock()
	p.cancel, p.done = nil, nil
	p.mu.Unlock()
}

// init looks up the stream and makes sure projection_state has the row
// every transaction locks.
func (p *Projector) init(ctx context.Context) error {
	p.initMu.Lock()
	defer p.initMu.Unlock()
	if p.stream == nil {
		s, err := p.js.Stream(ctx, p.cfg.Stream)
		if err != nil {
			return fmt.Errorf("rules stream %s: %w", p.cfg.Stream, err)
		}
		p.stream = s
	}
	return dbErr("init projection state", queries.New(p.pool).ProjectionInit(ctx, projectionName))
}

func (p *Projector) consumer(ctx context.Context, last uint64) (jetstream.Consumer, error) {
	cons, err := p.js.Consumer(ctx, p.cfg.Stream, p.cfg.Durable)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("consumer %s/%s: %w", p.cfg.Stream, p.cfg.Durable, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       p.cfg.Durable,
		Description:   "applies rule events to PostgreSQL",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: wire.RulesAll,
	}
	if last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
	}
	cons, err = p.js.CreateConsumer(ctx, p.cfg.Stream, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Another instance made it first.
		cons, err = p.js.Consumer(ctx, p.cfg.Stream, p.cfg.Durable)
	}
	if err != nil {
		return nil, fmt.Errorf("create consumer %s/%s: %w", p.cfg.Stream, p.cfg.Durable, err)
	}
	return cons, nil
}

// run applies what arrives: the first event at once, with whatever else is
// already waiting, up to BatchSize.
func (p *Projector) run(ctx context.Context, msgs <-chan jetstream.Msg) {
	batch := make([]jetstream.Msg, 0, p.cfg.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			batch = append(batch, m)
		}
	fill:
		for len(batch) < p.cfg.BatchSize {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		p.handle(ctx, batch)
		clear(batch)
		batch = batch[:0]
	}
}

func (p *Projector) handle(ctx context.Context, batch []jetstream.Msg) {
	seqOf := func(m jetstream.Msg) uint64 {
		md, err := m.Metadata()
		if err != nil {
			return 0
		}
		return md.Sequence.Stream
	}
	slices.SortFunc(batch, func(a, b jetstream.Msg) int {
		return cmp.Compare(seqOf(a), seqOf(b))
	})
	evs := make([]streamEvent, 0, len(batch))
	for _, m := range batch {
		if seq := seqOf(m); seq > 0 {
			evs = append(evs, streamEvent{seq: seq, subject: m.Subject(), header: m.Headers(), data: m.Data()})
		}
	}
	// Stop lets the batch in hand finish rather than leave a commit whose
	// outcome is unknown; AckWait bounds it, as redelivery would follow.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.AckWait)
	defer cancel()
	last, err := p.applyBatch(bctx, evs)
	if err != nil {
		if len(evs) > 0 {
			p.log.Error("apply rule events; they will be redelivered", slog.Any("error", err),
				slog.Uint64("first_seq", evs[0].seq), slog.Int("events", len(evs)))
		}
		for _, m := range batch {
			_ = m.NakWithDelay(p.cfg.RetryDelay)
		}
		return
	}
	for _, m := range batch {
		_ = m.Ack()
	}
	p.announce(ctx, last)
	p.analyze(ctx)
}

// analyze runs ANALYZE on the projection's tables once AnalyzeEvery
// events were applied since the last time. After a bulk of events (a new
// deployment, an import) the statistics would otherwise stay stale until
// autovacuum comes by, and the consumers' reload query would scan every
// rule instead of using the version index: 35 ms instead of 1 ms at 100k
// rules. It takes about 0.1 s at that size.
func (p *Projector) analyze(ctx context.Context) {
	n := p.applied.Load()
	if n-p.analyzedAt.Load() < uint64(p.cfg.AnalyzeEvery) {
		return
	}
	p.analyzedAt.Store(n)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := p.pool.Exec(actx, "ANALYZE rules, rule_tombstones, users"); err != nil {
		p.log.Warn("analyze the rule projection", slog.Any("error", err))
	}
}

// announce tells the command side and the consumers that the projection
// reached last: at once on NATS, and through Redis in the background.
func (p *Projector) announce(_ context.Context, last uint64) {
	for {
		cur := p.lastSeq.Load()
		if last <= cur || p.lastSeq.CompareAndSwap(cur, last) {
			break
		}
	}
	if nc := p.js.Conn(); nc != nil {
		if err := nc.Publish(p.cfg.ProgressSubject, strconv.AppendUint(nil, last, 10)); err != nil {
			p.log.Warn("announce projection progress", slog.Any("error", err))
		}
	}
	if p.cfg.Redis != nil {
		for {
			cur := p.redisWant.Load()
			if last <= cur || p.redisWant.CompareAndSwap(cur, last) {
				break
			}
		}
		select {
		case p.redisKick <- struct{}{}:
		default:
		}
	}
}

// bumpVersion sets the version key to ARGV[1] unless it holds a greater
// number already, so that a slow projector never moves it back. With a
// ceiling ARGV[2] > 0 (the stream's last sequence), a value above it cannot
// be a version of this stream and is replaced too.
var bumpVersion = rueidis.NewLuaScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local new = tonumber(ARGV[1])
local ceiling = tonumber(ARGV[2]) or 0
if new > cur or (ceiling > 0 and cur > ceiling) then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0`)

// bumpLoop sets the version key to the last announced sequence until ctx
// ends. Bumps coalesce: after a slow or failed one, the next sets the
// latest sequence. While Redis fails, it retries every RetryDelay and
// says so once, and once again when a bump works.
func (p *Projector) bumpLoop(ctx context.Context) {
	retry := time.NewTimer(0)
	if !retry.Stop() {
		<-retry.C
	}
	defer retry.Stop()
	var bumped uint64
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.redisKick:
			if failing {
				// The retry timer runs: do not hammer a Redis that is down.
				continue
			}
		case <-retry.C:
		}
		want := p.redisWant.Load()
		if want <= bumped {
			continue
		}
		if err := p.setVersion(ctx, want, 0); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				p.log.Warn("cannot bump the rules version in Redis; retrying (consumers follow the projection through NATS and PostgreSQL meanwhile)",
					slog.Uint64("seq", want), slog.Any("error", err))
				failing = true
			}
			retry.Reset(p.cfg.RetryDelay)
			continue
		}
		bumped = want
		if failing {
			p.log.Info("rules version bumped in Redis again", slog.Uint64("seq", want))
			failing = false
		}
	}
}

// setVersion runs bumpVersion, within RedisTimeout.
func (p *Projector) setVersion(ctx context.Context, last, ceiling uint64) error {
	if p.cfg.Redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RedisTimeout)
	defer cancel()
	return bumpVersion.Exec(ctx, p.cfg.Redis, []string{VersionKey(p.cfg.RedisPrefix)},
		[]string{strconv.FormatUint(last, 10), strconv.FormatUint(ceiling, 10)}).Error()
}

// streamEvent is a stored event as the projector sees it.
type streamEvent struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// applyBatch applies the events (sorted by sequence) in one transaction
// and returns the projection's sequence after it.
func (p *Projector) applyBatch(ctx context.Context, evs []streamEvent) (uint64, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := queries.New(tx)
	start, err := q.ProjectionGetForUpdate(ctx, projectionName)
	if err != nil {
		return 0, dbErr("lock projection state", err)
	}
	a := applier{q: q, log: p.log, users: map[string]bool{}}
	last := uint64(start)
	var applied, skipped uint64
	for _, ev := range evs {
		if ev.seq <= last {
			skipped++
			continue
		}
		for last+1 < ev.seq {
			ok, err := p.fillGap(ctx, &a, last+1)
			if err != nil {
				return 0, err
			}
			if ok {
				applied++
			}
			last++
		}
		if err := a.apply(ctx, ev); err != nil {
			return 0, err
		}
		applied++
		last = ev.seq
	}
	if last > uint64(start) {
		if _, err := q.ProjectionSet(ctx, projectionName, int64(last)); err != nil {
			return 0, dbErr("advance projection state", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	p.applied.Add(applied)
	p.skipped.Add(skipped)
	return last, nil
}

// fillGap applies event seq read straight from the stream; a deleted
// message is passed over (false).
func (p *Projector) fillGap(ctx context.Context, a *applier, seq uint64) (bool, error) {
	raw, err := p.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read rule event %d: %w", seq, err)
	}
	err = a.apply(ctx, streamEvent{seq: seq, subject: raw.Subject, header: raw.Header, data: raw.Data})
	return err == nil, err
}
