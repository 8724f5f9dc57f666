package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/rules"
)

// OwnershipSource is what the matcher needs to keep the index of
// artifacts-owned and artifacts-group-owned rules true to dist-git;
// *directory.Directory provides it.
type OwnershipSource interface {
	// Invalidate drops the cache entries a bus message makes stale and
	// says whose owned artifacts changed.
	Invalidate(ctx context.Context, topic string, body json.RawMessage) (directory.Change, error)
	// WatchOwners reports owners whose cached artifacts were dropped by
	// any process, or expired.
	WatchOwners(fn func(users, groups []string, all bool)) (stop func())
	// Warm fills the cache for these owners, in parallel.
	Warm(ctx context.Context, users, groups []string, parallel int)
}

// errHeld makes a message about an artifact whose owners could not be
// re-indexed wait (be retried) rather than be matched against an index
// that may miss its new owners.
var errHeld = errors.New("the owners of an artifact of this message are being re-indexed")

// ownership keeps the index keys of ownership rules current. The keys of
// such a rule are the artifacts its users or groups own, computed at Sync;
// they change without any rule change when access changes in dist-git.
//
//   - In the instance that handles an access change message, Observe drops
//     the cache entries and re-indexes the rules of the named users or
//     groups before the next message is matched.
//   - Every other instance learns of it from Redis' invalidation notices
//     (WatchOwners) and re-indexes in the background, within
//     milliseconds; so does an instance whose entry expired (the TTL).
//   - When re-indexing fails (dist-git down), the access change message is
//     retried, messages about its project are held (retried) until a
//     background retry succeeds, and other messages flow.
type ownership struct {
	m   *Matcher
	src OwnershipSource

	mu          sync.Mutex
	dirtyUsers  map[string]struct{}
	dirtyGroups map[string]struct{}
	dirtyAll    bool
	held        map[rules.Key]*heldOwners
	heldN       atomic.Int32
	wake        chan struct{}

	// owners maps each user and group to its ownership rules, for the
	// index version it was built at.
	owners struct {
		sync.Mutex
		version uint64
		built   bool
		users   map[string][]int64
		groups  map[string][]int64
	}
}

type heldOwners struct {
	users, groups map[string]struct{}
}

// FollowOwnership makes m keep the index keys of artifacts-owned and
// artifacts-group-owned rules current as access changes (see ownership).
// src is normally the same directory as m's Lookups. It returns at once;
// the background work stops when ctx ends. Call it once, before Run.
func (m *Matcher) FollowOwnership(ctx context.Context, src OwnershipSource) {
	o := &ownership{
		m: m, src: src,
		dirtyUsers: map[string]struct{}{}, dirtyGroups: map[string]struct{}{},
		held: map[rules.Key]*heldOwners{}, wake: make(chan struct{}, 1),
	}
	m.own = o
	stop := src.WatchOwners(o.markDirty)
	go func() {
		defer stop()
		o.run(ctx)
	}()
}

// Observe lets the matcher see a bus message before Match: an access
// change re-indexes the rules it affects, and a message about an artifact
// whose owners could not be re-indexed gets an error (retry it later).
// Without FollowOwnership it does nothing.
func (m *Matcher) Observe(ctx context.Context, p *bus.Parsed) error {
	o := m.own
	if o == nil {
		return nil
	}
	if directory.Relevant(p.Topic) {
		ch, err := o.src.Invalidate(ctx, p.Topic, p.Body)
		if err != nil {
			return fmt.Errorf("drop cached answers changed by %s: %w", p.Topic, err)
		}
		if ch.Owners() {
			if err := o.refresh(ctx, ch.Users, ch.Groups, false); err != nil {
				o.hold(ch)
				return fmt.Errorf("re-index the owners of %s/%s: %w", ch.Project.Type, ch.Project.Name, err)
			}
			o.release(ch)
		}
	}
	if o.heldN.Load() > 0 && o.holds(p) {
		return errHeld
	}
	return nil
}

// WarmOwnership fills the service cache with what every ownership rule's
// users and groups own, parallel requests at a time, so that the first
// Sync of a cold start does not wait for one round trip after the other.
func (m *Matcher) WarmOwnership(ctx context.Context, parallel int) error {
	if m.own == nil {
		return nil
	}
	changed, _, _, err := m.src.Changes(ctx, 0)
	if err != nil {
		return err
	}
	users, groups := map[string]struct{}{}, map[string]struct{}{}
	for _, r := range changed {
		if r.Disabled {
			continue
		}
		into := users
		switch r.TrackingRule.Name {
		case rules.TrackArtifactsOwned:
		case rules.TrackArtifactsGroupOwned:
			into = groups
		default:
			continue
		}
		var names []string
		if json.Unmarshal(r.TrackingRule.Params, &names) == nil {
			for _, n := range names {
				into[n] = struct{}{}
			}
		}
	}
	m.own.src.Warm(ctx, slices.Collect(maps.Keys(users)), slices.Collect(maps.Keys(groups)), parallel)
	return nil
}

// markDirty records owners to re-index in the background. It runs on the
// Redis client's reading goroutine: no I/O.
func (o *ownership) markDirty(users, groups []string, all bool) {
	o.mu.Lock()
	if all {
		o.dirtyAll = true
	}
	for _, u := range users {
		o.dirtyUsers[u] = struct{}{}
	}
	for _, g := range groups {
		o.dirtyGroups[g] = struct{}{}
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// hold makes messages about ch's project wait until ch's owners are
// re-indexed.
func (o *ownership) hold(ch directory.Change) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k, _ := ch.Project.Key()
	h := o.held[k]
	if h == nil {
		h = &heldOwners{users: map[string]struct{}{}, groups: map[string]struct{}{}}
		o.held[k] = h
		o.heldN.Add(1)
	}
	for _, u := range ch.Users {
		h.users[u] = struct{}{}
		o.dirtyUsers[u] = struct{}{}
	}
	for _, g := range ch.Groups {
		h.groups[g] = struct{}{}
		o.dirtyGroups[g] = struct{}{}
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// release lets messages about ch's project through once every owner held
// for it is re-indexed.
func (o *ownership) release(ch directory.Change) {
	if o.heldN.Load() == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	k, _ := ch.Project.Key()
	h := o.held[k]
	if h == nil {
		return
	}
	for _, u := range ch.Users {
		delete(h.users, u)
	}
	for _, g := range ch.Groups {
		delete(h.groups, g)
	}
	if len(h.users)+len(h.groups) == 0 {
		delete(o.held, k)
		o.heldN.Add(-1)
	}
}

// releaseRefreshed drops, after a successful background re-indexing of
// these owners (of all with all), the holds they were the reason for.
func (o *ownership) releaseRefreshed(users, groups []string, all bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if all {
		clear(o.held)
		o.heldN.Store(0)
		return
	}
	for k, h := range o.held {
		for _, u := range users {
			delete(h.users, u)
		}
		for _, g := range groups {
			delete(h.groups, g)
		}
		if len(h.users)+len(h.groups) == 0 {
			delete(o.held, k)
			o.heldN.Add(-1)
		}
	}
}

// holds reports whether p is about a held artifact.
func (o *ownership) holds(p *bus.Parsed) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range [...]struct {
		kind  rules.KeyKind
		names []string
	}{{rules.KeyRPM, p.Packages}, {rules.KeyContainer, p.Containers}, {rules.KeyModule, p.Modules}, {rules.KeyFlatpak, p.Flatpaks}} {
		for _, n := range l.names {
			if _, ok := o.held[rules.Key{Kind: l.kind, Value: n}]; ok {
				return true
			}
		}
	}
	return false
}

// run re-indexes dirty owners in the background, retrying with backoff
// while the lookups fail.
func (o *ownership) run(ctx context.Context) {
	const minBackoff, maxBackoff = 500 * time.Millisecond, 30 * time.Second
	backoff := minBackoff
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-retry.C:
		}
		o.mu.Lock()
		users := slices.Collect(maps.Keys(o.dirtyUsers))
		groups := slices.Collect(maps.Keys(o.dirtyGroups))
		all := o.dirtyAll
		clear(o.dirtyUsers)
		clear(o.dirtyGroups)
		o.dirtyAll = false
		o.mu.Unlock()
		if len(users)+len(groups) == 0 && !all {
			continue
		}
		if err := o.refresh(ctx, users, groups, all); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.m.log.Warn("re-indexing ownership rules failed; retrying", "users", len(users), "groups", len(groups), "in", backoff, "err", err)
			o.markDirty(users, groups, all)
			// markDirty woke us: drain that, wait the backoff instead.
			select {
			case <-o.wake:
			default:
			}
			retry.Reset(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		o.releaseRefreshed(users, groups, all)
	}
}

// refresh recomputes the index keys of the ownership rules of users and
// groups (of all ownership rules with all) and updates the index where
// they changed or were unresolved. It holds the matcher's sync lock, so
// that a Sync cannot put back keys it computed before the change.
func (o *ownership) refresh(ctx context.Context, users, groups []string, all bool) error {
	m := o.m
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	ids := o.rulesOf(users, groups, all)
	if len(ids) == 0 {
		return nil
	}
	type update struct {
		c    *rules.Compiled
		keys []rules.Key
	}
	m.mu.RLock()
	targets := make([]*rules.Compiled, 0, len(ids))
	for _, id := range ids {
		if ix, ok := m.idx.Get(id); ok {
			targets = append(targets, ix.Rule)
		}
	}
	m.mu.RUnlock()
	var updates []update
	var errs []error
	for _, c := range targets {
		keys, err := c.Keys(ctx, m.lookups)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		slices.SortFunc(keys, rules.CompareKeys)
		updates = append(updates, update{c, slices.Compact(keys)})
	}
	var resolved []*rules.Compiled
	m.mu.Lock()
	for _, u := range updates {
		ix, ok := m.idx.Get(u.c.ID())
		if !ok || ix.Rule != u.c || (!ix.Unresolved && slices.Equal(ix.Keys, u.keys)) {
			continue
		}
		if ix.Unresolved {
			resolved = append(resolved, u.c)
		}
		m.idx.Put(u.c, u.keys, false)
	}
	m.mu.Unlock()
	for _, c := range resolved {
		m.logResolved(c)
	}
	if len(updates) > 0 {
		// Lookups work (again): retry the unresolved rules now.
		m.kickResolve(true)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return nil
}

// rulesOf returns the ids of the indexed ownership rules tracking one of
// users (artifacts-owned) or groups (artifacts-group-owned), or of all of
// them. The caller holds m.syncMu.
func (o *ownership) rulesOf(users, groups []string, all bool) []int64 {
	o.buildOwners()
	ow := &o.owners
	ow.Lock()
	defer ow.Unlock()
	var ids []int64
	if all {
		for _, l := range ow.users {
			ids = append(ids, l...)
		}
		for _, l := range ow.groups {
			ids = append(ids, l...)
		}
	} else {
		for _, u := range users {
			ids = append(ids, ow.users[u]...)
		}
		for _, g := range groups {
			ids = append(ids, ow.groups[g]...)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// buildOwners rebuilds the owner → rules map when the index reflects a
// new rule version (only Sync changes which rules track whom, and a
// refresh only changes keys). The caller holds m.syncMu.
func (o *ownership) buildOwners() {
	m := o.m
	ow := &o.owners
	ow.Lock()
	defer ow.Unlock()
	v := m.Version()
	if ow.built && ow.version == v {
		return
	}
	ow.users, ow.groups = map[string][]int64{}, map[string][]int64{}
	m.mu.RLock()
	for c := range m.idx.Rules() {
		var into map[string][]int64
		switch c.Tracking() {
		case rules.TrackArtifactsOwned:
			into = ow.users
		case rules.TrackArtifactsGroupOwned:
			into = ow.groups
		default:
			continue
		}
		for _, n := range c.Names() {
			into[n] = append(into[n], c.ID())
		}
	}
	m.mu.RUnlock()
	ow.version, ow.built = v, true
}
