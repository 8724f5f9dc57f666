package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// The JSON of the API is FMN v3's, field for field (DESIGN.md, "Rules").
// Request types accept the read-only fields an FMN client sends back (id,
// user, generated_last_week, a generation rule's id) and ignore them;
// anything else unknown is refused, so that a misspelt filter is an error
// rather than silently dropped.

// Rule is a rule as the API returns it.
type Rule struct {
	ID                int64            `json:"id" doc:"The rule's id: the RULES stream sequence of its creation event." example:"12"`
	Name              *string          `json:"name" doc:"The rule's name; null when it has none." example:"My packages"`
	Disabled          bool             `json:"disabled" doc:"A disabled rule sends nothing."`
	User              User             `json:"user"`
	TrackingRule      TrackingRule     `json:"tracking_rule"`
	GenerationRules   []GenerationRule `json:"generation_rules"`
	GeneratedLastWeek int64            `json:"generated_last_week" doc:"Notifications the rule generated in the last 7 days."`
	Origin            *string          `json:"origin,omitempty" enum:"default" doc:"default: the rule was made from the admins' default rules when you first logged in; absent for a rule somebody made."`
}

// NewRule is the body of a rule creation or replacement.
type NewRule struct {
	Name            *string          `json:"name,omitempty" nullable:"true" maxLength:"255" doc:"Optional (null or missing: no name)." example:"My packages"`
	Disabled        bool             `json:"disabled,omitempty" doc:"Create the rule disabled, or disable it (default false)."`
	TrackingRule    TrackingRule     `json:"tracking_rule"`
	GenerationRules []GenerationRule `json:"generation_rules" maxItems:"20" doc:"Each generation rule whose filters all pass yields one notification per destination."`

	ID                *int64  `json:"id,omitempty" readOnly:"true" doc:"Ignored (FMN clients send the rule they read)."`
	User              *UserIn `json:"user,omitempty" readOnly:"true" doc:"Ignored: the owner is the user of the path."`
	GeneratedLastWeek *int64  `json:"generated_last_week,omitempty" readOnly:"true" doc:"Ignored."`
	Origin            *string `json:"origin,omitempty" nullable:"true" readOnly:"true" doc:"Ignored: a rule's origin is set when it is created and kept."`
}

// TrackingRule decides whether a rule fires.
type TrackingRule struct {
	Name   string          `json:"name" enum:"artifacts-owned,artifacts-group-owned,artifacts-followed,related-events,users-followed" doc:"artifacts-owned: artifacts the listed users own; artifacts-group-owned: artifacts the listed groups own; artifacts-followed: the listed artifacts; related-events: messages that name you; users-followed: actions of the listed users."`
	Params json.RawMessage `json:"params" required:"false" doc:"A list of usernames (artifacts-owned, users-followed), of group names (artifacts-group-owned), of {\"name\", \"type\"} objects with type rpms, containers, modules or flatpaks (artifacts-followed); null for related-events."`
}

// GenerationRule yields notifications when its filters pass.
type GenerationRule struct {
	ID           *int64        `json:"id,omitempty" readOnly:"true" doc:"The generation rule's id: the rule's id times 32 plus its index, so the one at an index keeps its id when the rule changes, as in FMN. Ignored on input."`
	Destinations []Destination `json:"destinations" maxItems:"20" doc:"Where to send: your own addresses (see /users/{username}/destinations)."`
	Filters      Filters       `json:"filters" required:"false" doc:"All must pass; a missing or empty filter passes."`
}

// Destination is an address on a protocol.
type Destination struct {
	Protocol string `json:"protocol" enum:"email,irc,matrix,sse" example:"email"`
	Address  string `json:"address" minLength:"1" maxLength:"255" example:"alice@example.org" doc:"email: local@domain; irc: a nick; matrix: @username:server.tld; sse (your live feed in the browser): your own username."`
}

// Filters of a generation rule. Every one is optional on input and always
// present on output.
type Filters struct {
	Applications         []string `json:"applications" required:"false" maxItems:"100" doc:"Only messages of these applications (case-insensitive); empty: all."`
	ExcludedApplications []string `json:"excluded_applications" required:"false" maxItems:"100" doc:"Not messages of these applications (case-insensitive)."`
	Severities           []string `json:"severities" required:"false" maxItems:"16" enum:"debug,info,warning,error" doc:"Only these severities; empty: info, warning and error."`
	Topic                *string  `json:"topic" required:"false" maxLength:"255" doc:"Shell-style glob (*, ?, [...]) on the full topic; null: any topic." example:"org.fedoraproject.prod.bodhi.*"`
	MyActions            bool     `json:"my_actions" required:"false" doc:"Also notify about your own actions (default false)."`
}

// RulePatch is an admin's change of a rule; a missing field changes
// nothing.
type RulePatch struct {
	Disabled *bool `json:"disabled,omitempty" doc:"Disable (true) or enable (false) the rule."`
}

// User is FMN's User: the logged-in user, a rule's owner, an admin's view
// of a user.
type User struct {
	ID      *int64 `json:"id" doc:"The user's id: the RULES stream sequence of the event that first recorded them. Null for a user recorded before fmn kept ids, until the projection is rebuilt." example:"3"`
	Name    string `json:"name" example:"alice"`
	IsAdmin bool   `json:"is_admin" doc:"Whether the user is an admin: the logged-in user's own status in /users/me; false elsewhere, as in FMN (its database does not know)."`
}

// UserIn is a user object a client sends back inside a rule (ignored):
// every field optional, as FMN's model has them.
type UserIn struct {
	ID      *int64 `json:"id,omitempty" nullable:"true"`
	Name    string `json:"name,omitempty"`
	IsAdmin bool   `json:"is_admin,omitempty"`
}

// AdminUser is a user known to fmn: FMN's User (is_admin always false, as
// FMN answers it here) and when fmn first saw them.
type AdminUser struct {
	ID        *int64    `json:"id" doc:"The user's id (see /users/me)." example:"3"`
	Name      string    `json:"name" example:"alice"`
	IsAdmin   bool      `json:"is_admin" doc:"Always false here, as in FMN."`
	CreatedAt time.Time `json:"created_at" doc:"When fmn first saw the user."`
}

// Artifact is a dist-git artifact.
type Artifact struct {
	Name string `json:"name" example:"firefox"`
	Type string `json:"type" enum:"rpms,containers,modules,flatpaks" example:"rpms"`
}

// toRule turns a request body into the rule model, with every filter list
// present (FMN echoes [] for a filter nobody set).
func (n *NewRule) toRule() rules.Rule {
	name := ""
	if n.Name != nil && strings.TrimSpace(*n.Name) != "" {
		name = *n.Name
	}
	r := rules.Rule{
		Name:            name,
		Disabled:        n.Disabled,
		TrackingRule:    rules.TrackingRule{Name: n.TrackingRule.Name, Params: normParams(n.TrackingRule.Params)},
		GenerationRules: make([]rules.GenerationRule, len(n.GenerationRules)),
	}
	for i, g := range n.GenerationRules {
		r.GenerationRules[i] = g.toModel()
	}
	return r
}

func (g *GenerationRule) toModel() rules.GenerationRule {
	out := rules.GenerationRule{
		Destinations: make([]rules.Destination, len(g.Destinations)),
		Filters: rules.Filters{
			Applications:         nonNil(g.Filters.Applications),
			ExcludedApplications: nonNil(g.Filters.ExcludedApplications),
			Severities:           nonNil(g.Filters.Severities),
			Topic:                g.Filters.Topic,
			MyActions:            g.Filters.MyActions,
		},
	}
	if out.Filters.Topic != nil && *out.Filters.Topic == "" {
		out.Filters.Topic = nil
	}
	for i, d := range g.Destinations {
		out.Destinations[i] = rules.Destination(d)
	}
	return out
}

// normParams maps a missing params to null.
func normParams(p json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(p)) == 0 {
		return json.RawMessage("null")
	}
	return p
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ruleOut is a stored rule as the API shows it.
func ruleOut(sr rulelog.StoredRule) Rule {
	return rulesOut([]rulelog.StoredRule{sr})[0]
}

// rulesOut is stored rules as the API shows them. The parts of every rule
// (name, generation rules, their ids and destinations) come from one array
// each for the whole list: a listing of 20 rules made 100 allocations
// here before.
func rulesOut(list []rulelog.StoredRule) []Rule {
	var nStr, nGen, nDest int
	for i := range list {
		sr := &list[i]
		if sr.Name != "" {
			nStr++
		}
		if sr.Origin != "" {
			nStr++
		}
		nGen += len(sr.GenerationRules)
		for _, g := range sr.GenerationRules {
			nDest += len(g.Destinations)
		}
	}
	out := make([]Rule, len(list))
	strs := make([]string, nStr)
	gens := make([]GenerationRule, nGen)
	gids := make([]int64, nGen)
	dests := make([]Destination, nDest)
	for i := range list {
		sr := &list[i]
		r := &out[i]
		*r = Rule{
			ID:                sr.ID,
			Disabled:          sr.Disabled,
			User:              User{ID: sr.UserID, Name: sr.User.Name},
			TrackingRule:      TrackingRule{Name: sr.TrackingRule.Name, Params: normParams(sr.TrackingRule.Params)},
			GenerationRules:   gens[:len(sr.GenerationRules):len(sr.GenerationRules)],
			GeneratedLastWeek: sr.GeneratedLastWeek,
		}
		gens = gens[len(sr.GenerationRules):]
		if sr.Name != "" {
			strs[0] = sr.Name
			r.Name, strs = &strs[0], strs[1:]
		}
		if sr.Origin != "" {
			strs[0] = sr.Origin
			r.Origin, strs = &strs[0], strs[1:]
		}
		for j, g := range sr.GenerationRules {
			n := len(g.Destinations)
			ds := dests[:n:n]
			dests = dests[n:]
			for k, d := range g.Destinations {
				ds[k] = Destination(d)
			}
			gids[0] = rules.GenerationRuleID(sr.ID, j)
			r.GenerationRules[j] = GenerationRule{
				ID:           &gids[0],
				Destinations: ds,
				Filters: Filters{
					Applications:         nonNil(g.Filters.Applications),
					ExcludedApplications: nonNil(g.Filters.ExcludedApplications),
					Severities:           nonNil(g.Filters.Severities),
					Topic:                g.Filters.Topic,
					MyActions:            g.Filters.MyActions,
				},
			}
			gids = gids[1:]
		}
	}
	return out
}
