package fmn3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fmn-project/fmn/rules"
)

// Filter names of FMN v3 (its fmn.filters entry points).
var filterNames = []string{"applications", "excluded_applications", "severities", "topic", "my_actions"}

// Convert turns an FMN v3 rule into fmn's rule model and validates it
// with fmn's validation (rules.Validate), as an admin's rule: any
// well-formed address is taken, as FMN took it. It returns the reasons a
// rule cannot be taken, every one of them, or none. A rule without a
// name stays without one, as in FMN.
func Convert(s Source) (rules.Rule, []string) {
	r := rules.Rule{ID: s.ID, User: rules.User{Name: s.User}, Disabled: s.Disabled}
	var problems []string
	if s.Tracking == nil {
		problems = append(problems, "the rule has no tracking rule")
	} else {
		r.TrackingRule = rules.TrackingRule{Name: s.Tracking.Name, Params: params(s.Tracking.Params)}
		if s.Tracking.Name == rules.TrackRelatedEvents {
			// FMN's related-events takes "params: str | None" and ignores it.
			r.TrackingRule.Params = nil
		}
	}
	if s.Name != nil && strings.TrimSpace(*s.Name) != "" {
		r.Name = *s.Name
	}
	r.GenerationRules = make([]rules.GenerationRule, 0, len(s.Generation))
	for i, g := range s.Generation {
		gr := rules.GenerationRule{Destinations: make([]rules.Destination, 0, len(g.Destinations))}
		for _, d := range g.Destinations {
			gr.Destinations = append(gr.Destinations, rules.Destination{Protocol: d.Protocol, Address: d.Address})
		}
		// As FMN's API reads them: one entry per name, the last row wins.
		for _, f := range g.Filters {
			if err := setFilter(&gr.Filters, f); err != nil {
				problems = append(problems, fmt.Sprintf("generation_rules[%d].filters.%s: %v", i, f.Name, err))
			}
		}
		// FMN's lists default to [], never null.
		for _, l := range []*[]string{&gr.Filters.Applications, &gr.Filters.ExcludedApplications, &gr.Filters.Severities} {
			if *l == nil {
				*l = []string{}
			}
		}
		r.GenerationRules = append(r.GenerationRules, gr)
	}
	if err := rules.Validate(&r); err != nil {
		var ve rules.ValidationErrors
		if errors.As(err, &ve) {
			for _, fe := range ve {
				problems = append(problems, fe.Error())
			}
		} else {
			problems = append(problems, err.Error())
		}
	}
	return r, problems
}

// params is a JSON column's value; SQL NULL and JSON null are both nil.
func params(p json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(p)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return t
}

func setFilter(f *rules.Filters, sf SourceFilter) error {
	p := params(sf.Params)
	switch sf.Name {
	case "applications":
		return decodeList(p, &f.Applications)
	case "excluded_applications":
		return decodeList(p, &f.ExcludedApplications)
	case "severities":
		return decodeList(p, &f.Severities)
	case "topic":
		f.Topic = nil
		if p == nil {
			return nil
		}
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return fmt.Errorf("topic must be a string or null, got %s", cut(p))
		}
		if s != "" {
			f.Topic = &s
		}
		return nil
	case "my_actions":
		f.MyActions = false
		if p == nil {
			return nil
		}
		if err := json.Unmarshal(p, &f.MyActions); err != nil {
			return fmt.Errorf("my_actions must be true or false, got %s", cut(p))
		}
		return nil
	default:
		return fmt.Errorf("unknown filter %q; fmn knows %s", sf.Name, strings.Join(filterNames, ", "))
	}
}

func decodeList(p json.RawMessage, dst *[]string) error {
	*dst = nil
	if p == nil {
		return nil
	}
	var list []string
	if err := json.Unmarshal(p, &list); err != nil {
		return fmt.Errorf("must be a list of strings, got %s", cut(p))
	}
	*dst = list
	return nil
}

// cut shortens a JSON value for a message.
func cut(p json.RawMessage) string {
	const n = 60
	if len(p) > n {
		return string(p[:n]) + "…"
	}
	return string(p)
}
