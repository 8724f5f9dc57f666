package consumer

import (
	"slices"

	"github.com/fmn-project/fmn/rules"
)

// index maps the keys a message can carry (usernames, agent, artifacts) to
// the rules that track them, so a message only meets its candidate rules.
//
// An unresolved rule is an ownership rule whose owned artifacts could not
// be looked up: it keeps the keys it had (if any) and is also a candidate
// for every message that carries an artifact, the only messages such a
// rule can match.
type index struct {
	rules map[int64]*indexed
	byKey map[rules.Key][]*rules.Compiled
	// unresolved holds the unresolved rules, ordered by id.
	unresolved []*rules.Compiled
	// seq numbers the puts, so a background update can tell whether the
	// entry it read was replaced meanwhile.
	seq uint64
}

type indexed struct {
	c          *rules.Compiled
	keys       []rules.Key
	unresolved bool
	seq        uint64
}

func newIndex() *index {
	return &index{rules: map[int64]*indexed{}, byKey: map[rules.Key][]*rules.Compiled{}}
}

func (x *index) put(c *rules.Compiled, keys []rules.Key, unresolved bool) {
	x.remove(c.Rule.ID)
	keys = slices.Clone(keys)
	slices.SortFunc(keys, compareKeys)
	keys = slices.Compact(keys)
	x.seq++
	x.rules[c.Rule.ID] = &indexed{c: c, keys: keys, unresolved: unresolved, seq: x.seq}
	for _, k := range keys {
		x.byKey[k] = append(x.byKey[k], c)
	}
	if unresolved {
		i, _ := slices.BinarySearchFunc(x.unresolved, c.Rule.ID, func(e *rules.Compiled, id int64) int { return compareIDs(e.Rule.ID, id) })
		x.unresolved = slices.Insert(x.unresolved, i, c)
	}
}

func (x *index) remove(id int64) {
	old, ok := x.rules[id]
	if !ok {
		return
	}
	delete(x.rules, id)
	for _, k := range old.keys {
		list := x.byKey[k]
		i := slices.IndexFunc(list, func(c *rules.Compiled) bool { return c.Rule.ID == id })
		if i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(x.byKey, k)
		} else {
			x.byKey[k] = list
		}
	}
	if old.unresolved {
		if i := slices.IndexFunc(x.unresolved, func(c *rules.Compiled) bool { return c.Rule.ID == id }); i >= 0 {
			x.unresolved = slices.Delete(x.unresolved, i, i+1)
		}
	}
}

// candidates returns the distinct rules sharing a key with the message,
// and the unresolved rules when the message carries an artifact, ordered
// by rule id so results do not depend on map order.
func (x *index) candidates(keys []rules.Key, artifacts bool) []*rules.Compiled {
	var out []*rules.Compiled
	for _, k := range keys {
		out = append(out, x.byKey[k]...)
	}
	if artifacts {
		out = append(out, x.unresolved...)
	}
	if len(out) < 2 {
		return out
	}
	slices.SortFunc(out, func(a, b *rules.Compiled) int { return compareIDs(a.Rule.ID, b.Rule.ID) })
	return slices.CompactFunc(out, func(a, b *rules.Compiled) bool { return a.Rule.ID == b.Rule.ID })
}

func compareIDs(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareKeys(a, b rules.Key) int {
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	switch {
	case a.Value < b.Value:
		return -1
	case a.Value > b.Value:
		return 1
	}
	return 0
}
