package rules

import (
	"context"
	"slices"
	"strings"

	"github.com/fmn-project/fmn/bus"
)

// Match returns the destinations the rule sends p to, without duplicates,
// or none when the rule does not fire. See AppendMatch.
func (c *Compiled) Match(ctx context.Context, p *bus.Parsed, lk Lookups) ([]Destination, error) {
	return c.AppendMatch(ctx, nil, p, lk)
}

// AppendMatch appends to dst the destinations the rule sends p to and
// returns the extended slice. The tracking rule must match p exactly
// (sharing an index key is not enough); then every generation rule whose
// filters all pass contributes its destinations, each once per rule even
// when several generation rules name it. A disabled rule never matches,
// nor does a deprecated message: its app sends the same event with a newer
// schema too, which is the one notified (as FMN does).
//
// Only artifacts-owned and artifacts-group-owned consult lk, and only they
// can return an error (lk's): the caller should then retry the message
// rather than drop it. They consult it only when a generation rule's
// filters pass, since otherwise they yield nothing anyway. With a nil lk
// they never match.
func (c *Compiled) AppendMatch(ctx context.Context, dst []Destination, p *bus.Parsed, lk Lookups) ([]Destination, error) {
	if c.disabled || p.Deprecated {
		return dst, nil
	}
	sev := messageSeverityBit(p.Severity)
	mine := p.Agent != "" && p.Agent == c.owner
	// first is a generation rule known to pass, or -1. For the rules that
	// consult lk, the filters go first: when none passes the rule yields
	// nothing whatever lk says, so it is not asked.
	first := -1
	if c.Ownership() {
		if lk == nil || !hasArtifacts(p) {
			return dst, nil
		}
		for i := range c.gens {
			if c.gens[i].passes(p, sev, mine) {
				first = i
				break
			}
		}
		if first < 0 {
			return dst, nil
		}
	}
	ok, err := c.tracks(ctx, p, lk)
	if err != nil || !ok {
		return dst, err
	}
	start := len(dst)
	for i := max(first, 0); i < len(c.gens); i++ {
		g := &c.gens[i]
		if i != first && !g.passes(p, sev, mine) {
			continue
		}
		for _, d := range g.dests {
			if !slices.Contains(dst[start:], d) {
				dst = append(dst, d)
			}
		}
	}
	return dst, nil
}

// tracks reports whether the tracking rule matches p.
func (c *Compiled) tracks(ctx context.Context, p *bus.Parsed, lk Lookups) (bool, error) {
	switch c.track {
	case trackRelatedEvents:
		return c.owner != "" && slices.Contains(p.Usernames, c.owner), nil
	case trackUsersFollowed:
		return p.Agent != "" && slices.ContainsFunc(c.terms, func(t Key) bool { return t.Value == p.Agent }), nil
	case trackArtifactsFollowed:
		return messageArtifacts(p, c.follows), nil
	case trackArtifactsOwned, trackArtifactsGroupOwned:
		if lk == nil || !hasArtifacts(p) {
			return false, nil
		}
		for _, t := range c.terms {
			set, err := c.owned(ctx, lk, t.Value)
			if err != nil {
				return false, err
			}
			if set.Len() > 0 && messageArtifacts(p, set.hasKey) {
				return true, nil
			}
		}
	}
	return false, nil
}

func hasArtifacts(p *bus.Parsed) bool {
	return len(p.Packages)+len(p.Containers)+len(p.Modules)+len(p.Flatpaks) > 0
}

// passes reports whether all filters of g pass for p. sev is p's severity
// bit and mine whether p's agent is the rule's owner. Each filter is its own
// method so that Explain reports exactly what matching decides.
func (g *compiledGen) passes(p *bus.Parsed, sev uint8, mine bool) bool {
	return g.passesMyActions(mine) && g.passesSeverities(sev) &&
		g.passesApplications(p.App) && g.passesExcluded(p.App) && g.passesTopic(p.Topic)
}

// passesMyActions: my_actions false drops the owner's own actions.
func (g *compiledGen) passesMyActions(mine bool) bool { return !mine || g.myActions }

func (g *compiledGen) passesSeverities(sev uint8) bool { return g.sevMask&sev != 0 }

// passesApplications: a message without app fails a non-empty list.
func (g *compiledGen) passesApplications(app string) bool {
	return len(g.appList()) == 0 || (app != "" && containsFold(g.appList(), app))
}

func (g *compiledGen) passesExcluded(app string) bool {
	return len(g.excludedList()) == 0 || app == "" || !containsFold(g.excludedList(), app)
}

func (g *compiledGen) passesTopic(topic string) bool { return g.topic == nil || g.topic.Match(topic) }

// containsFold reports whether s is in list, ignoring case. The lists are
// short (at most MaxFilterValues), so a scan beats hashing a lowered copy.
func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
