package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// A template is a Rule that an admin writes for every new user (the
// default rules): its destinations give a protocol only, and its tracking
// params may say Me where a username goes. Instantiate turns it into one
// user's rule.

// Me stands for the user in the params of a template's artifacts-owned or
// users-followed tracking rule.
const Me = "{me}"

// ShippedTemplates are the default rules when an admin has set none: the
// user's own events and the artifacts they own, by email.
func ShippedTemplates() []Rule {
	byEmail := func() []GenerationRule {
		return []GenerationRule{{
			Destinations: []Destination{{Protocol: ProtocolEmail}},
			Filters:      Filters{Applications: []string{}, ExcludedApplications: []string{}, Severities: []string{}},
		}}
	}
	return []Rule{
		{Name: "Events about me", TrackingRule: TrackingRule{Name: TrackRelatedEvents, Params: json.RawMessage("null")}, GenerationRules: byEmail()},
		{Name: "Artifacts I own", TrackingRule: TrackingRule{Name: TrackArtifactsOwned, Params: json.RawMessage(`["` + Me + `"]`)}, GenerationRules: byEmail()},
	}
}

// takesMe reports whether the params of tracking rule name are usernames,
// where Me may stand.
func takesMe(name string) bool { return name == TrackArtifactsOwned || name == TrackUsersFollowed }

// withMe returns params with every element Me replaced by user; params
// that are not a list are returned as they are.
func withMe(params json.RawMessage, user string) json.RawMessage {
	var list []json.RawMessage
	if json.Unmarshal(params, &list) != nil || list == nil {
		return params
	}
	me, _ := json.Marshal(Me)
	who, _ := json.Marshal(user)
	changed := false
	for i, el := range list {
		if string(el) == string(me) {
			list[i], changed = who, true
		}
	}
	if !changed {
		return params
	}
	out, _ := json.Marshal(list)
	return out
}

// templateUser is who a template is validated for: a valid username, so
// that Me passes wherever a username may go.
const templateUser = "fmn-template-user"

// templateAddress is a valid address of each protocol, put in place of a
// template's missing addresses for validation.
var templateAddress = map[string]string{
	ProtocolEmail:  "user@example.org",
	ProtocolIRC:    "user",
	ProtocolMatrix: "@user:example.org",
	ProtocolSSE:    templateUser,
}

// ValidateTemplate checks a template as Validate checks a rule, with the
// same locations: a destination must give a known protocol and no address
// (each user's own comes from their account), and Me is accepted where a
// username goes.
func ValidateTemplate(t *Rule) error {
	r := *t
	r.User = User{Name: templateUser}
	if takesMe(r.TrackingRule.Name) {
		r.TrackingRule.Params = withMe(r.TrackingRule.Params, templateUser)
	}
	v := &validator{}
	r.GenerationRules = slices.Clone(r.GenerationRules)
	for gi, g := range r.GenerationRules {
		ds := slices.Clone(g.Destinations)
		for di, d := range ds {
			if d.Address != "" {
				v.add(fmt.Sprintf("generation_rules[%d].destinations[%d].address", gi, di),
					"a default rule's destination gives only its protocol (each user gets their own address of it), not the address %s", quote(d.Address))
			}
			if a, ok := templateAddress[d.Protocol]; ok {
				ds[di].Address = a
			}
		}
		r.GenerationRules[gi].Destinations = ds
	}
	var errs ValidationErrors
	if err := Validate(&r); err != nil && !errors.As(err, &errs) {
		return err
	}
	errs = append(errs, v.errs...)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Instantiate makes user's rule from template t: Me becomes user, and each
// destination the user's first address of its protocol in own (an sse
// destination, the user's live feed). A destination whose protocol the
// user has no address of is left out, and so is a generation rule left
// without destinations; ok is false when no generation rule is left (the
// rule would send nothing). The rule's Origin is OriginDefault.
func Instantiate(t Rule, user string, own []Destination) (r Rule, ok bool) {
	r = t
	r.ID, r.User, r.GeneratedLastWeek, r.Origin = 0, User{Name: user}, 0, OriginDefault
	if takesMe(r.TrackingRule.Name) {
		r.TrackingRule.Params = withMe(r.TrackingRule.Params, user)
	}
	r.GenerationRules = nil
	for _, g := range t.GenerationRules {
		var ds []Destination
		for _, d := range g.Destinations {
			addr := ""
			if d.Protocol == ProtocolSSE {
				addr = user
			} else if i := slices.IndexFunc(own, func(o Destination) bool { return o.Protocol == d.Protocol }); i >= 0 {
				addr = own[i].Address
			}
			nd := Destination{Protocol: d.Protocol, Address: addr}
			if addr != "" && !slices.Contains(ds, nd) {
				ds = append(ds, nd)
			}
		}
		if len(ds) > 0 {
			g.Destinations = ds
			r.GenerationRules = append(r.GenerationRules, g)
		}
	}
	return r, len(r.GenerationRules) > 0
}
