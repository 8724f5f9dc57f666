package replay

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// Match is one notification a message yields, before rendering: the
// destination, its user, and every rule that produced it. It is what the
// consumer's matcher decides (consumer.Matcher.Match renders these same
// groups); a replay renders only when it resends.
type Match struct {
	Destination rules.Destination `json:"destination"`
	User        string            `json:"user"`
	RuleIDs     []int64           `json:"rule_ids"`
}

// Render renders the notification as the consumer does.
func (m Match) Render(p *bus.Parsed, site notification.Site, now time.Time) *notification.Notification {
	return notification.Render(p, m.User, m.Destination, m.RuleIDs, site, now)
}

// ruleIndex finds a message's candidate rules by index key and checks
// them exactly, like the consumer, but read-only and without rendering:
// a replay of a million messages should not render a million emails to
// print a list of rule ids.
type ruleIndex struct {
	byKey map[rules.Key][]*rules.Compiled
	rules int
}

func newRuleIndex(ctx context.Context, list []rules.Rule, lk rules.Lookups, log *slog.Logger) (*ruleIndex, error) {
	x := &ruleIndex{byKey: map[rules.Key][]*rules.Compiled{}}
	for _, r := range list {
		if r.Disabled {
			continue
		}
		c, err := rules.Compile(r)
		if err != nil {
			log.Warn("rule does not compile; not matching it", "rule", r.ID, "user", r.User.Name, "err", err)
			continue
		}
		keys, err := c.Keys(ctx, lk)
		if err != nil {
			return nil, fmt.Errorf("index keys of rule %d: %w", r.ID, err)
		}
		slices.SortFunc(keys, func(a, b rules.Key) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
		})
		for _, k := range slices.Compact(keys) {
			x.byKey[k] = append(x.byKey[k], c)
		}
		x.rules++
	}
	return x, nil
}

// match returns p's notifications: at most one per destination, naming
// every rule that produced it, candidates taken in rule id order.
func (x *ruleIndex) match(ctx context.Context, p *bus.Parsed, lk rules.Lookups) ([]Match, error) {
	var keyBuf [16]rules.Key
	var cands []*rules.Compiled
	for _, k := range rules.AppendMessageKeys(keyBuf[:0], p) {
		cands = append(cands, x.byKey[k]...)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	slices.SortFunc(cands, func(a, b *rules.Compiled) int { return cmp.Compare(a.Rule.ID, b.Rule.ID) })
	cands = slices.CompactFunc(cands, func(a, b *rules.Compiled) bool { return a.Rule.ID == b.Rule.ID })
	var out []Match
	var dests []rules.Destination
	for _, c := range cands {
		var err error
		dests, err = c.AppendMatch(ctx, dests[:0], p, lk)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", c.Rule.ID, err)
		}
		for _, d := range dests {
			i := slices.IndexFunc(out, func(m Match) bool { return m.Destination == d })
			if i < 0 {
				out = append(out, Match{Destination: d, User: c.Rule.User.Name})
				i = len(out) - 1
			}
			out[i].RuleIDs = append(out[i].RuleIDs, c.Rule.ID)
		}
	}
	return out, nil
}
