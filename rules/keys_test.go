package rules_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// keyStrings renders keys sorted, for comparison.
func keyStrings(keys []rules.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	slices.Sort(out)
	return out
}

func TestKeys(t *testing.T) {
	t.Parallel()

	disabled := rule(rules.TrackUsersFollowed, `["bob"]`, mail)
	disabled.Disabled = true

	tests := []struct {
		name string
		rule rules.Rule
		lk   rules.Lookups
		want []string
	}{
		{"related-events keys on the owner", rule(rules.TrackRelatedEvents, "null", mail), nil, []string{"user:alice"}},
		{"users-followed keys on each agent", rule(rules.TrackUsersFollowed, `["bob", "carol", "bob"]`, mail), nil, []string{"agent:bob", "agent:carol"}},
		{
			"artifacts-followed keys on each artifact",
			rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}, {"name": "toolbox", "type": "containers"}, {"name": "nodejs", "type": "modules"}, {"name": "org.gnome.Maps", "type": "flatpaks"}]`, mail),
			nil,
			[]string{"containers/toolbox", "flatpaks/org.gnome.Maps", "modules/nodejs", "rpms/firefox"},
		},
		{"artifacts-owned keys on owned artifacts", rule(rules.TrackArtifactsOwned, `["alice", "carol"]`, mail), distgit, []string{"containers/toolbox", "modules/nodejs", "rpms/python-requests"}},
		{"artifacts-owned without lookups has no keys", rule(rules.TrackArtifactsOwned, `["alice"]`, mail), nil, []string{}},
		{"artifacts-owned of nobody has no keys", rule(rules.TrackArtifactsOwned, `["nobody"]`, mail), distgit, []string{}},
		{"artifacts-group-owned keys on owned artifacts", rule(rules.TrackArtifactsGroupOwned, `["python-sig", "kde-sig"]`, mail), distgit, []string{"flatpaks/org.gnome.Maps", "rpms/kwin", "rpms/python3"}},
		{"artifacts-group-owned without lookups has no keys", rule(rules.TrackArtifactsGroupOwned, `["python-sig"]`, mail), nil, []string{}},
		{"disabled rule has no keys", disabled, distgit, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := rules.Compile(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := c.Keys(t.Context(), tt.lk)
			if err != nil {
				t.Fatal(err)
			}
			if got := keyStrings(keys); !slices.Equal(got, tt.want) {
				t.Errorf("Keys = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMessageKeys(t *testing.T) {
	t.Parallel()

	p := &bus.Parsed{
		Topic:      bodhiTopic,
		Agent:      "bob",
		Usernames:  []string{"bob", "alice", ""},
		Groups:     []string{"packager"},
		Packages:   []string{"firefox"},
		Containers: []string{"toolbox"},
		Modules:    []string{"nodejs"},
		Flatpaks:   []string{"org.gnome.Maps"},
	}
	want := []string{"agent:bob", "containers/toolbox", "flatpaks/org.gnome.Maps", "modules/nodejs", "rpms/firefox", "user:alice", "user:bob"}
	if got := keyStrings(rules.MessageKeys(p)); !slices.Equal(got, want) {
		t.Errorf("MessageKeys = %v, want %v", got, want)
	}
	if got := rules.MessageKeys(&bus.Parsed{Topic: "x"}); len(got) != 0 {
		t.Errorf("MessageKeys of an empty message = %v, want none", got)
	}
}

func TestArtifactSet(t *testing.T) {
	t.Parallel()

	set := rules.NewArtifactSet(
		rules.Artifact{Type: rules.ArtifactRPMs, Name: "firefox"},
		rules.Artifact{Type: rules.ArtifactRPMs, Name: "firefox"},
		rules.Artifact{Type: "tests", Name: "firefox"},
		rules.Artifact{Type: rules.ArtifactModules, Name: "nodejs"},
	)
	if set.Len() != 2 {
		t.Errorf("Len = %d, want 2 (duplicates and untracked types left out)", set.Len())
	}
	for _, tc := range []struct {
		a    rules.Artifact
		want bool
	}{
		{rules.Artifact{Type: rules.ArtifactRPMs, Name: "firefox"}, true},
		{rules.Artifact{Type: rules.ArtifactContainers, Name: "firefox"}, false},
		{rules.Artifact{Type: "tests", Name: "firefox"}, false},
		{rules.Artifact{Type: rules.ArtifactModules, Name: "nodejs"}, true},
	} {
		if got := set.Has(tc.a); got != tc.want {
			t.Errorf("Has(%v) = %v, want %v", tc.a, got, tc.want)
		}
	}
	var all []string
	for a := range set.All() {
		all = append(all, a.Type+"/"+a.Name)
	}
	slices.Sort(all)
	if got := strings.Join(all, " "); got != "modules/nodejs rpms/firefox" {
		t.Errorf("All = %s", got)
	}
	var zero rules.ArtifactSet
	if zero.Len() != 0 || zero.Has(rules.Artifact{Type: rules.ArtifactRPMs, Name: "x"}) {
		t.Error("the zero ArtifactSet is not empty")
	}
}
