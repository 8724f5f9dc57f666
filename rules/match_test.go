package rules_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

const bodhiTopic = "org.fedoraproject.prod.bodhi.update.comment"

var (
	aliceMail   = rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@example.org"}
	aliceWork   = rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@work.example.com"}
	aliceIRC    = rules.Destination{Protocol: rules.ProtocolIRC, Address: "alice"}
	aliceMatrix = rules.Destination{Protocol: rules.ProtocolMatrix, Address: "@alice:fedora.im"}
)

// rule returns alice's rule 1 with the given tracking rule; params is the
// JSON of the tracking rule's params ("" leaves them out).
func rule(tracking, params string, gens ...rules.GenerationRule) rules.Rule {
	r := rules.Rule{
		ID:              1,
		Name:            "test rule",
		User:            rules.User{Name: "alice"},
		TrackingRule:    rules.TrackingRule{Name: tracking},
		GenerationRules: gens,
	}
	if params != "" {
		r.TrackingRule.Params = json.RawMessage(params)
	}
	return r
}

func gen(f rules.Filters, dests ...rules.Destination) rules.GenerationRule {
	return rules.GenerationRule{Destinations: dests, Filters: f}
}

func ptr(s string) *string { return &s }

// mail is the simplest generation rule: no filters, alice's email.
var mail = gen(rules.Filters{}, aliceMail)

// fakeLookups answers ownership from maps; it plays dist-git.
type fakeLookups struct {
	users  map[string]rules.ArtifactSet
	groups map[string]rules.ArtifactSet
	err    error
}

func (f *fakeLookups) OwnedArtifacts(_ context.Context, user string) (rules.ArtifactSet, error) {
	return f.users[user], f.err
}

func (f *fakeLookups) GroupOwnedArtifacts(_ context.Context, group string) (rules.ArtifactSet, error) {
	return f.groups[group], f.err
}

var distgit = &fakeLookups{
	users: map[string]rules.ArtifactSet{
		"alice": rules.NewArtifactSet(
			rules.Artifact{Type: rules.ArtifactRPMs, Name: "python-requests"},
			rules.Artifact{Type: rules.ArtifactContainers, Name: "toolbox"},
		),
		"carol": rules.NewArtifactSet(rules.Artifact{Type: rules.ArtifactModules, Name: "nodejs"}),
	},
	groups: map[string]rules.ArtifactSet{
		"python-sig": rules.NewArtifactSet(
			rules.Artifact{Type: rules.ArtifactRPMs, Name: "python3"},
			rules.Artifact{Type: rules.ArtifactFlatpaks, Name: "org.gnome.Maps"},
		),
		"kde-sig": rules.NewArtifactSet(rules.Artifact{Type: rules.ArtifactRPMs, Name: "kwin"}),
	},
}

func TestMatch(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		rule rules.Rule
		msg  bus.Parsed
		lk   rules.Lookups
		want []rules.Destination // nil: the rule does not fire
	}{
		// related-events: the owner is among the message's usernames.
		{
			name: "related-events/owner among usernames",
			rule: rule(rules.TrackRelatedEvents, "null", mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob", Usernames: []string{"bob", "alice"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "related-events/params left out",
			rule: rule(rules.TrackRelatedEvents, "", mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob", Usernames: []string{"alice"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "related-events/owner not among usernames",
			rule: rule(rules.TrackRelatedEvents, "null", mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob", Usernames: []string{"bob", "carol"}},
		},
		{
			name: "related-events/usernames compare exactly",
			rule: rule(rules.TrackRelatedEvents, "null", mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob", Usernames: []string{"Alice", "alice2"}},
		},
		{
			name: "related-events/owner as agent only is not related",
			rule: rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{MyActions: true}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "alice"},
		},

		// users-followed: the message's agent is one of the params.
		{
			name: "users-followed/agent followed",
			rule: rule(rules.TrackUsersFollowed, `["bob", "carol"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "carol"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "users-followed/agent not followed",
			rule: rule(rules.TrackUsersFollowed, `["bob", "carol"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "dave", Usernames: []string{"bob"}},
		},
		{
			name: "users-followed/no agent",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Usernames: []string{"bob"}},
		},

		// artifacts-followed: a followed name of the right type is in the message.
		{
			name: "artifacts-followed/rpm in packages",
			rule: rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"thunderbird", "firefox"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-followed/container",
			rule: rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}, {"name": "toolbox", "type": "containers"}]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Containers: []string{"toolbox"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-followed/module",
			rule: rule(rules.TrackArtifactsFollowed, `[{"name": "nodejs", "type": "modules"}]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Modules: []string{"nodejs"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-followed/flatpak",
			rule: rule(rules.TrackArtifactsFollowed, `[{"name": "org.gnome.Maps", "type": "flatpaks"}]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Flatpaks: []string{"org.gnome.Maps"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-followed/same name other type",
			rule: rule(rules.TrackArtifactsFollowed, `[{"name": "nodejs", "type": "rpms"}]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Modules: []string{"nodejs"}},
		},
		{
			name: "artifacts-followed/not followed",
			rule: rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"firefox-esr"}, Usernames: []string{"firefox"}},
		},

		// artifacts-owned: one of the users owns an artifact of the message.
		{
			name: "artifacts-owned/owned rpm",
			rule: rule(rules.TrackArtifactsOwned, `["alice"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"python-requests"}},
			lk:   distgit,
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-owned/owned container",
			rule: rule(rules.TrackArtifactsOwned, `["alice"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Containers: []string{"toolbox"}},
			lk:   distgit,
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-owned/second user owns",
			rule: rule(rules.TrackArtifactsOwned, `["alice", "carol"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Modules: []string{"nodejs"}},
			lk:   distgit,
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-owned/owned by someone else",
			rule: rule(rules.TrackArtifactsOwned, `["alice"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Modules: []string{"nodejs"}, Usernames: []string{"alice"}},
			lk:   distgit,
		},
		{
			name: "artifacts-owned/same name other type",
			rule: rule(rules.TrackArtifactsOwned, `["alice"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"toolbox"}},
			lk:   distgit,
		},
		{
			name: "artifacts-owned/nil lookups never match",
			rule: rule(rules.TrackArtifactsOwned, `["alice"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"python-requests"}},
		},

		// artifacts-group-owned: one of the groups owns an artifact of the message.
		{
			name: "artifacts-group-owned/owned rpm",
			rule: rule(rules.TrackArtifactsGroupOwned, `["python-sig"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"kernel", "python3"}},
			lk:   distgit,
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-group-owned/owned flatpak",
			rule: rule(rules.TrackArtifactsGroupOwned, `["kde-sig", "python-sig"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Flatpaks: []string{"org.gnome.Maps"}},
			lk:   distgit,
			want: []rules.Destination{aliceMail},
		},
		{
			name: "artifacts-group-owned/not owned by the group",
			rule: rule(rules.TrackArtifactsGroupOwned, `["kde-sig"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"python3"}, Groups: []string{"kde-sig"}},
			lk:   distgit,
		},
		{
			name: "artifacts-group-owned/nil lookups never match",
			rule: rule(rules.TrackArtifactsGroupOwned, `["python-sig"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Packages: []string{"python3"}},
		},

		// applications: case-insensitive; no app fails a non-empty list.
		{
			name: "applications/listed",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Applications: []string{"koji", "bodhi"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "applications/rule upper case",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Applications: []string{"Bodhi"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "applications/message upper case",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Applications: []string{"bodhi"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "BODHI", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "applications/not listed",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Applications: []string{"koji"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "applications/message without app fails a list",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Applications: []string{"bodhi"}}, aliceMail)),
			msg:  bus.Parsed{Topic: "weird", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "applications/message without app passes an empty list",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Applications: []string{}}, aliceMail)),
			msg:  bus.Parsed{Topic: "weird", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},

		// excluded_applications: case-insensitive.
		{
			name: "excluded_applications/excluded",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{ExcludedApplications: []string{"bodhi"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "excluded_applications/excluded other case",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{ExcludedApplications: []string{"Koji", "BODHI"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "Bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "excluded_applications/other app passes",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{ExcludedApplications: []string{"koji"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "excluded_applications/message without app passes",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{ExcludedApplications: []string{"koji"}}, aliceMail)),
			msg:  bus.Parsed{Topic: "weird", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},

		// severities: empty means info, warning and error.
		{
			name: "severities/default excludes debug",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityDebug, Agent: "bob"},
		},
		{
			name: "severities/default includes info",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "severities/default includes warning",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityWarning, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "severities/default includes error",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityError, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "severities/unset severity counts as info",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "severities/explicit debug included",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Severities: []string{"debug"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityDebug, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "severities/explicit debug only excludes info",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Severities: []string{"debug"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "severities/listed",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Severities: []string{"warning", "error"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityWarning, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "severities/not listed",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Severities: []string{"warning", "error"}}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},

		// topic: a shell glob on the full topic.
		{
			name: "topic/star crosses dots",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Topic: ptr("org.fedoraproject.*.comment")}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "topic/star alone",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Topic: ptr("*")}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "topic/question mark",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Topic: ptr("org.fedoraproject.pro?.bodhi.update.comment")}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "topic/set",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Topic: ptr("org.fedoraproject.[ps]*.bodhi.*")}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "topic/set excludes",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Topic: ptr("org.fedoraproject.[!p]*.bodhi.*")}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "topic/prefix only does not match",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Topic: ptr("org.fedoraproject.prod.bodhi")}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "topic/empty string is no filter",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{Topic: ptr("")}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail},
		},

		// my_actions: false drops messages whose agent is the owner.
		{
			name: "my_actions/false drops own action",
			rule: rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{MyActions: false}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "alice", Usernames: []string{"alice"}},
		},
		{
			name: "my_actions/true keeps own action",
			rule: rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{MyActions: true}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "alice", Usernames: []string{"alice"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "my_actions/false keeps others' actions",
			rule: rule(rules.TrackRelatedEvents, "null", gen(rules.Filters{MyActions: false}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob", Usernames: []string{"alice"}},
			want: []rules.Destination{aliceMail},
		},
		{
			name: "my_actions/false with users-followed of oneself",
			rule: rule(rules.TrackUsersFollowed, `["alice"]`, mail),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "alice"},
		},

		// Generation rules and destinations.
		{
			name: "generation rules/only passing ones contribute",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`,
				gen(rules.Filters{Applications: []string{"koji"}}, aliceMail),
				gen(rules.Filters{Applications: []string{"bodhi"}}, aliceIRC)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceIRC},
		},
		{
			name: "generation rules/all passing contribute in order",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`,
				gen(rules.Filters{Severities: []string{"error"}}, aliceMatrix),
				gen(rules.Filters{}, aliceMail),
				gen(rules.Filters{Topic: ptr("*.bodhi.*")}, aliceIRC)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityError, Agent: "bob"},
			want: []rules.Destination{aliceMatrix, aliceMail, aliceIRC},
		},
		{
			name: "generation rules/a destination named twice is sent once",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`,
				gen(rules.Filters{}, aliceMail, aliceIRC),
				gen(rules.Filters{Applications: []string{"bodhi"}}, aliceIRC, aliceMail, aliceMatrix, aliceMatrix)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail, aliceIRC, aliceMatrix},
		},
		{
			name: "generation rules/none passing",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`,
				gen(rules.Filters{Applications: []string{"koji"}}, aliceMail),
				gen(rules.Filters{Severities: []string{"debug"}}, aliceIRC)),
			msg: bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
		{
			name: "destinations/all of a generation rule",
			rule: rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{}, aliceMail, aliceWork, aliceIRC, aliceMatrix)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
			want: []rules.Destination{aliceMail, aliceWork, aliceIRC, aliceMatrix},
		},
		{
			name: "all filters pass together",
			rule: rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}]`, gen(rules.Filters{
				Applications:         []string{"Bodhi"},
				ExcludedApplications: []string{"koji"},
				Severities:           []string{"info"},
				Topic:                ptr("*.update.*"),
				MyActions:            true,
			}, aliceMail)),
			msg:  bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "alice", Packages: []string{"firefox"}},
			want: []rules.Destination{aliceMail},
		},

		// Disabled rules never match.
		{
			name: "disabled/never matches",
			rule: func() rules.Rule {
				r := rule(rules.TrackUsersFollowed, `["bob"]`, mail)
				r.Disabled = true
				return r
			}(),
			msg: bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c, err := rules.Compile(tt.rule)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := c.Match(ctx, &tt.msg, tt.lk)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}

			// The index must never hide a match: a rule that fires shares
			// a key with the message.
			keys, err := c.Keys(ctx, tt.lk)
			if err != nil {
				t.Fatalf("Keys: %v", err)
			}
			shared := slices.ContainsFunc(rules.MessageKeys(&tt.msg), func(k rules.Key) bool {
				return slices.Contains(keys, k)
			})
			if len(got) > 0 && !shared {
				t.Errorf("rule fires but shares no key: rule keys %v, message keys %v", keys, rules.MessageKeys(&tt.msg))
			}

			// As the matcher's index compiles it: the second time, from
			// what the first interned.
			in := rules.NewInterner()
			for i := range 2 {
				ci, err := rules.CompileIndexed(tt.rule, in)
				if err != nil {
					t.Fatalf("CompileIndexed: %v", err)
				}
				if got, err := ci.Match(ctx, &tt.msg, tt.lk); err != nil || !slices.Equal(got, tt.want) {
					t.Errorf("CompileIndexed (%d): Match = %v, %v; want %v", i+1, got, err, tt.want)
				}
				// Ownership keys come in no particular order.
				ki, err := ci.Keys(ctx, tt.lk)
				ki, kw := slices.SortedFunc(slices.Values(ki), rules.CompareKeys), slices.SortedFunc(slices.Values(keys), rules.CompareKeys)
				if err != nil || !slices.Equal(ki, kw) {
					t.Errorf("CompileIndexed (%d): Keys = %v, %v; want %v", i+1, ki, err, keys)
				}
				if !slices.Equal(ci.Names(), c.Names()) || ci.Rule() != nil {
					t.Errorf("CompileIndexed (%d): names %v (want %v), rule %+v: want only the compiled forms kept",
						i+1, ci.Names(), c.Names(), ci.Rule())
				}
				if ci.ID() != c.ID() || ci.User() != c.User() || ci.Disabled() != c.Disabled() || ci.Tracking() != c.Tracking() || c.Tracking() != tt.rule.TrackingRule.Name {
					t.Errorf("CompileIndexed (%d): id %d, user %q, disabled %v, tracking %q; Compile: %d, %q, %v, %q",
						i+1, ci.ID(), ci.User(), ci.Disabled(), ci.Tracking(), c.ID(), c.User(), c.Disabled(), c.Tracking())
				}
			}
		})
	}
}

// TestAppendMatch checks that a rule's destinations go after the caller's
// and are deduplicated only among themselves: deduplication across rules is
// the caller's, which counts every rule that produced a notification.
func TestAppendMatch(t *testing.T) {
	t.Parallel()

	c, err := rules.Compile(rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{}, aliceMail, aliceIRC, aliceMail)))
	if err != nil {
		t.Fatal(err)
	}
	msg := &bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"}
	dst := []rules.Destination{aliceMatrix, aliceMail}
	got, err := c.AppendMatch(t.Context(), dst, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []rules.Destination{aliceMatrix, aliceMail, aliceMail, aliceIRC}
	if !slices.Equal(got, want) {
		t.Errorf("AppendMatch = %v, want %v", got, want)
	}
}

// TestAppendMatchAllocs is not parallel: testing.AllocsPerRun refuses to run
// alongside parallel tests.
func TestAppendMatchAllocs(t *testing.T) {
	c, err := rules.Compile(rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}]`,
		gen(rules.Filters{Applications: []string{"Bodhi"}, Topic: ptr("*.bodhi.*")}, aliceMail, aliceIRC)))
	if err != nil {
		t.Fatal(err)
	}
	msg := &bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob", Packages: []string{"firefox"}}
	buf := make([]rules.Destination, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = c.AppendMatch(context.Background(), buf[:0], msg, nil)
	})
	if allocs != 0 {
		t.Errorf("AppendMatch allocates %v times per call into a large enough buffer", allocs)
	}
	if len(buf) != 2 {
		t.Errorf("AppendMatch = %v, want two destinations", buf)
	}
}

func TestMatchLookupError(t *testing.T) {
	t.Parallel()

	boom := errors.New("dist-git unreachable")
	lk := &fakeLookups{err: boom}
	msg := &bus.Parsed{Topic: bodhiTopic, Severity: bus.SeverityInfo, Packages: []string{"python3"}}

	for _, tracking := range []string{rules.TrackArtifactsOwned, rules.TrackArtifactsGroupOwned} {
		t.Run(tracking, func(t *testing.T) {
			t.Parallel()
			c, err := rules.Compile(rule(tracking, `["alice"]`, mail))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Match(t.Context(), msg, lk); !errors.Is(err, boom) {
				t.Errorf("Match error = %v, want %v", err, boom)
			}
			if _, err := c.Keys(t.Context(), lk); !errors.Is(err, boom) {
				t.Errorf("Keys error = %v, want %v", err, boom)
			}
		})
	}

	t.Run("filters that all fail ask nothing", func(t *testing.T) {
		t.Parallel()
		// Only errors and only koji: an info message from bodhi passes no
		// generation rule, so the lookup's answer cannot matter.
		c, err := rules.Compile(rule(rules.TrackArtifactsOwned, `["alice"]`,
			gen(rules.Filters{Severities: []string{"error"}}, aliceMail),
			gen(rules.Filters{Applications: []string{"koji"}}, aliceIRC)))
		if err != nil {
			t.Fatal(err)
		}
		m := *msg
		m.App = "bodhi"
		got, err := c.Match(t.Context(), &m, lk)
		if err != nil || got != nil {
			t.Errorf("Match = %v, %v; want no match, no error", got, err)
		}
		// The same message from koji passes the second: the lookup decides.
		m.App = "koji"
		if _, err := c.Match(t.Context(), &m, lk); !errors.Is(err, boom) {
			t.Errorf("Match error = %v, want %v", err, boom)
		}
	})

	t.Run("message without artifacts asks nothing", func(t *testing.T) {
		t.Parallel()
		c, err := rules.Compile(rule(rules.TrackArtifactsOwned, `["alice"]`, mail))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Match(t.Context(), &bus.Parsed{Topic: bodhiTopic, Usernames: []string{"alice"}}, lk)
		if err != nil || got != nil {
			t.Errorf("Match = %v, %v; want no match, no error", got, err)
		}
	})
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		rule    rules.Rule
		wantErr string
	}{
		{"unknown tracking rule", rule("artifacts-liked", `["x"]`, mail), `rule 1: unknown tracking rule "artifacts-liked"`},
		{"params not a list", rule(rules.TrackUsersFollowed, `{"username": "bob"}`, mail), "rule 1: users-followed params: want a list of names"},
		{"unknown artifact type", rule(rules.TrackArtifactsFollowed, `[{"name": "x", "type": "package"}]`, mail), `rule 1: artifacts-followed: unknown artifact type "package"`},
		{"unknown severity", rule(rules.TrackRelatedEvents, "", gen(rules.Filters{Severities: []string{"critical"}}, aliceMail)), `rule 1: generation rule 0: unknown severity "critical"`},
		{"bad topic glob", rule(rules.TrackRelatedEvents, "", gen(rules.Filters{Topic: ptr("org.[prod")}, aliceMail)), `rule 1: generation rule 0: topic: unclosed "["`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := rules.Compile(tt.rule)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Compile error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// A deprecated message (its app sends the event with a newer schema too)
// matches no rule, and the explanation says so.
func TestDeprecatedMessageMatchesNothing(t *testing.T) {
	t.Parallel()
	c, err := rules.Compile(rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{}, aliceMail)))
	if err != nil {
		t.Fatal(err)
	}
	msg := &bus.Parsed{Topic: bodhiTopic, App: "bodhi", Severity: bus.SeverityInfo, Agent: "bob"}
	if got, _ := c.Match(t.Context(), msg, nil); len(got) != 1 {
		t.Fatalf("current message: Match = %v", got)
	}
	msg.Deprecated = true
	if got, _ := c.Match(t.Context(), msg, nil); len(got) != 0 {
		t.Errorf("deprecated message: Match = %v", got)
	}
	e := c.Explain(t.Context(), msg, nil)
	if e.Matched || !e.Deprecated || !strings.Contains(e.Refusal(), "deprecated") {
		t.Errorf("Explain = %+v, refusal %q", e, e.Refusal())
	}
}
