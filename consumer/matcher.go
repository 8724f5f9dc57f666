// Package consumer is fmn's matcher: a durable pull consumer on BUS that
// finds the candidate rules of each message through an index, checks them
// exactly, and publishes one notification per destination on NOTIFY.
package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// RuleSource is the projected rule set, read incrementally.
type RuleSource interface {
	// Version is the projection's current version (cheap: client-side
	// cached). It must answer or fail within a bounded time: an error
	// makes the matcher fall back to Changes (see RunSync).
	Version(ctx context.Context) (uint64, error)
	// Changes returns the rules changed and deleted after version since, and
	// the version they bring the caller to.
	Changes(ctx context.Context, since uint64) (changed []rules.Rule, deleted []int64, version uint64, err error)
}

// ProjectionSource is a RuleSource whose Version is a cache of a
// projection (rulelog.Reader: Redis in front of PostgreSQL), which offers
// besides what RunSync needs to do without the cache.
type ProjectionSource interface {
	RuleSource
	// Projected is the projection's version read from the projection
	// itself, not from the cache.
	Projected(ctx context.Context) (uint64, error)
	// Ping tells, within a bounded time, whether the cache answers.
	Ping(ctx context.Context) error
}

// Matcher holds the rule index and turns parsed messages into
// notifications. Matching takes a read lock only to pick the candidates;
// applying rule changes takes the write lock only for the in-memory update,
// never for I/O, so a reload never blocks matching for long (FMN #869), and
// a slow ownership lookup never blocks a reload.
//
// An ownership rule whose owned artifacts cannot be looked up at Sync
// (dist-git or FASJSON down) does not fail the Sync: it is indexed as
// unresolved (see rules.Index), its exact check decides at match time (and
// fails, so the message is retried, while the lookup still fails), and
// RunSync retries its keys in the background.
type Matcher struct {
	src     RuleSource
	lookups rules.Lookups
	site    notification.Site
	log     *slog.Logger

	mu      sync.RWMutex
	idx     *rules.Index
	version atomic.Uint64
	loaded  atomic.Bool
	syncMu  sync.Mutex // one Sync at a time

	// resolveKick wakes the background retry of unresolved rules;
	// resolveNow makes it skip its backoff once (lookups worked again).
	resolveKick chan struct{}
	resolveNow  atomic.Bool
	// resolveAfter is the rule whose retry failed last.
	resolveAfter atomic.Int64

	// own keeps ownership rules' keys current (FollowOwnership); nil
	// without it.
	own *ownership

	// Rule propagation (see RunSync). noted is the highest projection
	// sequence the projector announced (Noted); syncKick wakes RunSync
	// for it. fallback is set while Redis does not answer (probeLoop,
	// which probeKick wakes).
	noted         atomic.Uint64
	syncKick      chan struct{}
	fallback      atomic.Bool
	fallbackPolls atomic.Int64
	probeKick     chan struct{}
}

// NewMatcher returns a matcher with an empty index; call Sync to load.
func NewMatcher(src RuleSource, lk rules.Lookups, site notification.Site, log *slog.Logger) *Matcher {
	if log == nil {
		log = slog.Default()
	}
	return &Matcher{src: src, lookups: lk, site: site, log: log, idx: rules.NewIndex(), resolveKick: make(chan struct{}, 1),
		syncKick: make(chan struct{}, 1), probeKick: make(chan struct{}, 1)}
}

// Version is the rule-set version the index reflects.
func (m *Matcher) Version() uint64 { return m.version.Load() }

// Loaded tells whether the first Sync has completed.
func (m *Matcher) Loaded() bool { return m.loaded.Load() }

// RuleCount is the number of indexed (enabled) rules.
func (m *Matcher) RuleCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.idx.Len()
}

// Unresolved is the number of indexed rules whose owned artifacts could
// not be looked up yet.
func (m *Matcher) Unresolved() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.idx.Unresolved())
}

// Noted tells the matcher that the projection has applied every rule event
// up to seq (the projector's progress notes on NATS, see
// rulelog.FollowProgress). When the index is behind, RunSync loads the
// changes at once, without asking Redis. It is quick: call it from a
// subscription's callback.
func (m *Matcher) Noted(seq uint64) {
	for {
		cur := m.noted.Load()
		if seq <= cur || m.noted.CompareAndSwap(cur, seq) {
			break
		}
	}
	if seq > m.version.Load() {
		kick(m.syncKick)
	}
}

// PropagationFallback tells whether the matcher found Redis unreachable
// and follows rule changes through the projector's notes and polls of
// PostgreSQL only, until Redis answers again (see RunSync).
func (m *Matcher) PropagationFallback() bool { return m.fallback.Load() }

// FallbackPolls counts the polls for rule changes made while Redis was
// unreachable.
func (m *Matcher) FallbackPolls() int64 { return m.fallbackPolls.Load() }

// behind tells whether the index, at version since, is behind the source:
//
//   - on the first load, and when a progress note is ahead of the index
//     (Noted), it is;
//   - otherwise a ProjectionSource is asked for the projection's own
//     version (PostgreSQL, one row): Redis is never on the path of a rule
//     change, only a wake-up, so that one that is down, hangs, or serves
//     a stale cached version over a connection that no longer answers
//     cannot delay a change past a poll;
//   - another source is asked for its Version, unless that failed
//     (fallback): then Changes answers.
func (m *Matcher) behind(ctx context.Context, since, noted uint64, poll bool) (bool, error) {
	fallback := m.fallback.Load()
	if poll && fallback {
		m.fallbackPolls.Add(1)
	}
	if !m.loaded.Load() || noted > since {
		return true, nil
	}
	if ps, ok := m.src.(ProjectionSource); ok {
		v, err := ps.Projected(ctx)
		if err != nil {
			return false, fmt.Errorf("read the projection's version: %w", err)
		}
		return v > since, nil
	}
	if fallback {
		return true, nil
	}
	v, err := m.src.Version(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		m.enterFallback(err)
		return true, nil
	}
	return v > since, nil
}

// ping tells whether the source's cache answers.
func (m *Matcher) ping(ctx context.Context) error {
	if ps, ok := m.src.(ProjectionSource); ok {
		return ps.Ping(ctx)
	}
	_, err := m.src.Version(ctx)
	return err
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// enterFallback notes that Redis does not answer, and says so once.
func (m *Matcher) enterFallback(err error) {
	if m.fallback.CompareAndSwap(false, true) {
		m.log.Warn("Redis unreachable: rule changes now reach matching through the projector's NATS notes and polls of PostgreSQL",
			"version", m.version.Load(), "err", err)
		// Check the source at once, without Redis.
		kick(m.syncKick)
	}
}

// leaveFallback notes that Redis answers again, and says so once.
func (m *Matcher) leaveFallback() {
	if m.fallback.CompareAndSwap(true, false) {
		m.log.Info("Redis reachable again: rule changes reach matching through its invalidations again",
			"version", m.version.Load(), "fallback_polls", m.fallbackPolls.Load())
	}
}

// Sync brings the index up to the source's current version. A failed
// ownership lookup does not fail it: that rule is indexed as unresolved.
func (m *Matcher) Sync(ctx context.Context) error { return m.sync(ctx, false) }

// sync is Sync; poll says that a poll of RunSync asks, not a wake-up.
func (m *Matcher) sync(ctx context.Context, poll bool) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	since := m.version.Load()
	noted := m.noted.Load()
	if load, err := m.behind(ctx, since, noted, poll); err != nil || !load {
		return err
	}
	// Load from the authoritative source.
	changed, deleted, version, err := m.src.Changes(ctx, since)
	if err != nil {
		return fmt.Errorf("load rule changes since %d: %w", since, err)
	}
	if version < noted {
		// A note from beyond this projection (not one of its commits,
		// which a snapshot taken after the note shows): do not keep
		// loading for it.
		m.noted.CompareAndSwap(noted, version)
	}
	type compiled struct {
		c          *rules.Compiled
		keys       []rules.Key
		unresolved error
	}
	// Compile and resolve keys outside the lock.
	prepared := make([]compiled, 0, len(changed))
	var drop []int64
	// lookupErr is the first failed lookup: the ownership rules after it
	// are not looked up in this Sync, so that an outage (timeouts) delays
	// it by one lookup at most.
	var lookupErr error
	// Equal strings of the rules loaded together share one copy in the
	// index (the initial load is one batch).
	in := rules.NewInterner()
	for i := range changed {
		r := changed[i]
		if r.Disabled {
			drop = append(drop, r.ID)
			continue
		}
		c, err := rules.CompileIndexed(r, in)
		if err != nil {
			m.log.Warn("rule does not compile; not matching it", "rule", r.ID, "user", r.User.Name, "err", err)
			drop = append(drop, r.ID)
			continue
		}
		if lookupErr != nil && c.Ownership() {
			prepared = append(prepared, compiled{c: c, unresolved: fmt.Errorf("not looked up after a failed lookup: %w", lookupErr)})
			continue
		}
		keys, err := c.Keys(ctx, m.lookups)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("index keys of rule %d: %w", r.ID, err)
			}
			lookupErr = err
			prepared = append(prepared, compiled{c: c, unresolved: err})
			continue
		}
		prepared = append(prepared, compiled{c: c, keys: keys})
	}
	type unresolvedNow struct {
		c   *rules.Compiled
		err error
	}
	var newlyUnresolved []unresolvedNow
	var resolved []*rules.Compiled
	m.mu.Lock()
	for _, id := range deleted {
		m.idx.Remove(id)
	}
	for _, id := range drop {
		m.idx.Remove(id)
	}
	for _, p := range prepared {
		old, _ := m.idx.Get(p.c.ID())
		wasUnresolved := old != nil && old.Unresolved
		keys := p.keys
		if p.unresolved != nil {
			// The keys it had are the best known; it is also a candidate
			// for every message with an artifact.
			if old != nil {
				keys = old.Keys
			}
			if !wasUnresolved {
				newlyUnresolved = append(newlyUnresolved, unresolvedNow{p.c, p.unresolved})
			}
		} else if wasUnresolved {
			resolved = append(resolved, p.c)
		}
		m.idx.Put(p.c, keys, p.unresolved != nil)
	}
	if !m.loaded.Load() {
		// The initial load; later syncs change a few rules.
		m.idx.Compact()
	}
	unresolved := len(m.idx.Unresolved())
	m.mu.Unlock()
	if version > since {
		m.version.Store(version)
	}
	for _, u := range newlyUnresolved {
		m.log.Warn("owned artifacts of a rule cannot be looked up; matching it against every message with an artifact until they can",
			"rule", u.c.ID(), "user", u.c.User(), "err", u.err)
	}
	for _, c := range resolved {
		m.logResolved(c)
	}
	if unresolved > 0 {
		m.kickResolve(false)
	}
	if !m.loaded.Load() || len(changed)+len(deleted) > 0 {
		m.log.Debug("rules synced", "version", version, "changed", len(changed), "deleted", len(deleted), "unresolved", unresolved)
	}
	m.loaded.Store(true)
	return nil
}

func (m *Matcher) logResolved(c *rules.Compiled) {
	m.log.Info("owned artifacts of a rule looked up; indexed normally again", "rule", c.ID(), "user", c.User())
}

// RunSync keeps the index current until ctx ends. Rule changes arrive by
// two independent paths, and a poll covers what both miss:
//
//   - Noted, fed by the projector's progress notes on NATS after each
//     commit, wakes it when the index is behind;
//   - wake fires when rueidis invalidates the version key (the projector
//     bumped it in Redis) or flushes its cache (a reconnection);
//   - every poll, the projection's version is read from PostgreSQL (one
//     row), which covers a note lost in a NATS reconnection and Redis
//     failing in any way.
//
// Whether to load is decided by the notes and PostgreSQL (see behind),
// never by a read of Redis, which would wait for a Redis that hangs: rule
// changes reach matching within a poll whatever Redis does. Redis only
// wakes RunSync sooner. A goroutine pings Redis every poll (bounded) and
// re-reads the version key, which keeps Redis tracking it for this
// process: while Redis does not answer, the matcher is in fallback
// (PropagationFallback, FallbackPolls, said once in the log); when it
// answers again, it says so once and its invalidations wake RunSync again.
//
// It also retries the keys of unresolved rules, in a goroutine of its own
// so that a slow lookup does not delay rule changes. Call it once.
func (m *Matcher) RunSync(ctx context.Context, wake <-chan struct{}, poll time.Duration) {
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	var bg sync.WaitGroup
	defer bg.Wait()
	bg.Go(func() { m.resolveLoop(ctx) })
	bg.Go(func() { m.probeLoop(ctx, poll) })
	m.kickResolve(false)
	t := time.NewTicker(poll)
	defer t.Stop()
	failing := false
	for {
		polled := false
		select {
		case <-ctx.Done():
			return
		case <-wake:
			// Re-arm the tracking of the version key; after a
			// reconnection (a flush), Redis may be back.
			kick(m.probeKick)
		case <-m.syncKick:
		case <-t.C:
			polled = true
		}
		err := m.sync(ctx, polled)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			m.log.Warn("rule sync failed; retrying every poll", "poll", poll, "err", err)
			failing = true
		case err == nil && failing:
			m.log.Info("rule sync works again", "version", m.version.Load())
			failing = false
		}
		m.kickResolve(false)
	}
}

// probeLoop pings Redis every poll (and when kicked), within the
// source's bound, and enters or leaves the fallback accordingly. When
// Redis answers, it reads the version through the client-side cache,
// which re-arms Redis' tracking of the key after an invalidation or a
// reconnection, and wakes RunSync if that version is ahead. It runs apart
// from the syncs, so that a Redis that hangs until the deadline never
// delays a rule change.
func (m *Matcher) probeLoop(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := m.ping(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.enterFallback(err)
		} else {
			m.leaveFallback()
			if v, err := m.src.Version(ctx); err == nil && v > m.version.Load() {
				kick(m.syncKick)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-m.probeKick:
		case <-t.C:
		}
	}
}

// kickResolve wakes the retry of unresolved rules; with now, it skips
// its backoff.
func (m *Matcher) kickResolve(now bool) {
	if now {
		m.resolveNow.Store(true)
	}
	kick(m.resolveKick)
}

// resolveLoop retries the keys of unresolved rules when kicked, with
// backoff while the lookups fail, until ctx ends.
func (m *Matcher) resolveLoop(ctx context.Context) {
	const minBackoff, maxBackoff = 500 * time.Millisecond, 30 * time.Second
	backoff := minBackoff
	var next time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.resolveKick:
		}
		if m.resolveNow.Swap(false) {
			next = time.Time{}
		}
		if m.Unresolved() == 0 {
			backoff, next = minBackoff, time.Time{}
			continue
		}
		if time.Now().Before(next) {
			continue
		}
		if err := m.resolve(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Debug("unresolved rules still cannot be looked up", "retry_in", backoff, "err", err)
			next = time.Now().Add(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff, next = minBackoff, time.Time{}
	}
}

// resolve looks up the keys of the unresolved rules and indexes them
// normally, stopping at the first failure: an outage then costs one
// lookup per round. The lookups run without locks; a rule whose entry
// changed meanwhile (Sync, an ownership refresh) is left to that change.
func (m *Matcher) resolve(ctx context.Context) error {
	type target struct {
		c   *rules.Compiled
		seq uint64
	}
	m.mu.RLock()
	todo := make([]target, 0, len(m.idx.Unresolved()))
	for _, c := range m.idx.Unresolved() {
		e, _ := m.idx.Get(c.ID())
		todo = append(todo, target{c, e.Seq})
	}
	m.mu.RUnlock()
	// Start after the rule that failed last, so that a rule whose lookup
	// alone fails does not keep the others waiting.
	after := m.resolveAfter.Load()
	i := slices.IndexFunc(todo, func(t target) bool { return t.c.ID() > after })
	if i > 0 {
		todo = slices.Concat(todo[i:], todo[:i])
	}
	for _, t := range todo {
		keys, err := t.c.Keys(ctx, m.lookups)
		if err != nil {
			m.resolveAfter.Store(t.c.ID())
			return err
		}
		m.mu.Lock()
		ix, ok := m.idx.Get(t.c.ID())
		ok = ok && ix.Rule == t.c && ix.Unresolved && ix.Seq == t.seq
		if ok {
			m.idx.Put(t.c, keys, false)
		}
		m.mu.Unlock()
		if ok {
			m.logResolved(t.c)
		}
	}
	return nil
}

// Match returns the notifications for one message: at most one per
// destination, naming every rule that produced it. An error (a lookup
// failed) means the message must be retried, not dropped.
func (m *Matcher) Match(ctx context.Context, p *bus.Parsed, now time.Time) ([]*notification.Notification, error) {
	pr, matches, err := m.Matches(ctx, nil, p, now)
	if err != nil || len(matches) == 0 {
		return nil, err
	}
	out := make([]*notification.Notification, 0, len(matches))
	for _, g := range matches {
		out = append(out, pr.Render(g.User, g.Destination, g.RuleIDs))
	}
	return out, nil
}

// Matches is Match before rendering: the destinations p goes to, appended
// to dst, and p prepared for rendering at now (nil when it goes nowhere).
// The consumer encodes each notification straight from them
// (notification.Prepared.AppendJSON).
func (m *Matcher) Matches(ctx context.Context, dst []rules.Match, p *bus.Parsed, now time.Time) (*notification.Prepared, []rules.Match, error) {
	// The candidates are a fresh slice of immutable compiled rules, so the
	// exact checks (which may look up ownership over HTTP on a cache miss)
	// run without the lock and never hold up a rule reload.
	var candBuf [8]*rules.Compiled
	m.mu.RLock()
	cands := m.idx.Candidates(candBuf[:0], p)
	m.mu.RUnlock()
	if len(cands) == 0 {
		return nil, nil, nil
	}
	matches, err := rules.MatchCandidates(ctx, dst, cands, p, m.lookups)
	if err != nil || len(matches) == 0 {
		return nil, nil, err
	}
	return notification.Prepare(p, m.site, now), matches, nil
}
