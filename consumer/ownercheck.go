package consumer

import (
	"context"
	"maps"
	"slices"
	"time"
)

// OwnerCheck disables the rules of users the account service says do not
// exist (a deleted account), through the rule event log, so that they are
// never evaluated again until an admin re-enables them.
//
// When checks run: an owner is checked when a rule of theirs first shows
// up in the index (at start, and within Poll of a Sync that brings a new
// owner), and again every Recheck. An error (FASJSON or Redis down)
// decides nothing: the owner is checked again after Retry. A rule an admin
// re-enables while its owner is still missing stays enabled until the next
// periodic check of that owner (or a restart). Every consumer
// instance runs the checks; disabling an already disabled rule appends
// nothing, so they do not conflict.
type OwnerCheck struct {
	// Exists tells whether the account service knows user
	// (directory.Directory.UserExists, which confirms a "no" with FASJSON
	// itself).
	Exists func(ctx context.Context, user string) (bool, error)
	// Disable disables rule id through the event log
	// (rulelog.Commands.SetDisabled).
	Disable func(ctx context.Context, id int64) error
	// Poll is how often the index is looked at for new owners (default 2s).
	Poll time.Duration
	// Recheck is how often every owner is checked again (default 24h).
	Recheck time.Duration
	// Retry is how soon an owner is checked again after an error
	// (default 1m).
	Retry time.Duration
	// Pace is the pause between two owners, so that checking a whole
	// deployment's owners does not flood FASJSON (default 20ms: 50,000
	// owners in about 17 minutes, once a day).
	Pace time.Duration
}

// RunOwnerChecks checks the owners of m's rules until ctx ends (see
// OwnerCheck).
func (m *Matcher) RunOwnerChecks(ctx context.Context, oc OwnerCheck) {
	if oc.Poll <= 0 {
		oc.Poll = 2 * time.Second
	}
	if oc.Recheck <= 0 {
		oc.Recheck = 24 * time.Hour
	}
	if oc.Retry <= 0 {
		oc.Retry = time.Minute
	}
	if oc.Pace <= 0 {
		oc.Pace = 20 * time.Millisecond
	}
	pace := time.NewTimer(0)
	defer pace.Stop()
	// next says when each owner is due; an owner not in it is due now.
	next := map[string]time.Time{}
	t := time.NewTicker(oc.Poll)
	defer t.Stop()
	for {
		owners := m.ruleOwners()
		now := time.Now()
		for _, owner := range slices.Sorted(maps.Keys(owners)) {
			if due, ok := next[owner]; ok && now.Before(due) {
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-pace.C:
			}
			pace.Reset(oc.Pace)
			exists, err := oc.Exists(ctx, owner)
			if err != nil {
				m.log.Warn("cannot check whether a rule owner exists; nothing disabled", "user", owner, "retry_in", oc.Retry, "err", err)
				next[owner] = now.Add(oc.Retry)
				continue
			}
			next[owner] = now.Add(oc.Recheck)
			if exists {
				continue
			}
			for _, id := range owners[owner] {
				if err := oc.Disable(ctx, id); err != nil {
					m.log.Warn("cannot disable the rule of a missing user", "rule", id, "user", owner, "err", err)
					next[owner] = now.Add(oc.Retry)
					continue
				}
				m.log.Info("rule disabled: its owner has no account", "rule", id, "user", owner)
			}
		}
		// Forget owners who have no rule left once they are due, so the
		// map stays small; until then a rule an admin re-enables is left
		// alone.
		for owner, due := range next {
			if _, ok := owners[owner]; !ok && now.After(due) {
				delete(next, owner)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ruleOwners maps the owner of each indexed (enabled) rule to its rules.
func (m *Matcher) ruleOwners() map[string][]int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := map[string][]int64{}
	for c := range m.idx.Rules() {
		if u := c.User(); u != "" {
			out[u] = append(out[u], c.ID())
		}
	}
	return out
}
