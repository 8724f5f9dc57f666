package consumer

import (
	"slices"

	"github.com/fmn-project/fmn/rules"
)

// index maps the keys a message can carry (usernames, agent, artifacts) to
// the rules that track them, so a message only meets its candidate rules.
type index struct {
	rules map[int64]*indexed
	byKey map[rules.Key][]*rules.Compiled
}

type indexed struct {
	c    *rules.Compiled
	keys []rules.Key
}

func newIndex() *index {
	return &index{rules: map[int64]*indexed{}, byKey: map[rules.Key][]*rules.Compiled{}}
}

func (x *index) put(c *rules.Compiled, keys []rules.Key) {
	x.remove(c.Rule.ID)
	keys = slices.Clone(keys)
	slices.SortFunc(keys, compareKeys)
	keys = slices.Compact(keys)
	x.rules[c.Rule.ID] = &indexed{c: c, keys: keys}
	for _, k := range keys {
		x.byKey[k] = append(x.byKey[k], c)
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
}

// candidates returns the distinct rules sharing a key with the message,
// ordered by rule id so results do not depend on map order.
func (x *index) candidates(keys []rules.Key) []*rules.Compiled {
	var out []*rules.Compiled
	for _, k := range keys {
		out = append(out, x.byKey[k]...)
	}
	if len(out) < 2 {
		return out
	}
	slices.SortFunc(out, func(a, b *rules.Compiled) int {
		switch {
		case a.Rule.ID < b.Rule.ID:
			return -1
		case a.Rule.ID > b.Rule.ID:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(out, func(a, b *rules.Compiled) bool { return a.Rule.ID == b.Rule.ID })
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
