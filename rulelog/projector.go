package rulelog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/projection"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/jackc/pgx/v5/pgxpool"
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
	// (default 30s); it also bounds one transaction.
	AckWait time.Duration
	// RetryDelay is how long a batch whose transaction failed waits before
	// it is tried again, and how often a failed Redis bump is retried
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
type ProjectorStats = projection.Stats

// Projector applies the RULES stream to the tables with a
// projection.Runner: each batch of events is one transaction that also
// moves projection_state('rules'), under that row's lock, so an event is
// applied exactly once however often it is delivered and however many
// projectors run, strictly in stream order. After each commit it announces
// the projection's progress (see FollowProgress) and bumps the version key
// in Redis.
type Projector struct {
	js     jetstream.JetStream
	pool   *pgxpool.Pool
	cfg    ProjectorConfig
	log    *slog.Logger
	runner *projection.Runner

	// redisWant is the sequence the version key should hold; redisKick
	// wakes bumpLoop, which sets it.
	redisWant atomic.Uint64
	redisKick chan struct{}
	// analyzedAt is the applied count at the last ANALYZE (see analyze);
	// analyzing says one runs, and analyses is waited for by Stop.
	analyzedAt atomic.Uint64
	analyzing  atomic.Bool
	analyses   sync.WaitGroup

	mu        sync.Mutex
	stopRedis context.CancelFunc
	redisDone chan struct{}
}

// NewProjector returns a projector; Start runs it.
func NewProjector(js jetstream.JetStream, pool *pgxpool.Pool, cfg ProjectorConfig) *Projector {
	cfg = cfg.withDefaults()
	p := &Projector{js: js, pool: pool, cfg: cfg, log: cfg.Logger.With(slog.String("projector", cfg.Durable)),
		redisKick: make(chan struct{}, 1)}
	p.runner = projection.New(js, pool, projection.Config{
		Feed:        p.feed(),
		Durable:     cfg.Durable,
		Description: "applies rule events to PostgreSQL",
		Begin: func(w *projection.Writer) projection.Applier {
			return &applier{q: queries.New(w), w: w, log: p.log, users: map[string]bool{}}
		},
		Committed: func(ctx context.Context, last uint64) {
			p.announce(ctx, last)
			p.analyze(ctx)
		},
		BatchSize: cfg.BatchSize,
		// The next batch is gathered by the server while this one's
		// transaction waits on PostgreSQL.
		Prefetch: true,
		AckWait:  cfg.AckWait,
		// A failed batch is tried again every RetryDelay, as long as it
		// takes.
		RetryDelay:    cfg.RetryDelay,
		MaxRetryDelay: cfg.RetryDelay,
		What:          "rule projection",
		Logger:        p.log,
	})
	return p
}

func (p *Projector) feed() projection.Feed {
	return projection.Feed{Name: projectionName, Stream: p.cfg.Stream, Filter: wire.RulesAll}
}

// Stats returns the projector's counters.
func (p *Projector) Stats() ProjectorStats { return p.runner.Stats() }

// Start makes sure of the durable consumer and starts applying events in
// the background until Stop or until ctx ends. A new durable consumer
// starts after the projection's last sequence. Setting up is retried while
// NATS answers with transient errors (a cluster electing its leaders) or
// PostgreSQL cannot tell the projection's position; once running, fetch
// errors are logged and survived, and a durable consumer that disappears
// (deleted, or lost with its node) is set up again from the projection's
// last sequence.
func (p *Projector) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.runner.Start(ctx); err != nil {
		return err
	}
	if p.cfg.Redis != nil && p.stopRedis == nil {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, cancel)
		done := make(chan struct{})
		p.stopRedis, p.redisDone = func() { stop(); cancel() }, done
		go func() {
			defer close(done)
			p.bumpLoop(rctx)
		}()
	}
	return nil
}

// Stop stops the projector and waits for its current batch. Events it
// received but did not apply are redelivered later; their successors are
// not held up, they fetch them (see projection.Runner).
func (p *Projector) Stop() {
	if err := p.runner.Stop(); err != nil {
		p.log.Error("rule projection stopped", slog.Any("error", err))
	}
	p.mu.Lock()
	stop, done := p.stopRedis, p.redisDone
	p.stopRedis, p.redisDone = nil, nil
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	p.analyses.Wait()
}

// analyze runs ANALYZE on the projection's tables once AnalyzeEvery
// events were applied since the last time. After a bulk of events (a new
// deployment, an import) the statistics would otherwise stay stale until
// autovacuum comes by, and the consumers' reload query would scan every
// rule instead of using the version index: 35 ms instead of 1 ms at 100k
// rules. It runs on a connection of its own in the background: the next
// batches do not wait for it (Stop does).
func (p *Projector) analyze(ctx context.Context) {
	n := p.runner.Stats().Applied
	if n-p.analyzedAt.Load() < uint64(p.cfg.AnalyzeEvery) || !p.analyzing.CompareAndSwap(false, true) {
		return
	}
	p.analyzedAt.Store(n)
	p.analyses.Go(func() {
		defer p.analyzing.Store(false)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := p.pool.Exec(actx, analyzeTables); err != nil {
			p.log.Warn("analyze the rule projection", slog.Any("error", err))
		}
	})
}

// analyzeTables refreshes the planner statistics that the projection's
// queries use: of rules, only the columns they filter, join or sort on.
// The JSON columns took more than half of each ANALYZE (230-320 ms of
// PostgreSQL's CPU at 100k rules, against 130 ms without them); the ten
// of a 100k-event catch-up were two fifths of PostgreSQL's CPU for it.
const analyzeTables = "ANALYZE rules (id, username, version, disabled), rule_tombstones, users"

// announce tells the command side and the consumers that the projection
// reached last: at once on NATS, and through Redis in the background.
func (p *Projector) announce(_ context.Context, last uint64) {
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
