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
	// Version is the projection's current version (cheap: client-side cached).
	Version(ctx context.Context) (uint64, error)
	// Changes returns the rules changed and deleted after version since, and
	// the version they bring the caller to.
	Changes(ctx context.Context, since uint64) (changed []rules.Rule, deleted []int64, version uint64, err error)
}

// Matcher holds the rule index and turns parsed messages into
// notifications. Matching takes a read lock only to pick the candidates;
// applying rule changes takes the write lock only for the in-memory update,
// never for I/O, so a reload never blocks matching for long (FMN #869), and
// a slow ownership lookup never blocks a reload.
type Matcher struct {
	src     RuleSource
	lookups rules.Lookups
	site    notification.Site
	log     *slog.Logger

	mu      sync.RWMutex
	idx     *index
	version atomic.Uint64
	loaded  atomic.Bool
	syncMu  sync.Mutex // one Sync at a time

	// own keeps ownership rules' keys current (FollowOwnership); nil
	// without it.
	own *ownership
}

// NewMatcher returns a matcher with an empty index; call Sync to load.
func NewMatcher(src RuleSource, lk rules.Lookups, site notification.Site, log *slog.Logger) *Matcher {
	if log == nil {
		log = slog.Default()
	}
	return &Matcher{src: src, lookups: lk, site: site, log: log, idx: newIndex()}
}

// Version is the rule-set version the index reflects.
func (m *Matcher) Version() uint64 { return m.version.Load() }

// Loaded tells whether the first Sync has completed.
func (m *Matcher) Loaded() bool { return m.loaded.Load() }

// RuleCount is the number of indexed (enabled) rules.
func (m *Matcher) RuleCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.idx.rules)
}

// Sync brings the index up to the source's current version.
func (m *Matcher) Sync(ctx context.Context) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	since := m.version.Load()
	// Reading the cached version also (re)arms its invalidation tracking.
	v, err := m.src.Version(ctx)
	if m.loaded.Load() && err == nil && v <= since {
		return nil
	}
	// On a cache error fall through to the authoritative source.
	changed, deleted, version, err := m.src.Changes(ctx, since)
	if err != nil {
		return fmt.Errorf("load rule changes since %d: %w", since, err)
	}
	type compiled struct {
		c    *rules.Compiled
		keys []rules.Key
	}
	// Compile and resolve keys outside the lock.
	prepared := make([]compiled, 0, len(changed))
	var drop []int64
	for i := range changed {
		r := changed[i]
		if r.Disabled {
			drop = append(drop, r.ID)
			continue
		}
		c, err := rules.Compile(r)
		if err != nil {
			m.log.Warn("rule does not compile; not matching it", "rule", r.ID, "user", r.User.Name, "err", err)
			drop = append(drop, r.ID)
			continue
		}
		keys, err := c.Keys(ctx, m.lookups)
		if err != nil {
			// The version is not advanced, so the next Sync retries.
			return fmt.Errorf("index keys of rule %d: %w", r.ID, err)
		}
		prepared = append(prepared, compiled{c, keys})
	}
	m.mu.Lock()
	for _, id := range deleted {
		m.idx.remove(id)
	}
	for _, id := range drop {
		m.idx.remove(id)
	}
	for _, p := range prepared {
		m.idx.put(p.c, p.keys)
	}
	m.mu.Unlock()
	if version > since {
		m.version.Store(version)
	}
	if !m.loaded.Load() || len(changed)+len(deleted) > 0 {
		m.log.Debug("rules synced", "version", version, "changed", len(changed), "deleted", len(deleted))
	}
	m.loaded.Store(true)
	return nil
}

// RunSync keeps the index current until ctx ends: at once when wake
// fires (a rueidis invalidation of the version key), and every poll as a
// fallback should Redis be unreachable.
func (m *Matcher) RunSync(ctx context.Context, wake <-chan struct{}, poll time.Duration) {
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("rule sync failed; retrying", "err", err)
		}
	}
}

type group struct {
	dest    rules.Destination
	user    string
	ruleIDs []int64
}

// Match returns the notifications for one message: at most one per
// destination, naming every rule that produced it. An error (a lookup
// failed) means the message must be retried, not dropped.
func (m *Matcher) Match(ctx context.Context, p *bus.Parsed, now time.Time) ([]*notification.Notification, error) {
	var keyBuf [16]rules.Key
	keys := rules.AppendMessageKeys(keyBuf[:0], p)
	var groups []group
	var dests []rules.Destination
	// The candidates are a fresh slice of immutable compiled rules, so the
	// exact checks (which may look up ownership over HTTP on a cache miss)
	// run without the lock and never hold up a rule reload.
	m.mu.RLock()
	cands := m.idx.candidates(keys)
	m.mu.RUnlock()
	for _, c := range cands {
		var err error
		dests, err = c.AppendMatch(ctx, dests[:0], p, m.lookups)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", c.Rule.ID, err)
		}
		for _, d := range dests {
			i := slices.IndexFunc(groups, func(g group) bool { return g.dest == d })
			if i < 0 {
				groups = append(groups, group{dest: d, user: c.Rule.User.Name})
				i = len(groups) - 1
			}
			groups[i].ruleIDs = append(groups[i].ruleIDs, c.Rule.ID)
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	out := make([]*notification.Notification, 0, len(groups))
	for _, g := range groups {
		out = append(out, notification.Render(p, g.user, g.dest, g.ruleIDs, m.site, now))
	}
	return out, nil
}
