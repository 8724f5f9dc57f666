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
// It is built to hold a million rules lightly for the GC: rules sit in
// numbered slots, keys are interned as numbers (keyTable), and which rule
// has which key is a slab of postings linked by number. Only the slots of
// rules and the unresolved list hold pointers; the rest is scanned by no
// GC mark phase.
//
// An Index is not safe for concurrent use while it changes: readers
// (Candidates, Match, Get, ...) may run concurrently with each other, a
// writer (Put, Remove) needs them stopped (the consumer holds a lock).
type Index struct {
	// rules holds the indexed rules by slot (nil: a free slot, in free).
	rules []*Compiled
	meta  []slotMeta
	slots map[int64]uint32
	free  []uint32

	keys keyTable
	// post holds the postings: a posting says that the rule of a slot is
	// indexed under a key, and is linked into the lists of both.
	post []posting
	// freePost is the first free posting (linked by next), or none.
	freePost uint32

	// unresolved holds the unresolved rules, ordered by id.
	unresolved []*Compiled
	seq        uint64
}

// none ends a list of postings.
const none = ^uint32(0)

type slotMeta struct {
	seq uint64
	// first is the rule's first posting, or none; its postings follow
	// each other (nextOfRule) in the order of its keys.
	first      uint32
	unresolved bool
}

type posting struct {
	slot, key uint32
	// prev and next link the postings of the key.
	prev, next uint32
	nextOfRule uint32
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
	return &Index{slots: map[int64]uint32{}, freePost: none, keys: newKeyTable()}
}

// Put indexes c under keys, replacing the rule of the same id. With
// unresolved, c is also a candidate for every message with an artifact.
// The index keeps its own copy of keys.
func (x *Index) Put(c *Compiled, keys []Key, unresolved bool) {
	x.Remove(c.id)
	if !sortedKeys(keys) {
		keys = slices.Clone(keys)
		slices.SortFunc(keys, CompareKeys)
		keys = slices.Compact(keys)
	}
	x.seq++
	var s uint32
	if n := len(x.free); n > 0 {
		s, x.free = x.free[n-1], x.free[:n-1]
		x.rules[s] = c
	} else {
		s = uint32(len(x.rules))
		x.rules = append(x.rules, c)
		x.meta = append(x.meta, slotMeta{})
	}
	x.slots[c.id] = s
	m := slotMeta{seq: x.seq, first: none, unresolved: unresolved}
	// Backwards, so that the rule's list is in the order of keys.
	for i := len(keys) - 1; i >= 0; i-- {
		k := x.keys.intern(keys[i])
		n := x.newPosting()
		head := x.keys.recs[k].head
		x.post[n] = posting{slot: s, key: k, prev: none, next: head, nextOfRule: m.first}
		if head != none {
			x.post[head].prev = n
		}
		x.keys.recs[k].head = n
		m.first = n
	}
	x.meta[s] = m
	if unresolved {
		i, _ := slices.BinarySearchFunc(x.unresolved, c.id, func(e *Compiled, id int64) int { return cmp.Compare(e.id, id) })
		x.unresolved = slices.Insert(x.unresolved, i, c)
	}
}

func (x *Index) newPosting() uint32 {
	if n := x.freePost; n != none {
		x.freePost = x.post[n].next
		return n
	}
	x.post = append(x.post, posting{})
	return uint32(len(x.post) - 1)
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

// Compact gives back the spare capacity the index grew while rules were
// put one by one: after a bulk load, up to half of what it holds. Call it
// after a bulk load, not after each change.
func (x *Index) Compact() {
	x.rules = slices.Clone(x.rules)
	x.meta = slices.Clone(x.meta)
	x.post = slices.Clone(x.post)
	x.keys.compact()
}

// Remove drops the rule id, if indexed.
func (x *Index) Remove(id int64) {
	s, ok := x.slots[id]
	if !ok {
		return
	}
	delete(x.slots, id)
	m := x.meta[s]
	for n := m.first; n != none; {
		p := x.post[n]
		if p.prev != none {
			x.post[p.prev].next = p.next
		} else {
			x.keys.recs[p.key].head = p.next
		}
		if p.next != none {
			x.post[p.next].prev = p.prev
		}
		if x.keys.recs[p.key].head == none {
			x.keys.release(p.key)
		}
		x.post[n] = posting{next: x.freePost}
		x.freePost = n
		n = p.nextOfRule
	}
	x.rules[s] = nil
	x.meta[s] = slotMeta{}
	x.free = append(x.free, s)
	if m.unresolved {
		if i := slices.IndexFunc(x.unresolved, func(c *Compiled) bool { return c.id == id }); i >= 0 {
			x.unresolved = slices.Delete(x.unresolved, i, i+1)
		}
	}
}

// Get returns the entry of rule id. Its Keys are a copy, made for the call.
func (x *Index) Get(id int64) (*IndexEntry, bool) {
	s, ok := x.slots[id]
	if !ok {
		return nil, false
	}
	return x.entry(s), true
}

func (x *Index) entry(s uint32) *IndexEntry {
	m := x.meta[s]
	var keys []Key
	for n := m.first; n != none; n = x.post[n].nextOfRule {
		keys = append(keys, x.keys.key(x.post[n].key))
	}
	return &IndexEntry{Rule: x.rules[s], Keys: keys, Unresolved: m.unresolved, Seq: m.seq}
}

// Len is the number of indexed rules.
func (x *Index) Len() int { return len(x.slots) }

// Keys is the number of distinct keys rules are indexed under.
func (x *Index) Keys() int { return x.keys.live }

// Entries yields every indexed rule with its keys, in no particular
// order. Each entry is made for the call: Rules is cheaper when the keys
// do not matter.
func (x *Index) Entries() iter.Seq[*IndexEntry] {
	return func(yield func(*IndexEntry) bool) {
		for s, c := range x.rules {
			if c != nil && !yield(x.entry(uint32(s))) {
				return
			}
		}
	}
}

// Rules yields every indexed rule, in no particular order.
func (x *Index) Rules() iter.Seq[*Compiled] {
	return func(yield func(*Compiled) bool) {
		for _, c := range x.rules {
			if c != nil && !yield(c) {
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
// that results do not depend on the index's layout, and returns the
// extended slice. It does not allocate when no rule shares a key with p.
func (x *Index) Candidates(dst []*Compiled, p *bus.Parsed) []*Compiled {
	var keyBuf [16]Key
	start := len(dst)
	for _, k := range AppendMessageKeys(keyBuf[:0], p) {
		id, ok := x.keys.find(k)
		if !ok {
			continue
		}
		for n := x.keys.recs[id].head; n != none; n = x.post[n].next {
			dst = append(dst, x.rules[x.post[n].slot])
		}
	}
	if len(x.unresolved) > 0 && hasArtifacts(p) {
		dst = append(dst, x.unresolved...)
	}
	out := dst[start:]
	if len(out) < 2 {
		return dst
	}
	slices.SortFunc(out, func(a, b *Compiled) int { return cmp.Compare(a.id, b.id) })
	return dst[:start+len(slices.CompactFunc(out, func(a, b *Compiled) bool { return a.id == b.id }))]
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
			return dst, fmt.Errorf("rule %d: %w", c.id, err)
		}
		for _, d := range dests {
			i := slices.IndexFunc(dst[start:], func(m Match) bool { return m.Destination == d })
			if i < 0 {
				var ids []int64
				if n := len(dst); n < cap(dst) {
					ids = dst[:n+1][n].RuleIDs[:0]
				}
				dst = append(dst, Match{Destination: d, User: c.owner, RuleIDs: ids})
				i = len(dst) - 1 - start
			}
			m := &dst[start+i]
			m.RuleIDs = append(m.RuleIDs, c.id)
		}
	}
	return dst, nil
}

// CompareKeys orders keys by kind, then value.
func CompareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
}
