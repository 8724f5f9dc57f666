package rules_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/fmn-project/fmn/rules"
)

func TestShippedTemplatesAreValid(t *testing.T) {
	for i, tpl := range rules.ShippedTemplates() {
		if err := rules.ValidateTemplate(&tpl); err != nil {
			t.Errorf("shipped template %d: %v", i, err)
		}
	}
}

func TestValidateTemplate(t *testing.T) {
	tpl := rules.Rule{
		TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsGroupOwned, Params: json.RawMessage(`["{me}"]`)},
		GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{
			{Protocol: "email", Address: "someone@example.org"}, {Protocol: "pager"},
		}}},
	}
	var ve rules.ValidationErrors
	if err := rules.ValidateTemplate(&tpl); !errors.As(err, &ve) {
		t.Fatalf("ValidateTemplate: %v", err)
	}
	var locs []string
	for _, fe := range ve {
		locs = append(locs, fe.Location)
	}
	want := []string{"tracking_rule.params[0]", "generation_rules[0].destinations[1].protocol", "generation_rules[0].destinations[0].address"}
	if !slices.Equal(locs, want) {
		t.Errorf("locations %q, want %q", locs, want)
	}
	// {me} is a username where usernames go; the template is unchanged.
	tpl = rules.Rule{
		TrackingRule:    rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: json.RawMessage(`["{me}","bob"]`)},
		GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "sse"}, {Protocol: "matrix"}}}},
	}
	if err := rules.ValidateTemplate(&tpl); err != nil {
		t.Fatal(err)
	}
	if string(tpl.TrackingRule.Params) != `["{me}","bob"]` || tpl.GenerationRules[0].Destinations[0].Address != "" {
		t.Errorf("ValidateTemplate changed the template: %+v", tpl)
	}
}

func TestInstantiate(t *testing.T) {
	tpl := rules.Rule{
		Name:         "mine",
		TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: json.RawMessage(`["{me}","bob"]`)},
		GenerationRules: []rules.GenerationRule{
			{Destinations: []rules.Destination{{Protocol: "irc"}, {Protocol: "email"}, {Protocol: "irc"}}},
			{Destinations: []rules.Destination{{Protocol: "matrix"}}},
		},
	}
	own := []rules.Destination{{Protocol: "email", Address: "a@example.org"}, {Protocol: "email", Address: "b@example.org"}}
	r, ok := rules.Instantiate(tpl, "alice", own)
	if !ok || r.Origin != rules.OriginDefault || r.User.Name != "alice" || string(r.TrackingRule.Params) != `["alice","bob"]` {
		t.Fatalf("Instantiate: %+v, %v", r, ok)
	}
	// No IRC nick: only the first email; no Matrix: that generation rule goes.
	if len(r.GenerationRules) != 1 || !slices.Equal(r.GenerationRules[0].Destinations, []rules.Destination{{Protocol: "email", Address: "a@example.org"}}) {
		t.Errorf("generation rules %+v", r.GenerationRules)
	}
	if err := rules.Validate(&r); err != nil {
		t.Errorf("an instantiated rule is not valid: %v", err)
	}
	if tpl.GenerationRules[0].Destinations[0].Address != "" || len(tpl.GenerationRules) != 2 {
		t.Errorf("Instantiate changed the template: %+v", tpl)
	}
	if _, ok := rules.Instantiate(tpl, "bob", nil); ok {
		t.Error("a user without any address got a rule that sends nowhere")
	}
}
