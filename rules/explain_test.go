package rules_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	msg := func(f func(p *bus.Parsed)) *bus.Parsed {
		p := &bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob",
			Usernames: []string{"alice", "bob"}, Packages: []string{"python-requests"}}
		if f != nil {
			f(p)
		}
		return p
	}
	tests := []struct {
		name    string
		rule    rules.Rule
		lk      rules.Lookups
		msg     *bus.Parsed
		matched bool
		// refusal holds pieces the one-line refusal must contain.
		refusal []string
	}{
		{"matches", rule(rules.TrackRelatedEvents, "null", mail), nil, msg(nil), true, nil},
		{"not among users", rule(rules.TrackRelatedEvents, "null", mail), nil,
			msg(func(p *bus.Parsed) { p.Usernames = []string{"bob", "carol"} }), false,
			[]string{"tracking rule related-events", `owner "alice" is not among the message's users [bob carol]`}},
		{"application filter", rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{Applications: []string{"koji", "Copr"}}, aliceMail)), nil,
			msg(nil), false,
			[]string{"generation rule 1: filter applications", `application "bodhi" is not in [koji Copr]`}},
		{"excluded application", rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{ExcludedApplications: []string{"Bodhi"}}, aliceMail)), nil,
			msg(nil), false, []string{"filter excluded_applications", `application "bodhi" is in [Bodhi]`}},
		{"no application", rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{Applications: []string{"koji"}}, aliceMail)), nil,
			msg(func(p *bus.Parsed) { p.App = "" }), false, []string{"the message has no application"}},
		{"debug by default", rule(rules.TrackRelatedEvents, "null", mail), nil,
			msg(func(p *bus.Parsed) { p.Severity = bus.SeverityDebug }), false,
			[]string{"filter severities", `severity "debug" is not in [info warning error] (the default)`}},
		{"topic", rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{Topic: ptr("*.koji.*")}, aliceMail)), nil,
			msg(nil), false, []string{"filter topic", `does not match "*.koji.*"`}},
		{"my actions", rule(rules.TrackRelatedEvents, "null", mail), nil,
			msg(func(p *bus.Parsed) { p.Agent = "alice" }), false,
			[]string{"filter my_actions", `agent "alice" is the owner, and my_actions is false`}},
		{"second generation rule passes", rule(rules.TrackRelatedEvents, "null",
			gen(rules.Filters{Applications: []string{"koji"}}, aliceMail), gen(rules.Filters{}, aliceIRC)), nil, msg(nil), true, nil},
		{"agent not followed", rule(rules.TrackUsersFollowed, `["carol"]`, mail), nil, msg(nil), false,
			[]string{`agent "bob" is not among the followed users [carol]`}},
		{"artifact not followed", rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}]`, mail), nil, msg(nil), false,
			[]string{"none of the followed artifacts [rpms/firefox] is among the message's artifacts [rpms/python-requests]"}},
		{"owned without lookups", rule(rules.TrackArtifactsOwned, `["alice"]`, mail), nil, msg(nil), false,
			[]string{"ownership lookups (dist-git) are not configured"}},
		{"owned", rule(rules.TrackArtifactsOwned, `["alice"]`, mail), distgit, msg(nil), true, nil},
		{"not owned", rule(rules.TrackArtifactsOwned, `["carol"]`, mail), distgit, msg(nil), false,
			[]string{"belongs to the users [carol] (artifacts each has: carol: 1)"}},
		{"disabled", func() rules.Rule { r := rule(rules.TrackRelatedEvents, "null", mail); r.Disabled = true; return r }(), nil,
			msg(nil), false, []string{"the rule is disabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := rules.Compile(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			e := c.Explain(context.Background(), tt.msg, tt.lk)
			dests, _ := c.Match(context.Background(), tt.msg, tt.lk)
			if e.Matched != tt.matched || e.Matched != (len(dests) > 0) {
				t.Fatalf("matched %v, want %v (Match gives %v): %+v", e.Matched, tt.matched, dests, e)
			}
			got := e.Refusal()
			if tt.matched && got != "" {
				t.Errorf("a match has a refusal: %q", got)
			}
			for _, want := range tt.refusal {
				if !strings.Contains(got, want) {
					t.Errorf("refusal %q\nlacks %q", got, want)
				}
			}
		})
	}
}
