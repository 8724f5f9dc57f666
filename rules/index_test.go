package rules_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
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

// TestIndexAgainstMap puts and removes random rules under random keys
// (long values, so that released keys' bytes are reclaimed too, and
// enough to grow the key table several times) and checks every answer of
// the index against a plain map of what was put.
func TestIndexAgainstMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(16, 1))
	kinds := []rules.KeyKind{rules.KeyUser, rules.KeyAgent, rules.KeyRPM, rules.KeyContainer, rules.KeyModule, rules.KeyFlatpak}
	randKey := func() rules.Key {
		// Few values, so that keys are shared and released often; the
		// same value under several kinds.
		return rules.Key{Kind: kinds[rng.IntN(len(kinds))], Value: fmt.Sprintf("name-%03d-%s", rng.IntN(400), strings.Repeat("x", rng.IntN(40)%3*20))}
	}
	x := rules.NewIndex()
	model := map[int64][]rules.Key{}
	compiled := map[int64]*rules.Compiled{}
	check := func(step int) {
		t.Helper()
		if x.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, x.Len(), len(model))
		}
		byKey := map[rules.Key][]int64{}
		for id, keys := range model {
			for _, k := range keys {
				byKey[k] = append(byKey[k], id)
			}
			e, ok := x.Get(id)
			if !ok || e.Rule != compiled[id] || !slices.Equal(e.Keys, keys) {
				t.Fatalf("step %d: Get(%d) = %+v, %v; want keys %v", step, id, e, ok, keys)
			}
		}
		if x.Keys() != len(byKey) {
			t.Fatalf("step %d: Keys %d, want %d", step, x.Keys(), len(byKey))
		}
		for k, ids := range byKey {
			p := &bus.Parsed{}
			switch k.Kind {
			case rules.KeyUser:
				p.Usernames = []string{k.Value}
			case rules.KeyAgent:
				p.Agent = k.Value
			case rules.KeyRPM:
				p.Packages = []string{k.Value}
			case rules.KeyContainer:
				p.Containers = []string{k.Value}
			case rules.KeyModule:
				p.Modules = []string{k.Value}
			case rules.KeyFlatpak:
				p.Flatpaks = []string{k.Value}
			}
			slices.Sort(ids)
			if got := candidateIDs(x.Candidates(nil, p)); !slices.Equal(got, ids) {
				t.Fatalf("step %d: candidates of %v: %v, want %v", step, k, got, ids)
			}
		}
		if got := x.Candidates(nil, &bus.Parsed{Agent: "nobody"}); len(got) != 0 {
			t.Fatalf("step %d: candidates of an unknown key: %v", step, candidateIDs(got))
		}
		n := 0
		for c := range x.Rules() {
			if compiled[c.ID()] != c {
				t.Fatalf("step %d: Rules yields %d, not indexed", step, c.ID())
			}
			n++
		}
		if n != len(model) {
			t.Fatalf("step %d: Rules yields %d rules, want %d", step, n, len(model))
		}
	}
	for step := range 6000 {
		id := int64(rng.IntN(300))
		if rng.IntN(3) == 0 {
			x.Remove(id)
			delete(model, id)
		} else {
			keys := make([]rules.Key, rng.IntN(5))
			for i := range keys {
				keys[i] = randKey()
			}
			c, err := rules.Compile(withID(rule(rules.TrackRelatedEvents, "", mail), id, "u"))
			if err != nil {
				t.Fatal(err)
			}
			x.Put(c, keys, false)
			sorted := slices.SortedFunc(slices.Values(keys), rules.CompareKeys)
			model[id] = slices.CompactFunc(sorted, func(a, b rules.Key) bool { return a == b })
			if len(model[id]) == 0 {
				model[id] = nil
			}
			compiled[id] = c
		}
		if step%500 == 0 {
			x.Compact()
		}
		if step%50 == 0 {
			check(step)
		}
	}
	check(6000)
	for id := range model {
		x.Remove(id)
	}
	if x.Len() != 0 || x.Keys() != 0 {
		t.Errorf("not empty: %d rules, %d keys", x.Len(), x.Keys())
	}
}
