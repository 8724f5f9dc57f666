package replay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fmn-project/fmn/rules"
)

// Match is one notification a message yields, before rendering: the
// destination, its user, and every rule that produced it. It is what the
// consumer's matcher decides (consumer.Matcher.Match renders these same
// matches of rules.Index); a replay renders only when it resends.
type Match = rules.Match

// newRuleIndex indexes the enabled rules of list, as the consumer does:
// a replay finds a message's candidate rules by index key and checks them
// exactly, read-only and without rendering (a replay of a million
// messages should not render a million emails to print a list of rule
// ids). A rule whose keys cannot be looked up fails the replay.
func newRuleIndex(ctx context.Context, list []rules.Rule, lk rules.Lookups, log *slog.Logger) (*rules.Index, error) {
	x := rules.NewIndex()
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
		x.Put(c, keys, false)
	}
	return x, nil
}
