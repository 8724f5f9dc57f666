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
// It is not a Rule: it keeps only what matching needs (the id, owner,
// switch, tracking kind as a byte, the tracked names or artifacts and the
// generation rules), so that an index of many rules stays small and holds
// few pointers for the GC to scan. Nothing changes it after Compile, so it
// is safe for concurrent use.
type Compiled struct {
	id    int64
	owner string
	// terms holds the usernames (artifacts-owned, users-followed) or group
	// names (artifacts-group-owned) as keys of kind 0, without duplicates,
	// in the rule's order; or the artifacts of artifacts-followed, sorted
	// (CompareKeys), without duplicates: a slice costs a fraction of a map
	// for the few artifacts a rule follows. One field serves both, since a
	// rule has one tracking rule.
	terms []Key
	gens  []compiledGen
	// src is the rule Compile compiled, for Explain and Rule; nil from
	// CompileIndexed.
	src      *Rule
	track    trackKind
	disabled bool
}

// trackKind is a tracking rule's name as a byte.
type trackKind uint8

const (
	trackUnknown trackKind = iota
	trackArtifactsOwned
	trackArtifactsGroupOwned
	trackArtifactsFollowed
	trackRelatedEvents
	trackUsersFollowed
)

var trackNames = [...]string{
	trackArtifactsOwned:      TrackArtifactsOwned,
	trackArtifactsGroupOwned: TrackArtifactsGroupOwned,
	trackArtifactsFollowed:   TrackArtifactsFollowed,
	trackRelatedEvents:       TrackRelatedEvents,
	trackUsersFollowed:       TrackUsersFollowed,
}

func trackKindOf(name string) trackKind {
	for k, n := range trackNames {
		if n != "" && n == name {
			return trackKind(k)
		}
	}
	return trackUnknown
}

// ID is the rule's id.
func (c *Compiled) ID() int64 { return c.id }

// User is the name of the rule's owner.
func (c *Compiled) User() string { return c.owner }

// Disabled tells whether the rule is switched off (it never matches).
func (c *Compiled) Disabled() bool { return c.disabled }

// Tracking is the name of the rule's tracking rule.
func (c *Compiled) Tracking() string { return trackNames[c.track] }

// Ownership tells whether the rule's keys are owned artifacts, which only
// the lookups know (artifacts-owned, artifacts-group-owned).
func (c *Compiled) Ownership() bool {
	return c.track == trackArtifactsOwned || c.track == trackArtifactsGroupOwned
}

// Rule returns the rule as Compile compiled it, or nil for a rule from
// CompileIndexed, which keeps only the compiled forms. Do not modify it.
func (c *Compiled) Rule() *Rule { return c.src }

// Name is the rule's name; "" for a rule from CompileIndexed.
func (c *Compiled) Name() string {
	if c.src == nil {
		return ""
	}
	return c.src.Name
}

// follows says whether the rule follows artifact k.
func (c *Compiled) follows(k Key) bool {
	_, ok := slices.BinarySearchFunc(c.terms, k, CompareKeys)
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
func Compile(r Rule) (*Compiled, error) { return compile(r, nil, true) }

// CompileIndexed is Compile for a long-lived index of many rules (the
// matcher's): the rule itself is not kept (Rule returns nil, Name ""),
// only its compiled forms, so Explain, which shows filters as written,
// needs Compile. Strings equal across the rules compiled with in (owners,
// addresses, names, artifacts, applications) share one copy, and so do
// equal lists of generation rules; nil interns nothing.
func CompileIndexed(r Rule, in *Interner) (*Compiled, error) {
	return compile(r, in, false)
}

// Interner hands out one copy of equal strings and generation rules: the
// index holds many rules that name the same users, addresses and
// packages, each read into a string of its own, and a user's rules mostly
// share their destinations and filters. The copies are cut from a few
// large strings (chunks), so that the index holds a handful of objects
// for the GC to mark where it held one per name. Use one for a batch of
// rules, then drop it. A nil *Interner interns nothing.
type Interner struct {
	strs map[string]string
	gens map[string][]compiledGen
	key  []byte
	// chunk is the string being filled; its capacity is never exceeded,
	// so that what was cut from it stays in the one backing array.
	chunk     strings.Builder
	chunkSize int
}

// Interned strings longer than this get a copy of their own.
const maxChunked = 256

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
	v := in.cut(s)
	in.strs[v] = v
	return v
}

// cut copies s into the current chunk and returns the copy.
func (in *Interner) cut(s string) string {
	if len(s) > maxChunked {
		return strings.Clone(s)
	}
	if in.chunk.Cap()-in.chunk.Len() < len(s) {
		// Small batches (a Sync of a few changes) get small chunks.
		in.chunkSize = min(max(2*in.chunkSize, 128), 64<<10)
		in.chunk = strings.Builder{}
		in.chunk.Grow(in.chunkSize)
	}
	in.chunk.WriteString(s)
	all := in.chunk.String()
	return all[len(all)-len(s):]
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

// Names returns the usernames (artifacts-owned, users-followed) or group
// names (artifacts-group-owned) the rule tracks, without duplicates or
// empty names, in the rule's order; nil for other tracking rules.
func (c *Compiled) Names() []string {
	if c.track == trackArtifactsFollowed || len(c.terms) == 0 {
		return nil
	}
	out := make([]string, len(c.terms))
	for i, k := range c.terms {
		out[i] = k.Value
	}
	return out
}

// compile compiles r; with keep, Compiled.Rule is (a copy of) r.
func compile(r Rule, in *Interner, keep bool) (*Compiled, error) {
	c := &Compiled{id: r.ID, owner: in.String(r.User.Name), track: trackKindOf(r.TrackingRule.Name), disabled: r.Disabled}
	if keep {
		src := r
		c.src = &src
	}
	params := r.TrackingRule.Params
	switch c.track {
	case trackArtifactsOwned, trackArtifactsGroupOwned, trackUsersFollowed:
		var names []string
		if err := json.Unmarshal(params, &names); err != nil {
			return nil, fmt.Errorf("rule %d: %s params: want a list of names: %w", r.ID, r.TrackingRule.Name, err)
		}
		names = dedupe(names)
		if len(names) > 0 {
			c.terms = make([]Key, len(names))
			for i, n := range names {
				c.terms[i] = Key{Value: in.String(n)}
			}
		}
	case trackArtifactsFollowed:
		var arts []FollowedArtifact
		if err := json.Unmarshal(params, &arts); err != nil {
			return nil, fmt.Errorf("rule %d: %s params: want a list of {\"name\", \"type\"}: %w", r.ID, r.TrackingRule.Name, err)
		}
		c.terms = make([]Key, 0, len(arts))
		for _, a := range arts {
			k, ok := Artifact{Type: a.Type, Name: in.String(a.Name)}.Key()
			if !ok {
				return nil, fmt.Errorf("rule %d: %s: unknown artifact type %q", r.ID, r.TrackingRule.Name, a.Type)
			}
			c.terms = append(c.terms, k)
		}
		slices.SortFunc(c.terms, CompareKeys)
		c.terms = slices.Clip(slices.Compact(c.terms))
	case trackRelatedEvents:
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
	if c.disabled {
		return nil, nil
	}
	switch c.track {
	case trackRelatedEvents:
		if c.owner == "" {
			return nil, nil
		}
		return []Key{{KeyUser, c.owner}}, nil
	case trackUsersFollowed:
		keys := make([]Key, 0, len(c.terms))
		for _, t := range c.terms {
			keys = append(keys, Key{KeyAgent, t.Value})
		}
		slices.SortFunc(keys, CompareKeys)
		return keys, nil
	case trackArtifactsFollowed:
		return c.terms, nil
	case trackArtifactsOwned, trackArtifactsGroupOwned:
		if lk == nil {
			return nil, nil
		}
		seen := make(map[Key]struct{})
		var keys []Key
		for _, t := range c.terms {
			set, err := c.owned(ctx, lk, t.Value)
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
	if c.track == trackArtifactsGroupOwned {
		set, err := lk.GroupOwnedArtifacts(ctx, name)
		if err != nil {
			return set, fmt.Errorf("rule %d: artifacts owned by group %q: %w", c.id, name, err)
		}
		return set, nil
	}
	set, err := lk.OwnedArtifacts(ctx, name)
	if err != nil {
		return set, fmt.Errorf("rule %d: artifacts owned by %q: %w", c.id, name, err)
	}
	return set, nil
}
