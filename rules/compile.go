package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/fmn-project/fmn/bus"
)

// Compiled is a rule prepared for matching: params decoded, application
// lists lower-cased, severities as a bit set, the topic glob compiled.
// Nothing changes it after Compile, so it is safe for concurrent use.
type Compiled struct {
	// Rule is the rule as compiled: its ID, owner, switch and tracking
	// rule's name are matched as they are here. It is read-only.
	Rule Rule

	// names holds the usernames (artifacts-owned, users-followed) or the
	// group names (artifacts-group-owned), without duplicates.
	names []string
	// followed holds the artifacts of artifacts-followed, sorted
	// (CompareKeys), without duplicates: a slice costs a fraction of a map
	// for the few artifacts a rule follows.
	followed []Key

	gens []compiledGen
}

// follows says whether the rule follows artifact k.
func (c *Compiled) follows(k Key) bool {
	_, ok := slices.BinarySearchFunc(c.followed, k, CompareKeys)
	return ok
}

type compiledGen struct {
	dests     []Destination
	apps      []string // lower-cased
	excluded  []string // lower-cased
	sevMask   uint8
	topic     *Glob
	myActions bool
}

// Severity bits of compiledGen.sevMask.
const (
	sevDebug uint8 = 1 << iota
	sevInfo
	sevWarning
	sevError

	sevDefault = sevInfo | sevWarning | sevError
)

func severityBit(name string) uint8 {
	switch strings.ToLower(name) {
	case "debug":
		return sevDebug
	case "info":
		return sevInfo
	case "warning":
		return sevWarning
	case "error":
		return sevError
	}
	return 0
}

// messageSeverityBit maps a message's severity to its bit. Zero (unset)
// counts as info, as a missing fedora_messaging_severity header does.
func messageSeverityBit(sev int) uint8 {
	if sev == 0 {
		return sevInfo
	}
	return severityBit(bus.SeverityName(sev))
}

// Compile prepares r for matching. It needs only what matching needs: a
// known tracking rule with params of the right shape, known severities and
// compilable topic globs. It does not re-check names or addresses (that is
// Validate's job at the API), so that a stored rule keeps working when
// validation gets stricter.
func Compile(r Rule) (*Compiled, error) {
	c := &Compiled{Rule: r}
	params := r.TrackingRule.Params
	switch r.TrackingRule.Name {
	case TrackArtifactsOwned, TrackArtifactsGroupOwned, TrackUsersFollowed:
		var names []string
		if err := json.Unmarshal(params, &names); err != nil {
			return nil, fmt.Errorf("rule %d: %s params: want a list of names: %w", r.ID, r.TrackingRule.Name, err)
		}
		c.names = dedupe(names)
	case TrackArtifactsFollowed:
		var arts []FollowedArtifact
		if err := json.Unmarshal(params, &arts); err != nil {
			return nil, fmt.Errorf("rule %d: %s params: want a list of {\"name\", \"type\"}: %w", r.ID, r.TrackingRule.Name, err)
		}
		c.followed = make([]Key, 0, len(arts))
		for _, a := range arts {
			k, ok := Artifact{Type: a.Type, Name: a.Name}.Key()
			if !ok {
				return nil, fmt.Errorf("rule %d: %s: unknown artifact type %q", r.ID, r.TrackingRule.Name, a.Type)
			}
			c.followed = append(c.followed, k)
		}
		slices.SortFunc(c.followed, CompareKeys)
		c.followed = slices.Clip(slices.Compact(c.followed))
	case TrackRelatedEvents:
		// No params: the owner is the tracked user.
	default:
		return nil, fmt.Errorf("rule %d: unknown tracking rule %q", r.ID, r.TrackingRule.Name)
	}

	c.gens = make([]compiledGen, 0, len(r.GenerationRules))
	for i, gr := range r.GenerationRules {
		g := compiledGen{
			dests:     slices.Clip(gr.Destinations),
			apps:      lowerAll(gr.Filters.Applications),
			excluded:  lowerAll(gr.Filters.ExcludedApplications),
			myActions: gr.Filters.MyActions,
		}
		for _, s := range gr.Filters.Severities {
			b := severityBit(s)
			if b == 0 {
				return nil, fmt.Errorf("rule %d: generation rule %d: unknown severity %q", r.ID, i, s)
			}
			g.sevMask |= b
		}
		if g.sevMask == 0 {
			g.sevMask = sevDefault
		}
		if t := gr.Filters.Topic; t != nil && *t != "" {
			glob, err := CompileGlob(*t)
			if err != nil {
				return nil, fmt.Errorf("rule %d: generation rule %d: topic: %w", r.ID, i, err)
			}
			g.topic = glob
		}
		c.gens = append(c.gens, g)
	}
	return c, nil
}

func dedupe(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// lowerAll returns list lower-cased: list itself when it is already.
func lowerAll(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	if !slices.ContainsFunc(list, func(s string) bool { return strings.ToLower(s) != s }) {
		return slices.Clip(list)
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, strings.ToLower(s))
	}
	return out
}

// Keys returns the index keys of the rule: the rule can match a message only
// if MessageKeys of the message holds one of them. For artifacts-owned and
// artifacts-group-owned the keys are the owned artifacts, asked from lk; with
// a nil lk those rules have no keys. An error comes only from lk; index the
// rule again once the lookup works, or its messages are missed.
func (c *Compiled) Keys(ctx context.Context, lk Lookups) ([]Key, error) {
	if c.Rule.Disabled {
		return nil, nil
	}
	switch c.Rule.TrackingRule.Name {
	case TrackRelatedEvents:
		if c.Rule.User.Name == "" {
			return nil, nil
		}
		return []Key{{KeyUser, c.Rule.User.Name}}, nil
	case TrackUsersFollowed:
		keys := make([]Key, 0, len(c.names))
		for _, n := range c.names {
			keys = append(keys, Key{KeyAgent, n})
		}
		return keys, nil
	case TrackArtifactsFollowed:
		return slices.Clone(c.followed), nil
	case TrackArtifactsOwned, TrackArtifactsGroupOwned:
		if lk == nil {
			return nil, nil
		}
		seen := make(map[Key]struct{})
		var keys []Key
		for _, n := range c.names {
			set, err := c.owned(ctx, lk, n)
			if err != nil {
				return nil, err
			}
			for k := range set.m {
				if _, dup := seen[k]; !dup {
					seen[k] = struct{}{}
					keys = append(keys, k)
				}
			}
		}
		return keys, nil
	}
	return nil, nil
}

func (c *Compiled) owned(ctx context.Context, lk Lookups, name string) (ArtifactSet, error) {
	if c.Rule.TrackingRule.Name == TrackArtifactsGroupOwned {
		set, err := lk.GroupOwnedArtifacts(ctx, name)
		if err != nil {
			return set, fmt.Errorf("rule %d: artifacts owned by group %q: %w", c.Rule.ID, name, err)
		}
		return set, nil
	}
	set, err := lk.OwnedArtifacts(ctx, name)
	if err != nil {
		return set, fmt.Errorf("rule %d: artifacts owned by %q: %w", c.Rule.ID, name, err)
	}
	return set, nil
}
