package rules

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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
	dests []Destination
	// appFilters is nil when neither list is set (most rules): a
	// generation rule is then half the size.
	*appFilters
	topic     *Glob
	sevMask   uint8
	myActions bool
}

// appFilters are the application lists of a generation rule, lower-cased.
type appFilters struct {
	apps, excluded []string
}

func (g *compiledGen) appList() []string {
	if g.appFilters == nil {
		return nil
	}
	return g.apps
}

func (g *compiledGen) excludedList() []string {
	if g.appFilters == nil {
		return nil
	}
	return g.excluded
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
func Compile(r Rule) (*Compiled, error) { return compile(r, nil) }

// CompileIndexed is Compile for a long-lived index of many rules (the
// matcher's): Compiled.Rule keeps only what matching and logs read (ID,
// name, owner, switch, origin and the tracking rule's name); the tracking
// params and generation rules live on only as compiled (Names, the
// destinations and filters), so Explain, which shows filters, needs
// Compile. Strings equal across the rules compiled with in (owners,
// addresses, names, artifacts, applications) share one copy; nil interns
// nothing.
func CompileIndexed(r Rule, in *Interner) (*Compiled, error) {
	c, err := compile(r, in)
	if err != nil {
		return nil, err
	}
	c.Rule.TrackingRule.Params = nil
	c.Rule.GenerationRules = nil
	return c, nil
}

// Interner hands out one copy of equal strings and generation rules: the
// index holds many rules that name the same users, addresses and
// packages, each read into a string of its own, and a user's rules mostly
// share their destinations and filters. Use one for a batch of rules,
// then drop it. A nil *Interner interns nothing.
type Interner struct {
	strs map[string]string
	gens map[string][]compiledGen
	key  []byte
}

// NewInterner returns an empty Interner.
func NewInterner() *Interner {
	return &Interner{strs: map[string]string{}, gens: map[string][]compiledGen{}}
}

// String returns the interned copy of s.
func (in *Interner) String(s string) string {
	if in == nil || s == "" {
		return s
	}
	if v, ok := in.strs[s]; ok {
		return v
	}
	in.strs[s] = s
	return s
}

// genList returns the interned copy of gens, whose destinations may be
// the caller's: a new one is copied, its strings interned.
func (in *Interner) genList(gens []compiledGen) []compiledGen {
	k := in.key[:0]
	str := func(s string) { k = binary.AppendUvarint(k, uint64(len(s))); k = append(k, s...) }
	list := func(l []string) {
		k = binary.AppendUvarint(k, uint64(len(l)))
		for _, s := range l {
			str(s)
		}
	}
	for i := range gens {
		g := &gens[i]
		k = append(k, g.sevMask)
		k = strconv.AppendBool(k, g.myActions)
		if g.topic == nil {
			k = append(k, 0)
		} else {
			k = append(k, 1)
			str(g.topic.pattern)
		}
		list(g.appList())
		list(g.excludedList())
		k = binary.AppendUvarint(k, uint64(len(g.dests)))
		for _, d := range g.dests {
			str(d.Protocol)
			str(d.Address)
		}
	}
	in.key = k
	if shared, ok := in.gens[string(k)]; ok {
		return shared
	}
	out := slices.Clone(gens)
	for i := range out {
		dests := make([]Destination, len(out[i].dests))
		for j, d := range out[i].dests {
			dests[j] = Destination{Protocol: in.String(d.Protocol), Address: in.String(d.Address)}
		}
		out[i].dests = dests
	}
	in.gens[string(k)] = out
	return out
}

// trackingName is the constant for a known tracking rule's name, so that
// compiled rules do not each hold a copy.
func trackingName(name string) string {
	for _, k := range [...]string{TrackArtifactsOwned, TrackArtifactsGroupOwned, TrackArtifactsFollowed, TrackRelatedEvents, TrackUsersFollowed} {
		if name == k {
			return k
		}
	}
	return name
}

// Names returns the usernames (artifacts-owned, users-followed) or group
// names (artifacts-group-owned) the rule tracks, without duplicates or
// empty names; nil for other tracking rules. Do not modify it.
func (c *Compiled) Names() []string { return c.names }

func compile(r Rule, in *Interner) (*Compiled, error) {
	if in != nil {
		r.Name, r.User.Name, r.Origin = in.String(r.Name), in.String(r.User.Name), in.String(r.Origin)
		r.TrackingRule.Name = trackingName(r.TrackingRule.Name)
	}
	c := &Compiled{Rule: r}
	params := r.TrackingRule.Params
	switch r.TrackingRule.Name {
	case TrackArtifactsOwned, TrackArtifactsGroupOwned, TrackUsersFollowed:
		var names []string
		if err := json.Unmarshal(params, &names); err != nil {
			return nil, fmt.Errorf("rule %d: %s params: want a list of names: %w", r.ID, r.TrackingRule.Name, err)
		}
		c.names = slices.Clip(dedupe(names))
		for i, n := range c.names {
			c.names[i] = in.String(n)
		}
	case TrackArtifactsFollowed:
		var arts []FollowedArtifact
		if err := json.Unmarshal(params, &arts); err != nil {
			return nil, fmt.Errorf("rule %d: %s params: want a list of {\"name\", \"type\"}: %w", r.ID, r.TrackingRule.Name, err)
		}
		c.followed = make([]Key, 0, len(arts))
		for _, a := range arts {
			k, ok := Artifact{Type: a.Type, Name: in.String(a.Name)}.Key()
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
		g := compiledGen{dests: slices.Clip(gr.Destinations), myActions: gr.Filters.MyActions}
		if apps, excluded := lowerAll(gr.Filters.Applications, in), lowerAll(gr.Filters.ExcludedApplications, in); apps != nil || excluded != nil {
			g.appFilters = &appFilters{apps: apps, excluded: excluded}
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
	if in != nil {
		c.gens = in.genList(c.gens)
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

// lowerAll returns list lower-cased: list itself when it is already and
// nothing is interned (in is nil).
func lowerAll(list []string, in *Interner) []string {
	if len(list) == 0 {
		return nil
	}
	if in == nil && !slices.ContainsFunc(list, func(s string) bool { return strings.ToLower(s) != s }) {
		return slices.Clip(list)
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, in.String(strings.ToLower(s)))
	}
	return out
}

// Keys returns the index keys of the rule: the rule can match a message only
// if MessageKeys of the message holds one of them. For artifacts-owned and
// artifacts-group-owned the keys are the owned artifacts, asked from lk; with
// a nil lk those rules have no keys. An error comes only from lk; index the
// rule again once the lookup works, or its messages are missed. But for
// ownership rules, the keys are sorted (CompareKeys) without duplicates;
// the slice may be the rule's own: do not modify it.
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
		slices.SortFunc(keys, CompareKeys)
		return keys, nil
	case TrackArtifactsFollowed:
		return c.followed, nil
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
