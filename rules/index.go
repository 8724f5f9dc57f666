package rules

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/fmn-project/fmn/bus"
)

// Index maps the keys a message can carry (usernames, agent, artifacts)
// to the compiled rules that track them, so that a message meets only its
// candidate rules; Match then checks those exactly and groups what they
// yield per destination. The consumer, replay and the rule preview all
// match through it.
//
// An unresolved rule is an ownership rule whose owned artifacts could not
// be looked up: it keeps the keys it is put with (if any) and is also a
// candidate for every message that carries an artifact, the only messages
// such a rule can match.
//
// An Index is not safe for concurrent use while it changes: readers
// (Candidates, Match, Get, ...) may run concurrently with each other, a
// writer (Put, Remove) needs them stopped (the consumer holds a lock).
type Index struct {
	rules map[int64]*IndexEntry
	byKey map[Key][]*Compiled
	// unresolved holds the unresolved rules, ordered by id.
	unresolved []*Compiled
	seq        uint64
}

// IndexEntry is a rule as indexed. It is read-only.
type IndexEntry struct {
	Rule *Compiled
	// Keys are the keys the rule was put with, sorted, without duplicates.
	Keys       []Key
	Unresolved bool
	// Seq numbers the puts, so that a background update can tell whether
	// the entry it read was replaced meanwhile.
	Seq uint64
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{rules: map[int64]*IndexEntry{}, byKey: map[Key][]*Compiled{}}
}

// Put indexes c under keys, replacing the rule of the same id. With
// unresolved, c is also a candidate for every message with an artifact.
// Keys that are sorted (CompareKeys) without duplicates, as Compiled.Keys
// gives them but for ownership rules, are kept as they are: the caller
// must not change them afterwards. Others are copied.
func (x *Index) Put(c *Compiled, keys []Key, unresolved bool) {
	x.Remove(c.Rule.ID)
	if !sortedKeys(keys) {
		keys = slices.Clone(keys)
		slices.SortFunc(keys, CompareKeys)
		keys = slices.Compact(keys)
	}
	x.seq++
	x.rules[c.Rule.ID] = &IndexEntry{Rule: c, Keys: keys, Unresolved: unresolved, Seq: x.seq}
	for _, k := range keys {
		x.byKey[k] = append(x.byKey[k], c)
	}
	if unresolved {
		i, _ := slices.BinarySearchFunc(x.unresolved, c.Rule.ID, func(e *Compiled, id int64) int { return cmp.Compare(e.Rule.ID, id) })
		x.unresolved = slices.Insert(x.unresolved, i, c)
	}
}

// sortedKeys tells whether keys are in order without duplicates.
func sortedKeys(keys []Key) bool {
	for i := 1; i < len(keys); i++ {
		if CompareKeys(keys[i-1], keys[i]) >= 0 {
			return false
		}
	}
	return true
}

// Compact gives back the spare capacity the per-key lists grew while rules
// were put one by one: after a bulk load, about a third of what they hold.
// It walks every key: call it after a bulk load, not after each change.
func (x *Index) Compact() {
	for k, list := range x.byKey {
		if cap(list) > len(list) {
			x.byKey[k] = slices.Clone(list)
		}
	}
}

// Remove drops the rule id, if indexed.
func (x *Index) Remove(id int64) {
	old, ok := x.rules[id]
	if !ok {
		return
	}
	delete(x.rules, id)
	for _, k := range old.Keys {
		list := x.byKey[k]
		i := slices.IndexFunc(list, func(c *Compiled) bool { return c.Rule.ID == id })
		if i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(x.byKey, k)
		} else {
			x.byKey[k] = list
		}
	}
	if old.Unresolved {
		if i := slices.IndexFunc(x.unresolved, func(c *Compiled) bool { return c.Rule.ID == id }); i >= 0 {
			x.unresolved = slices.Delete(x.unresolved, i, i+1)
		}
	}
}

// Get returns the entry of rule id.
func (x *Index) Get(id int64) (*IndexEntry, bool) {
	e, ok := x.rules[id]
	return e, ok
}

// Len is the number of indexed rules.
func (x *Index) Len() int { return len(x.rules) }

// Keys is the number of distinct keys rules are indexed under.
func (x *Index) Keys() int { return len(x.byKey) }

// Entries yields every indexed rule, in no particular order.
func (x *Index) Entries() iter.Seq[*IndexEntry] {
	return func(yield func(*IndexEntry) bool) {
		for _, e := range x.rules {
			if !yield(e) {
				return
			}
		}
	}
}

// Unresolved returns the unresolved rules, ordered by id. The slice is the
// index's: read it before the next Put or Remove, and do not modify it.
func (x *Index) Unresolved() []*Compiled { return x.unresolved }

// Candidates appends to dst the distinct rules sharing a key with p, and
// the unresolved rules when p carries an artifact, ordered by rule id so
// that results do not depend on map order, and returns the extended
// slice. It does not allocate when no rule shares a key with p.
func (x *Index) Candidates(dst []*Compiled, p *bus.Parsed) []*Compiled {
	var keyBuf [16]Key
	start := len(dst)
	for _, k := range AppendMessageKeys(keyBuf[:0], p) {
		dst = append(dst, x.byKey[k]...)
	}
	if len(x.unresolved) > 0 && hasArtifacts(p) {
		dst = append(dst, x.unresolved...)
	}
	out := dst[start:]
	if len(out) < 2 {
		return dst
	}
	slices.SortFunc(out, func(a, b *Compiled) int { return cmp.Compare(a.Rule.ID, b.Rule.ID) })
	return dst[:start+len(slices.CompactFunc(out, func(a, b *Compiled) bool { return a.Rule.ID == b.Rule.ID }))]
}

// Match appends to dst the notifications p yields through the indexed
// rules (see MatchCandidates) and returns the extended slice.
func (x *Index) Match(ctx context.Context, dst []Match, p *bus.Parsed, lk Lookups) ([]Match, error) {
	var candBuf [8]*Compiled
	return MatchCandidates(ctx, dst, x.Candidates(candBuf[:0], p), p, lk)
}

// Match is one notification a message yields, before rendering: the
// destination, its user (the owner of the first rule that sends there),
// and every rule that produced it, in the order they were checked.
type Match struct {
	Destination Destination `json:"destination"`
	User        string      `json:"user"`
	RuleIDs     []int64     `json:"rule_ids"`
}

// MatchCandidates checks the candidate rules cands (in order; see
// Candidates) exactly against p and appends to dst their notifications:
// at most one per destination, naming every rule that produced it. An
// error (a lookup failed) means that p must be retried, not dropped.
//
// The spare capacity of dst is reused, the RuleIDs of the Match values
// it held included: a caller that reuses a slice as scratch space
// (matches[:0]) must not keep what it held.
func MatchCandidates(ctx context.Context, dst []Match, cands []*Compiled, p *bus.Parsed, lk Lookups) ([]Match, error) {
	var destBuf [8]Destination
	dests := destBuf[:0]
	start := len(dst)
	for _, c := range cands {
		var err error
		dests, err = c.AppendMatch(ctx, dests[:0], p, lk)
		if err != nil {
			return dst, fmt.Errorf("rule %d: %w", c.Rule.ID, err)
		}
		for _, d := range dests {
			i := slices.IndexFunc(dst[start:], func(m Match) bool { return m.Destination == d })
			if i < 0 {
				var ids []int64
				if n := len(dst); n < cap(dst) {
					ids = dst[:n+1][n].RuleIDs[:0]
				}
				dst = append(dst, Match{Destination: d, User: c.Rule.User.Name, RuleIDs: ids})
				i = len(dst) - 1 - start
			}
			m := &dst[start+i]
			m.RuleIDs = append(m.RuleIDs, c.Rule.ID)
		}
	}
	return dst, nil
}

// CompareKeys orders keys by kind, then value.
func CompareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
}
