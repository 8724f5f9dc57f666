package rules_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/rules"
)

// validRule returns a rule that passes validation, to be spoiled by a test.
func validRule() *rules.Rule {
	return &rules.Rule{
		Name:         "My packages",
		User:         rules.User{Name: "alice"},
		TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: json.RawMessage(`["alice"]`)},
		GenerationRules: []rules.GenerationRule{{
			Destinations: []rules.Destination{aliceMail, aliceIRC, aliceMatrix},
			Filters: rules.Filters{
				Applications:         []string{"bodhi", "Koji"},
				ExcludedApplications: []string{"copr"},
				Severities:           []string{"warning", "error"},
				Topic:                ptr("org.fedoraproject.*.bodhi.*"),
			},
		}},
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		mod  func(r *rules.Rule)
	}{
		{"the base rule", func(*rules.Rule) {}},
		{"users-followed", func(r *rules.Rule) {
			r.TrackingRule = rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: json.RawMessage(`["bob", "carol_1", "d.e-f"]`)}
		}},
		// Anitya's agents are OpenID URLs and email addresses: FMN users
		// follow them too.
		{"users-followed of agents that are not usernames", func(r *rules.Rule) {
			r.TrackingRule = rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: json.RawMessage(
				`["http://cleaver.id.fedoraproject.org/", "zbyszek@in.waw.pl", "https://accounts.fedoraproject.org/user/pingou"]`)}
		}},
		{"artifacts-group-owned", func(r *rules.Rule) {
			r.TrackingRule = rules.TrackingRule{Name: rules.TrackArtifactsGroupOwned, Params: json.RawMessage(`["python-sig"]`)}
		}},
		{"artifacts-followed of every type", func(r *rules.Rule) {
			r.TrackingRule = rules.TrackingRule{Name: rules.TrackArtifactsFollowed, Params: json.RawMessage(
				`[{"name": "firefox", "type": "rpms"}, {"name": "toolbox", "type": "containers"},
				  {"type": "modules", "name": "nodejs"}, {"name": "org.gnome.Maps", "type": "flatpaks"},
				  {"name": "gtk+", "type": "rpms"}]`)}
		}},
		{"related-events with null params", func(r *rules.Rule) {
			r.TrackingRule = rules.TrackingRule{Name: rules.TrackRelatedEvents, Params: json.RawMessage(`null`)}
		}},
		{"related-events without params", func(r *rules.Rule) {
			r.TrackingRule = rules.TrackingRule{Name: rules.TrackRelatedEvents}
		}},
		{"sse to the owner", func(r *rules.Rule) {
			r.GenerationRules[0].Destinations[0] = rules.Destination{Protocol: rules.ProtocolSSE, Address: "alice"}
		}},
		// The API validates before it sets the owner; the owner check
		// runs again where the owner is set (rulelog).
		{"sse before the owner is known", func(r *rules.Rule) {
			r.User = rules.User{}
			r.GenerationRules[0].Destinations[0] = rules.Destination{Protocol: rules.ProtocolSSE, Address: "bob"}
		}},
		{"no filters at all", func(r *rules.Rule) { r.GenerationRules[0].Filters = rules.Filters{} }},
		{"empty topic", func(r *rules.Rule) { r.GenerationRules[0].Filters.Topic = ptr("") }},
		{"severities in any case", func(r *rules.Rule) { r.GenerationRules[0].Filters.Severities = []string{"Debug", "INFO"} }},
		{"application with a space", func(r *rules.Rule) { r.GenerationRules[0].Filters.Applications = []string{"Fedora Badges"} }},
		{"unicode name", func(r *rules.Rule) { r.Name = "Mes paquets préférés 📦" }},
		{"addresses of every accepted form", func(r *rules.Rule) {
			r.GenerationRules[0].Destinations = []rules.Destination{
				{Protocol: "email", Address: "first.last+tag@mail.example.org"},
				{Protocol: "email", Address: "root@localhost"},
				{Protocol: "email", Address: "o'brien@xn--bcher-kva.example"},
				{Protocol: "email", Address: "joerg@bücher.example"},
				{Protocol: "irc", Address: "[bot]"},
				{Protocol: "irc", Address: "Alice|away"},
				{Protocol: "irc", Address: "a_b-c9"},
				{Protocol: "matrix", Address: "@alice:fedora.im"},
				{Protocol: "matrix", Address: "@alice.b=c/d+e:matrix.example.org:8448"},
				{Protocol: "matrix", Address: "@bob:localhost"},
				{Protocol: "matrix", Address: "@bob:127.0.0.1:8008"},
				{Protocol: "matrix", Address: "@bob:[::1]:8008"},
			}
		}},
		{"limits reached, not exceeded", func(r *rules.Rule) {
			r.Name = strings.Repeat("n", rules.MaxNameLen)
			names := make([]string, rules.MaxParams)
			for i := range names {
				names[i] = fmt.Sprintf("user%d", i)
			}
			params, _ := json.Marshal(names)
			r.TrackingRule.Params = params
			dests := make([]rules.Destination, rules.MaxDestinations)
			for i := range dests {
				dests[i] = rules.Destination{Protocol: "email", Address: fmt.Sprintf("a%d@example.org", i)}
			}
			gr := rules.GenerationRule{Destinations: dests}
			r.GenerationRules = slices.Repeat([]rules.GenerationRule{gr}, rules.MaxGenerationRules)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRule()
			tt.mod(r)
			if err := rules.Validate(r); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if _, err := rules.Compile(*r); err != nil {
				t.Errorf("Compile of a valid rule: %v", err)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	t.Parallel()

	const validTrackingNames = "valid names: artifacts-owned, artifacts-group-owned, artifacts-followed, related-events, users-followed"
	setParams := func(name, params string) func(r *rules.Rule) {
		return func(r *rules.Rule) {
			r.TrackingRule = rules.TrackingRule{Name: name}
			if params != "" {
				r.TrackingRule.Params = json.RawMessage(params)
			}
		}
	}
	setDest := func(protocol, address string) func(r *rules.Rule) {
		return func(r *rules.Rule) {
			r.GenerationRules[0].Destinations[1] = rules.Destination{Protocol: protocol, Address: address}
		}
	}
	const dest = "generation_rules[0].destinations[1]"
	const filters = "generation_rules[0].filters"

	tests := []struct {
		name string
		mod  func(r *rules.Rule)
		want []rules.FieldError
	}{
		// Name.
		{"name with a tab", func(r *rules.Rule) { r.Name = " \t " },
			[]rules.FieldError{{"name", `name " \t " contains a control character (U+0009)`}}},
		{"oversize name", func(r *rules.Rule) { r.Name = strings.Repeat("n", rules.MaxNameLen+1) },
			[]rules.FieldError{{"name", "name is too long (256 characters; at most 255)"}}},
		{"huge name", func(r *rules.Rule) { r.Name = strings.Repeat("n", 1<<20) },
			[]rules.FieldError{{"name", "name is too long (1048576 characters; at most 255)"}}},
		{"name with control characters", func(r *rules.Rule) { r.Name = "pkgs\x1b[31m" },
			[]rules.FieldError{{"name", `name "pkgs\x1b[31m" contains a control character (U+001B)`}}},
		{"name with a line separator", func(r *rules.Rule) { r.Name = "a\u2028b" },
			[]rules.FieldError{{"name", `name "a\u2028b" contains a control character (U+2028)`}}},
		{"name not UTF-8", func(r *rules.Rule) { r.Name = "caf\xe9" },
			[]rules.FieldError{{"name", `name "caf\xe9" is not valid UTF-8`}}},

		// Tracking rule name.
		{"unknown tracking rule", setParams("artifacts-liked", `["x"]`),
			[]rules.FieldError{{"tracking_rule.name", `unknown tracking rule "artifacts-liked"; ` + validTrackingNames}}},
		{"unknown tracking rule with a huge name", setParams(strings.Repeat("x", 100000), `["x"]`),
			[]rules.FieldError{{"tracking_rule.name", `unknown tracking rule "` + strings.Repeat("x", 40) + `"…; ` + validTrackingNames}}},
		{"missing tracking rule", setParams("", ""),
			[]rules.FieldError{{"tracking_rule.name", "a tracking rule is required; " + validTrackingNames}}},

		// Params of the list-of-names rules.
		{"artifacts-owned without params", setParams("artifacts-owned", ""),
			[]rules.FieldError{{"tracking_rule.params", `artifacts-owned needs params: a list of usernames, e.g. ["alice"]`}}},
		{"artifacts-owned with null params", setParams("artifacts-owned", "null"),
			[]rules.FieldError{{"tracking_rule.params", `artifacts-owned needs a list of usernames, e.g. ["alice"]; got null`}}},
		{"artifacts-owned with an empty list", setParams("artifacts-owned", "[]"),
			[]rules.FieldError{{"tracking_rule.params", `artifacts-owned needs at least one username, e.g. ["alice"]`}}},
		{"artifacts-owned with a string", setParams("artifacts-owned", `"alice"`),
			[]rules.FieldError{{"tracking_rule.params", `artifacts-owned needs a list of usernames, e.g. ["alice"]; got a string`}}},
		{"artifacts-owned with FMN v2's object", setParams("artifacts-owned", `{"username": "alice"}`),
			[]rules.FieldError{{"tracking_rule.params", `artifacts-owned needs a list of usernames, e.g. ["alice"]; got an object`}}},
		{"artifacts-owned with bad usernames", setParams("artifacts-owned", `["alice", 3, "al ice", "", "-x", "bob\u0000"]`),
			[]rules.FieldError{
				{"tracking_rule.params[1]", "each param of artifacts-owned must be a username (a string), got a number"},
				{"tracking_rule.params[2]", `username "al ice" is not valid: use letters, digits, ".", "_" and "-", and do not start with "-"`},
				{"tracking_rule.params[3]", "username must not be empty"},
				{"tracking_rule.params[4]", `username "-x" is not valid: use letters, digits, ".", "_" and "-", and do not start with "-"`},
				{"tracking_rule.params[5]", `username "bob\x00" contains a control character (U+0000)`},
			}},
		{"artifacts-owned with too many users", setParams("artifacts-owned", "["+strings.Repeat(`"a",`, rules.MaxParams)+`"a"]`),
			[]rules.FieldError{{"tracking_rule.params", "too many params (101; at most 100)"}}},
		{"artifacts-owned with a huge username", setParams("artifacts-owned", `["`+strings.Repeat("a", 10000)+`"]`),
			[]rules.FieldError{{"tracking_rule.params[0]", "username is too long (10000 characters; at most 64)"}}},
		{"artifacts-group-owned with objects and dist-git paths", setParams("artifacts-group-owned", `["rpms/foo", {"name": "sig"}]`),
			[]rules.FieldError{
				{"tracking_rule.params[0]", `group name "rpms/foo" must be a plain name, without "/"`},
				{"tracking_rule.params[1]", "each param of artifacts-group-owned must be a group name (a string), got an object"},
			}},
		{"artifacts-group-owned with an empty list", setParams("artifacts-group-owned", "[]"),
			[]rules.FieldError{{"tracking_rule.params", `artifacts-group-owned needs at least one group name, e.g. ["alice"]`}}},
		{"users-followed with null", setParams("users-followed", "null"),
			[]rules.FieldError{{"tracking_rule.params", `users-followed needs a list of usernames, e.g. ["alice"]; got null`}}},
		{"users-followed with lists inside", setParams("users-followed", `[["bob"]]`),
			[]rules.FieldError{{"tracking_rule.params[0]", "each param of users-followed must be a username (a string), got a list"}}},
		{"users-followed with a padded name", setParams("users-followed", `[" bob"]`),
			[]rules.FieldError{{"tracking_rule.params[0]", `username " bob" is not valid: a username or agent has no spaces (one person per entry)`}}},
		{"users-followed with a line break", setParams("users-followed", `["bob\nEvil: x"]`),
			[]rules.FieldError{{"tracking_rule.params[0]", `username "bob\nEvil: x" contains a control character (U+000A)`}}},

		// Params of artifacts-followed.
		{"artifacts-followed with names only", setParams("artifacts-followed", `["firefox"]`),
			[]rules.FieldError{{"tracking_rule.params[0]", `each param of artifacts-followed must be an object {"name", "type"}, got a string`}}},
		{"artifacts-followed with an empty list", setParams("artifacts-followed", `[]`),
			[]rules.FieldError{{"tracking_rule.params", `artifacts-followed needs at least one artifact, e.g. [{"name": "firefox", "type": "rpms"}]`}}},
		{"artifacts-followed with bad objects", setParams("artifacts-followed", `[
				{"name": "firefox"},
				{"type": "rpms"},
				{"name": 3, "type": "rpms"},
				{"name": "rpms/firefox", "type": "package"},
				{"name": "x", "type": "rpms", "extra": 1},
				{"name": "x", "type": "snaps"},
				{"name": "fire fox", "type": "rpms"},
				{"name": "", "type": "rpms"}]`),
			[]rules.FieldError{
				{"tracking_rule.params[0].type", `"type" is required; valid types: rpms, containers, modules, flatpaks`},
				{"tracking_rule.params[1].name", `"name" is required`},
				{"tracking_rule.params[2].name", `"name" must be a string, got a number`},
				{"tracking_rule.params[3].name", `artifact name "rpms/firefox" must be the plain name, without the type and "/" (set the type in "type")`},
				{"tracking_rule.params[3].type", `unknown artifact type "package"; valid types: rpms, containers, modules, flatpaks (did you mean "rpms"?)`},
				{"tracking_rule.params[4]", `unknown field "extra"; an artifact has only "name" and "type"`},
				{"tracking_rule.params[5].type", `unknown artifact type "snaps"; valid types: rpms, containers, modules, flatpaks`},
				{"tracking_rule.params[6].name", `artifact name "fire fox" must not contain spaces`},
				{"tracking_rule.params[7].name", "artifact name must not be empty"},
			}},

		// Params of related-events.
		{"related-events with params", setParams("related-events", `["alice"]`),
			[]rules.FieldError{{"tracking_rule.params", "related-events takes no params (it follows your own username); send null or leave params out"}}},

		// Generation rules and destinations.
		{"too many generation rules", func(r *rules.Rule) {
			r.GenerationRules = slices.Repeat(r.GenerationRules, rules.MaxGenerationRules+1)
		}, []rules.FieldError{{"generation_rules", "too many generation rules (21; at most 20)"}}},
		{"too many destinations", func(r *rules.Rule) {
			r.GenerationRules[0].Destinations = slices.Repeat([]rules.Destination{aliceMail}, rules.MaxDestinations+1)
		}, []rules.FieldError{{"generation_rules[0].destinations", "too many destinations (21; at most 20)"}}},
		{"unknown protocol", setDest("sms", "+15555550100"),
			[]rules.FieldError{{dest + ".protocol", `unknown protocol "sms"; valid protocols: email, irc, matrix, sse`}}},
		{"missing protocol", setDest("", "alice"),
			[]rules.FieldError{{dest + ".protocol", "protocol is required; valid protocols: email, irc, matrix, sse"}}},
		{"sse of another user", setDest("sse", "bob"),
			[]rules.FieldError{{dest + ".address", `the address of an sse destination must be your own username "alice", not "bob"`}}},
		{"sse not a username", setDest("sse", "al ice"),
			[]rules.FieldError{{dest + ".address", `the address of an sse destination is your username; "al ice" is not a username`}}},
		{"email without at", setDest("email", "wrongvalue"),
			[]rules.FieldError{{dest + ".address", `email address "wrongvalue" does not look like local@domain`}}},
		{"email without local part", setDest("email", "@example.org"),
			[]rules.FieldError{{dest + ".address", `email address "@example.org" does not look like local@domain`}}},
		{"email without domain", setDest("email", "alice@"),
			[]rules.FieldError{{dest + ".address", `email address "alice@" does not look like local@domain`}}},
		{"email with a display name", setDest("email", "Alice <alice@example.org>"),
			[]rules.FieldError{{dest + ".address", `email address "Alice <alice@example.org>" does not look like local@domain`}}},
		{"email with two ats", setDest("email", "a@b@example.org"),
			[]rules.FieldError{{dest + ".address", `email address "a@b@example.org" does not look like local@domain`}}},
		{"email with a bad domain", setDest("email", "alice@-example..org"),
			[]rules.FieldError{{dest + ".address", `email address "alice@-example..org" does not look like local@domain`}}},
		{"email with header injection", setDest("email", "alice@example.org\r\nBcc: eve@example.org"),
			[]rules.FieldError{{dest + ".address", `email address "alice@example.org\r\nBcc: eve@example.org" contains a control character (U+000D)`}}},
		{"email too long", setDest("email", strings.Repeat("a", 64)+"@"+strings.Repeat("b", 200)+".org"),
			[]rules.FieldError{{dest + ".address", "email address is too long (269 characters; at most 254)"}}},
		{"irc nick starting with a digit", setDest("irc", "1abc"),
			[]rules.FieldError{{dest + ".address", "IRC nick \"1abc\" is not valid: start with a letter or one of []\\`_^{|}, then use letters, digits, \"-\" and those characters"}}},
		{"irc nick with a space", setDest("irc", "al ice"),
			[]rules.FieldError{{dest + ".address", "IRC nick \"al ice\" is not valid: start with a letter or one of []\\`_^{|}, then use letters, digits, \"-\" and those characters"}}},
		{"irc nick as a URL", setDest("irc", "irc:/alice"),
			[]rules.FieldError{{dest + ".address", "IRC nick \"irc:/alice\" is not valid: start with a letter or one of []\\`_^{|}, then use letters, digits, \"-\" and those characters"}}},
		{"irc empty nick", setDest("irc", ""),
			[]rules.FieldError{{dest + ".address", "IRC nick \"\" is not valid: start with a letter or one of []\\`_^{|}, then use letters, digits, \"-\" and those characters"}}},
		{"irc nick too long", setDest("irc", strings.Repeat("a", 33)),
			[]rules.FieldError{{dest + ".address", "IRC nick is too long (33 characters; at most 32)"}}},
		{"matrix bare nick", setDest("matrix", "dummynick"),
			[]rules.FieldError{{dest + ".address", `Matrix address "dummynick" should be in the form @username:server.tld`}}},
		{"matrix without server", setDest("matrix", "@alice"),
			[]rules.FieldError{{dest + ".address", `Matrix address "@alice" should be in the form @username:server.tld`}}},
		{"matrix with an empty server", setDest("matrix", "@alice:"),
			[]rules.FieldError{{dest + ".address", `Matrix address "@alice:" should be in the form @username:server.tld`}}},
		{"matrix with a bad port", setDest("matrix", "@alice:fedora.im:99999"),
			[]rules.FieldError{{dest + ".address", `Matrix address "@alice:fedora.im:99999" should be in the form @username:server.tld`}}},
		{"matrix room instead of user", setDest("matrix", "#fedora:fedora.im"),
			[]rules.FieldError{{dest + ".address", `Matrix address "#fedora:fedora.im" should be in the form @username:server.tld`}}},
		{"matrix with a space", setDest("matrix", "@al ice:fedora.im"),
			[]rules.FieldError{{dest + ".address", `Matrix address "@al ice:fedora.im" should be in the form @username:server.tld`}}},

		// Filters.
		{"unknown severities", func(r *rules.Rule) { r.GenerationRules[0].Filters.Severities = []string{"info", "critical", ""} },
			[]rules.FieldError{
				{filters + ".severities[1]", `unknown severity "critical"; valid ones: debug, info, warning, error`},
				{filters + ".severities[2]", `unknown severity ""; valid ones: debug, info, warning, error`},
			}},
		{"too many severities", func(r *rules.Rule) { r.GenerationRules[0].Filters.Severities = slices.Repeat([]string{"info"}, 1000) },
			[]rules.FieldError{{filters + ".severities", "too many severities (1000); valid ones: debug, info, warning, error"}}},
		{"topic glob that does not compile", func(r *rules.Rule) { r.GenerationRules[0].Filters.Topic = ptr("org.[prod") },
			[]rules.FieldError{{filters + ".topic", `topic "org.[prod" is not a valid glob: unclosed "[" at position 5 (write [[] to match a literal "[")`}}},
		{"topic glob with a reversed range", func(r *rules.Rule) { r.GenerationRules[0].Filters.Topic = ptr("org.[z-a]*") },
			[]rules.FieldError{{filters + ".topic", `topic "org.[z-a]*" is not a valid glob: range "z-a" at position 5 matches nothing (write the lower bound first)`}}},
		{"topic with a trailing space", func(r *rules.Rule) { r.GenerationRules[0].Filters.Topic = ptr("org.fedoraproject.* ") },
			[]rules.FieldError{{filters + ".topic", `topic "org.fedoraproject.* " must not contain spaces`}}},
		{"topic with a newline", func(r *rules.Rule) { r.GenerationRules[0].Filters.Topic = ptr("org.*\n") },
			[]rules.FieldError{{filters + ".topic", `topic "org.*\n" contains a control character (U+000A)`}}},
		{"topic too long", func(r *rules.Rule) { r.GenerationRules[0].Filters.Topic = ptr(strings.Repeat("a.", 200)) },
			[]rules.FieldError{{filters + ".topic", "topic is too long (400 characters; at most 255)"}}},
		{"bad application names", func(r *rules.Rule) {
			r.GenerationRules[0].Filters.Applications = []string{"", "bo\x00dhi", strings.Repeat("k", 101)}
		}, []rules.FieldError{
			{filters + ".applications[0]", "application name must not be empty"},
			{filters + ".applications[1]", `application name "bo\x00dhi" contains a control character (U+0000)`},
			{filters + ".applications[2]", "application name is too long (101 characters; at most 100)"},
		}},
		{"bad excluded application", func(r *rules.Rule) { r.GenerationRules[0].Filters.ExcludedApplications = []string{" "} },
			[]rules.FieldError{{filters + ".excluded_applications[0]", "application name must not be empty"}}},
		{"too many applications", func(r *rules.Rule) {
			r.GenerationRules[0].Filters.Applications = slices.Repeat([]string{"bodhi"}, rules.MaxFilterValues+1)
		}, []rules.FieldError{{filters + ".applications", "too many applications (101; at most 100)"}}},

		// Several problems are reported together, in document order.
		{"problems everywhere", func(r *rules.Rule) {
			r.Name = ""
			r.TrackingRule = rules.TrackingRule{Name: "users-followed", Params: json.RawMessage(`[""]`)}
			r.GenerationRules = append(r.GenerationRules, rules.GenerationRule{
				Destinations: []rules.Destination{{Protocol: "matrix", Address: "alice"}},
				Filters:      rules.Filters{Severities: []string{"fatal"}},
			})
		}, []rules.FieldError{
			{"tracking_rule.params[0]", "username must not be empty"},
			{"generation_rules[1].destinations[0].address", `Matrix address "alice" should be in the form @username:server.tld`},
			{"generation_rules[1].filters.severities[0]", `unknown severity "fatal"; valid ones: debug, info, warning, error`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRule()
			tt.mod(r)
			err := rules.Validate(r)
			var got rules.ValidationErrors
			if !errors.As(err, &got) {
				t.Fatalf("Validate = %v, want ValidationErrors", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate found:\n%s\nwant:\n%s", fieldErrors(got), fieldErrors(tt.want))
			}
		})
	}
}

// TestValidateAcceptsWhatFMNAccepts: no name (FMN #805), a generation rule
// without destinations or filters. A rule without generation rules, which
// FMN's models allow, stays refused: fmn's contract is one or more.
func TestValidateAcceptsWhatFMNAccepts(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(r *rules.Rule){
		"empty name":      func(r *rules.Rule) { r.Name = "" },
		"blank name":      func(r *rules.Rule) { r.Name = "   " },
		"no destinations": func(r *rules.Rule) { r.GenerationRules[0].Destinations = nil },
		"no filters":      func(r *rules.Rule) { r.GenerationRules[0].Filters = rules.Filters{} },
	} {
		r := validRule()
		mod(r)
		if err := rules.Validate(r); err != nil {
			t.Errorf("%s: Validate = %v, want nil", name, err)
		}
	}
	r := validRule()
	r.GenerationRules = nil
	if err := rules.Validate(r); err == nil || !strings.Contains(err.Error(), "at least one generation rule") {
		t.Errorf("no generation rules: Validate = %v, want the contract's refusal", err)
	}
}

func fieldErrors(errs []rules.FieldError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\t%s\t%s\n", e.Location, e.Message)
	}
	return b.String()
}

func TestValidateCapsErrors(t *testing.T) {
	t.Parallel()

	r := validRule()
	bad := slices.Repeat([]rules.Destination{{Protocol: "matrix", Address: "x"}}, rules.MaxDestinations)
	r.GenerationRules = slices.Repeat([]rules.GenerationRule{{Destinations: bad}}, 3) // 60 problems

	var errs rules.ValidationErrors
	if !errors.As(rules.Validate(r), &errs) {
		t.Fatal("Validate accepted the rule")
	}
	if len(errs) != 51 {
		t.Fatalf("Validate returned %d errors, want 50 and a count", len(errs))
	}
	if last := errs[50]; last != (rules.FieldError{Message: "and 10 more problems"}) {
		t.Errorf("last error = %+v", last)
	}
}

func TestValidationErrorsError(t *testing.T) {
	t.Parallel()

	err := rules.ValidationErrors{
		{Location: "name", Message: "the rule needs a name"},
		{Message: "and 3 more problems"},
	}
	const want = "invalid rule: name: the rule needs a name; and 3 more problems"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
