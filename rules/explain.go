package rules

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fmn-project/fmn/bus"
)

// Explanation says why a rule did or did not match a message: the verdict
// of its tracking rule and of every filter of every generation rule, each
// with the values it compared. Operators read it when a user reports a
// notification that did not come (or one that should not have).
type Explanation struct {
	RuleID   int64  `json:"rule_id"`
	RuleName string `json:"rule_name"`
	User     string `json:"user"`
	Disabled bool   `json:"disabled"`
	// Deprecated: the message's schema is deprecated, so no rule sends it
	// (the app sends the event with a newer schema too).
	Deprecated bool `json:"deprecated,omitempty"`
	// Matched is what Match decides: the rule yields at least one
	// destination.
	Matched bool `json:"matched"`
	// Tracking is the tracking rule's verdict; not evaluated (Passed false)
	// for a disabled rule.
	Tracking Check `json:"tracking"`
	// Generations are evaluated only when the tracking rule matched.
	Generations  []GenerationCheck `json:"generation_rules,omitempty"`
	Destinations []Destination     `json:"destinations,omitempty"`
	// Err is the lookup error that kept the tracking rule from being
	// decided (the consumer would retry the message).
	Err string `json:"error,omitempty"`
}

// Check is the verdict of the tracking rule or of one filter.
type Check struct {
	// Name is the tracking rule's or the filter's name as the rule JSON
	// spells it ("related-events", "applications", ...).
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Detail states the values compared.
	Detail string `json:"detail"`
}

// GenerationCheck is the verdict of one generation rule: every filter, in
// the order matching applies them.
type GenerationCheck struct {
	// Index is 1-based, as people count.
	Index        int           `json:"index"`
	Passed       bool          `json:"passed"`
	Filters      []Check       `json:"filters"`
	Destinations []Destination `json:"destinations"`
}

// Filter names of FMN's rule JSON.
const (
	FilterApplications         = "applications"
	FilterExcludedApplications = "excluded_applications"
	FilterSeverities           = "severities"
	FilterTopic                = "topic"
	FilterMyActions            = "my_actions"
)

// Refusal names what refused the message, as one line: the tracking rule,
// or the first refusing filter of each generation rule. It is "" when the
// rule matched.
func (e Explanation) Refusal() string {
	switch {
	case e.Matched:
		return ""
	case e.Disabled:
		return "the rule is disabled"
	case e.Deprecated:
		return "the message's schema is deprecated: its app sends the event with a newer schema too, which is notified instead"
	case e.Err != "":
		return "tracking rule " + e.Tracking.Name + " could not be decided: " + e.Err
	case !e.Tracking.Passed:
		return "tracking rule " + e.Tracking.Name + " refused it: " + e.Tracking.Detail
	case len(e.Generations) == 0:
		return "the rule has no generation rules"
	}
	var parts []string
	for _, g := range e.Generations {
		for _, f := range g.Filters {
			if !f.Passed {
				parts = append(parts, fmt.Sprintf("generation rule %d: filter %s refused it: %s", g.Index, f.Name, f.Detail))
				break
			}
		}
		if g.Passed && len(g.Destinations) == 0 {
			parts = append(parts, fmt.Sprintf("generation rule %d has no destinations", g.Index))
		}
	}
	return strings.Join(parts, "; ")
}

// Explain evaluates the rule against p as Match does and says why. The
// verdicts come from the same checks that Match runs; Matched and
// Destinations are Match's own result. An error from lk is reported in
// Err, not returned: an explanation is still useful without it.
func (c *Compiled) Explain(ctx context.Context, p *bus.Parsed, lk Lookups) Explanation {
	e := Explanation{RuleID: c.id, RuleName: c.Name(), User: c.owner, Disabled: c.disabled,
		Deprecated: p.Deprecated, Tracking: Check{Name: c.Tracking()}}
	if c.disabled {
		e.Tracking.Detail = "not evaluated: the rule is disabled"
		return e
	}
	ok, err := c.tracks(ctx, p, lk)
	if err != nil {
		e.Err = err.Error()
		e.Tracking.Detail = "lookup failed"
		return e
	}
	e.Tracking.Passed = ok
	e.Tracking.Detail = c.describeTracking(ctx, p, lk, ok)
	if !ok {
		return e
	}
	sev := messageSeverityBit(p.Severity)
	mine := p.Agent != "" && p.Agent == c.owner
	for i := range c.gens {
		g := &c.gens[i]
		var f Filters
		if c.src != nil && i < len(c.src.GenerationRules) {
			f = c.src.GenerationRules[i].Filters
		}
		gc := GenerationCheck{Index: i + 1, Destinations: slices.Clone(g.dests), Filters: []Check{
			c.checkMyActions(g, p, mine),
			checkSeverities(g, f, p, sev),
			checkApplications(g, f, p),
			checkExcluded(g, f, p),
			checkTopic(g, p),
		}}
		gc.Passed = g.passes(p, sev, mine)
		e.Generations = append(e.Generations, gc)
	}
	dests, err := c.Match(ctx, p, lk)
	if err != nil {
		e.Err = err.Error()
	}
	e.Destinations = dests
	e.Matched = len(dests) > 0
	return e
}

func (c *Compiled) describeTracking(ctx context.Context, p *bus.Parsed, lk Lookups, ok bool) string {
	names := c.Names()
	switch c.track {
	case trackRelatedEvents:
		if ok {
			return fmt.Sprintf("owner %q is among the message's users %s", c.owner, list(p.Usernames))
		}
		return fmt.Sprintf("owner %q is not among the message's users %s", c.owner, list(p.Usernames))
	case trackUsersFollowed:
		if p.Agent == "" {
			return fmt.Sprintf("the message has no agent; followed users are %s", list(names))
		}
		if ok {
			return fmt.Sprintf("agent %q is among the followed users %s", p.Agent, list(names))
		}
		return fmt.Sprintf("agent %q is not among the followed users %s", p.Agent, list(names))
	case trackArtifactsFollowed:
		followed := make([]string, 0, len(c.terms))
		for _, k := range c.terms {
			followed = append(followed, k.String())
		}
		slices.Sort(followed)
		if ok {
			return fmt.Sprintf("the message's artifacts %s include one of the followed %s", list(messageArtifactNames(p)), list(followed))
		}
		return fmt.Sprintf("none of the followed artifacts %s is among the message's artifacts %s", list(followed), list(messageArtifactNames(p)))
	case trackArtifactsOwned, trackArtifactsGroupOwned:
		who := "users"
		if c.track == trackArtifactsGroupOwned {
			who = "groups"
		}
		switch {
		case lk == nil:
			return "ownership lookups (dist-git) are not configured, so this tracking rule cannot match"
		case !hasArtifacts(p):
			return "the message names no artifacts"
		}
		var owns []string
		for _, n := range names {
			set, err := c.owned(ctx, lk, n)
			if err != nil {
				return err.Error()
			}
			var hit string
			messageArtifacts(p, func(k Key) bool {
				if set.hasKey(k) {
					hit = k.String()
					return true
				}
				return false
			})
			if hit != "" {
				return fmt.Sprintf("%q has access to %s", n, hit)
			}
			owns = append(owns, fmt.Sprintf("%s: %d", n, set.Len()))
		}
		return fmt.Sprintf("none of the message's artifacts %s belongs to the %s %s (artifacts each has: %s)",
			list(messageArtifactNames(p)), who, list(names), strings.Join(owns, ", "))
	}
	return "unknown tracking rule"
}

func (c *Compiled) checkMyActions(g *compiledGen, p *bus.Parsed, mine bool) Check {
	ck := Check{Name: FilterMyActions, Passed: g.passesMyActions(mine)}
	switch {
	case !mine && p.Agent == "":
		ck.Detail = "the message has no agent"
	case !mine:
		ck.Detail = fmt.Sprintf("agent %q is not the owner %q", p.Agent, c.owner)
	case g.myActions:
		ck.Detail = fmt.Sprintf("agent %q is the owner, and my_actions is true", p.Agent)
	default:
		ck.Detail = fmt.Sprintf("agent %q is the owner, and my_actions is false", p.Agent)
	}
	return ck
}

func checkSeverities(g *compiledGen, f Filters, p *bus.Parsed, sev uint8) Check {
	name := "info"
	if p.Severity != 0 {
		name = bus.SeverityName(p.Severity)
	}
	allowed := list(f.Severities)
	if len(f.Severities) == 0 {
		allowed = "[info warning error] (the default)"
	}
	ck := Check{Name: FilterSeverities, Passed: g.passesSeverities(sev)}
	if ck.Passed {
		ck.Detail = fmt.Sprintf("severity %q is in %s", name, allowed)
	} else {
		ck.Detail = fmt.Sprintf("severity %q is not in %s", name, allowed)
	}
	return ck
}

func checkApplications(g *compiledGen, f Filters, p *bus.Parsed) Check {
	ck := Check{Name: FilterApplications, Passed: g.passesApplications(p.App)}
	switch {
	case len(g.appList()) == 0:
		ck.Detail = "empty: every application passes"
	case p.App == "":
		ck.Detail = fmt.Sprintf("the message has no application; the list is %s", list(f.Applications))
	case ck.Passed:
		ck.Detail = fmt.Sprintf("application %q is in %s", p.App, list(f.Applications))
	default:
		ck.Detail = fmt.Sprintf("application %q is not in %s", p.App, list(f.Applications))
	}
	return ck
}

func checkExcluded(g *compiledGen, f Filters, p *bus.Parsed) Check {
	ck := Check{Name: FilterExcludedApplications, Passed: g.passesExcluded(p.App)}
	switch {
	case len(g.excludedList()) == 0:
		ck.Detail = "empty: no application is excluded"
	case p.App == "":
		ck.Detail = "the message has no application"
	case ck.Passed:
		ck.Detail = fmt.Sprintf("application %q is not in %s", p.App, list(f.ExcludedApplications))
	default:
		ck.Detail = fmt.Sprintf("application %q is in %s", p.App, list(f.ExcludedApplications))
	}
	return ck
}

func checkTopic(g *compiledGen, p *bus.Parsed) Check {
	ck := Check{Name: FilterTopic, Passed: g.passesTopic(p.Topic)}
	switch {
	case g.topic == nil:
		ck.Detail = "none: every topic passes"
	case ck.Passed:
		ck.Detail = fmt.Sprintf("topic %q matches %q", p.Topic, g.topic.pattern)
	default:
		ck.Detail = fmt.Sprintf("topic %q does not match %q", p.Topic, g.topic.pattern)
	}
	return ck
}

func messageArtifactNames(p *bus.Parsed) []string {
	var out []string
	messageArtifacts(p, func(k Key) bool {
		out = append(out, k.String())
		return false
	})
	return out
}

// list renders names as [a b c], quoting those that need it.
func list(names []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		if n == "" || strings.ContainsAny(n, " []\"") {
			b.WriteString(strconv.Quote(n))
		} else {
			b.WriteString(n)
		}
	}
	b.WriteByte(']')
	return b.String()
}
