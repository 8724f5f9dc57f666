package rules_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// designRule is the FMN v3 rule JSON of DESIGN.md.
const designRule = `{"id": 12, "name": "My packages", "disabled": false,
 "user": {"name": "alice"},
 "tracking_rule": {"name": "artifacts-owned", "params": ["alice"]},
 "generation_rules": [{
   "destinations": [{"protocol": "email", "address": "alice@example.org"}],
   "filters": {"applications": [], "excluded_applications": [], "severities": [],
               "topic": null, "my_actions": false}}],
 "generated_last_week": 0}`

func TestRuleJSONRoundTrip(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		json string
	}{
		{"design example", designRule},
		{"every field set", `{"id": 7, "name": "Everything", "disabled": true,
			"user": {"name": "bob"},
			"tracking_rule": {"name": "artifacts-followed", "params": [{"name": "firefox", "type": "rpms"}, {"name": "toolbox", "type": "containers"}]},
			"generation_rules": [
				{"destinations": [{"protocol": "irc", "address": "bob"}, {"protocol": "matrix", "address": "@bob:fedora.im"}],
				 "filters": {"applications": ["bodhi"], "excluded_applications": ["koji"], "severities": ["debug", "error"],
				             "topic": "org.fedoraproject.*.bodhi.*", "my_actions": true}},
				{"destinations": [{"protocol": "email", "address": "bob@example.org"}],
				 "filters": {"applications": [], "excluded_applications": [], "severities": [], "topic": null, "my_actions": false}}],
			"generated_last_week": 42}`},
		{"related-events with null params", `{"id": 1, "name": "Mine", "disabled": false, "user": {"name": "alice"},
			"tracking_rule": {"name": "related-events", "params": null},
			"generation_rules": [{"destinations": [{"protocol": "email", "address": "alice@example.org"}],
				"filters": {"applications": [], "excluded_applications": [], "severities": [], "topic": null, "my_actions": false}}],
			"generated_last_week": 0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dec := json.NewDecoder(bytes.NewReader([]byte(tt.json)))
			dec.DisallowUnknownFields() // every field of the contract has a home
			var r rules.Rule
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := rules.Validate(&r); err != nil {
				t.Errorf("Validate: %v", err)
			}
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal([]byte(tt.json), &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the rule:\n got %s\nwant %s", out, tt.json)
			}
		})
	}
}

// TestDesignRuleMatches runs the design's example rule end to end: alice
// owns the package of the message.
func TestDesignRuleMatches(t *testing.T) {
	t.Parallel()

	var r rules.Rule
	if err := json.Unmarshal([]byte(designRule), &r); err != nil {
		t.Fatal(err)
	}
	c, err := rules.Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	msg := &bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob", Packages: []string{"python-requests"}}
	got, err := c.Match(t.Context(), msg, distgit)
	if err != nil {
		t.Fatal(err)
	}
	if want := []rules.Destination{aliceMail}; !reflect.DeepEqual(got, want) {
		t.Errorf("Match = %v, want %v", got, want)
	}
	if c.ID() != 12 || c.User() != "alice" || c.Name() != "My packages" || c.Rule().Name != "My packages" {
		t.Errorf("Compiled: id %d, user %q, name %q, rule %+v", c.ID(), c.User(), c.Name(), c.Rule())
	}
}
