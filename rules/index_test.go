package rules_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// indexed compiles rs and puts them in a new index with their keys.
func indexed(t testing.TB, lk rules.Lookups, rs ...rules.Rule) *rules.Index {
	t.Helper()
	x := rules.NewIndex()
	for _, r := range rs {
		c, err := rules.Compile(r)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := c.Keys(context.Background(), lk)
		if err != nil {
			t.Fatal(err)
		}
		x.Put(c, keys, false)
	}
	return x
}

func withID(r rules.Rule, id int64, user string) rules.Rule {
	r.ID, r.User.Name = id, user
	return r
}

func candidateIDs(cs []*rules.Compiled) []int64 {
	ids := []int64{}
	for _, c := range cs {
		ids = append(ids, c.ID())
	}
	return ids
}

func TestIndexMatch(t *testing.T) {
	bobMail := rules.Destination{Protocol: rules.ProtocolEmail, Address: "bob@example.org"}
	set := []rules.Rule{
		// alice: her events by mail, and bob's actions by mail and IRC.
		withID(rule(rules.TrackRelatedEvents, "", mail), 3, "alice"),
		withID(rule(rules.TrackUsersFollowed, `["bob"]`, gen(rules.Filters{}, aliceMail, aliceIRC)), 1, "alice"),
		// alice's owned packages, errors only, to her work address.
		withID(rule(rules.TrackArtifactsOwned, `["alice"]`, gen(rules.Filters{Severities: []string{"error"}}, aliceWork)), 7, "alice"),
		// bob follows python3 on Bodhi only.
		withID(rule(rules.TrackArtifactsFollowed, `[{"name":"python3","type":"rpms"}]`,
			gen(rules.Filters{Topic: ptr("org.fedoraproject.*.bodhi.*")}, bobMail)), 2, "bob"),
		// the python SIG's packages, to bob.
		withID(rule(rules.TrackArtifactsGroupOwned, `["python-sig"]`, gen(rules.Filters{}, bobMail)), 5, "bob"),
	}
	x := indexed(t, distgit, set...)
	tests := []struct {
		name  string
		msg   bus.Parsed
		cands []int64
		want  string
	}{
		{"no key", bus.Parsed{Topic: bodhiTopic, Usernames: []string{"dave"}}, []int64{}, "[]"},
		{"alice's event, by bob", bus.Parsed{Topic: bodhiTopic, Severity: bus.SeverityInfo, Agent: "bob", Usernames: []string{"alice", "bob"}},
			[]int64{1, 3}, "[{alice@example.org alice [1 3]} {alice alice [1]}]"},
		{"python3 on Bodhi, by dave", bus.Parsed{Topic: bodhiTopic, Severity: bus.SeverityInfo, Agent: "dave", Packages: []string{"python3"}},
			[]int64{2, 5}, "[{bob@example.org bob [2 5]}]"},
		{"python3 on Bodhi, by bob (not his own actions)", bus.Parsed{Topic: bodhiTopic, Severity: bus.SeverityInfo, Agent: "bob", Packages: []string{"python3"}},
			[]int64{1, 2, 5}, "[{alice@example.org alice [1]} {alice alice [1]}]"},
		{"python-requests error", bus.Parsed{Topic: "org.fedoraproject.prod.copr.build.end", Severity: bus.SeverityError, Packages: []string{"python-requests", "python3"}},
			[]int64{2, 5, 7}, "[{bob@example.org bob [5]} {alice@work.example.com alice [7]}]"},
		{"python-requests info", bus.Parsed{Topic: "org.fedoraproject.prod.copr.build.end", Severity: bus.SeverityInfo, Packages: []string{"python-requests"}},
			[]int64{7}, "[]"},
		{"a repeated key", bus.Parsed{Topic: bodhiTopic, Severity: bus.SeverityInfo, Usernames: []string{"alice", "alice"}},
			[]int64{3}, "[{alice@example.org alice [3]}]"},
		{"deprecated", bus.Parsed{Topic: bodhiTopic, Severity: bus.SeverityInfo, Usernames: []string{"alice"}, Deprecated: true},
			[]int64{3}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := candidateIDs(x.Candidates(nil, &tt.msg)); !slices.Equal(got, tt.cands) {
				t.Errorf("candidates %v, want %v", got, tt.cands)
			}
			ms, err := x.Match(context.Background(), nil, &tt.msg, distgit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("{%s %s %v}", m.Destination.Address, m.User, m.RuleIDs))
			}
			if s := fmt.Sprintf("%v", got); s != tt.want && !(len(got) == 0 && tt.want == "[]") {
				t.Errorf("matches %s, want %s", s, tt.want)
			}
		})
	}

	t.Run("remove and put again", func(t *testing.T) {
		x := indexed(t, distgit, set...)
		x.Remove(1)
		x.Remove(99)
		msg := &bus.Parsed{Agent: "bob", Usernames: []string{"alice"}}
		if got := candidateIDs(x.Candidates(nil, msg)); !slices.Equal(got, []int64{3}) {
			t.Errorf("after removing 1: %v", got)
		}
		// A rule put again replaces its keys.
		c, _ := rules.Compile(withID(rule(rules.TrackUsersFollowed, `["carol"]`, mail), 3, "alice"))
		x.Put(c, []rules.Key{{Kind: rules.KeyAgent, Value: "carol"}, {Kind: rules.KeyAgent, Value: "carol"}}, false)
		if got := candidateIDs(x.Candidates(nil, msg)); len(got) != 0 {
			t.Errorf("after replacing 3: %v", got)
		}
		if e, ok := x.Get(3); !ok || len(e.Keys) != 1 || e.Rule != c {
			t.Errorf("entry of 3: %+v", e)
		}
		for _, id := range []int64{2, 3, 5, 7} {
			x.Remove(id)
		}
		if x.Len() != 0 || x.Keys() != 0 {
			t.Errorf("not empty: %d rules, %d keys", x.Len(), x.Keys())
		}
	})

	t.Run("unresolved", func(t *testing.T) {
		x := rules.NewIndex()
		c, _ := rules.Compile(withID(rule(rules.TrackArtifactsOwned, `["alice"]`, mail), 4, "alice"))
		x.Put(c, nil, true)
		if got := candidateIDs(x.Candidates(nil, &bus.Parsed{Modules: []string{"nodejs"}})); !slices.Equal(got, []int64{4}) {
			t.Errorf("with an artifact: %v", got)
		}
		if got := candidateIDs(x.Candidates(nil, &bus.Parsed{Usernames: []string{"alice"}})); len(got) != 0 {
			t.Errorf("without an artifact: %v", got)
		}
		// A failed lookup fails the match: retry the message.
		if _, err := x.Match(context.Background(), nil, &bus.Parsed{Packages: []string{"x"}}, &fakeLookups{err: fmt.Errorf("503")}); err == nil {
			t.Error("no error from a failed lookup")
		}
		x.Put(c, nil, false)
		if len(x.Unresolved()) != 0 {
			t.Error("still unresolved")
		}
	})
}

// The hot path stays allocation-free for a message that meets no rule.
func TestCandidatesNoMatchAllocs(t *testing.T) {
	x := rules.NewIndex()
	c, err := rules.Compile(withID(rule(rules.TrackArtifactsOwned, `["alice"]`, mail), 1, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	x.Put(c, nil, true)
	p := &bus.Parsed{Usernames: []string{"bob"}, Agent: "carol"}
	var buf [8]*rules.Compiled
	if n := testing.AllocsPerRun(100, func() { _ = x.Candidates(buf[:0], p) }); n != 0 {
		t.Errorf("Candidates allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = x.Match(context.Background(), nil, p, nil) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

// Matching with reused scratch space allocates nothing either (the
// preview matches every candidate message of its index so).
func TestMatchScratchAllocs(t *testing.T) {
	x := indexed(t, distgit, withID(rule(rules.TrackRelatedEvents, "", mail, gen(rules.Filters{}, aliceIRC)), 1, "alice"))
	p := &bus.Parsed{Topic: bodhiTopic, Severity: bus.SeverityInfo, Usernames: []string{"alice"}}
	ctx := context.Background()
	scratch, err := x.Match(ctx, nil, p, nil)
	if err != nil || len(scratch) != 2 {
		t.Fatalf("%v %v", scratch, err)
	}
	if n := testing.AllocsPerRun(100, func() { scratch, _ = x.Match(ctx, scratch[:0], p, nil) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
	if len(scratch) != 2 || !slices.Equal(scratch[1].RuleIDs, []int64{1}) {
		t.Errorf("matches %+v", scratch)
	}
}
