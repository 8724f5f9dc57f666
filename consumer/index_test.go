package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/fmn-project/fmn/notification"

	"github.com/fmn-project/fmn/rules"
)

// failingLookups fails every ownership lookup.
type failingLookups struct{}

func (failingLookups) OwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return rules.ArtifactSet{}, errors.New("dist-git: 503")
}

func (failingLookups) GroupOwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return rules.ArtifactSet{}, errors.New("dist-git: 503")
}

// ownedByAlice plays dist-git: alice owns rpms/python3.
type ownedByAlice struct{}

func (ownedByAlice) OwnedArtifacts(_ context.Context, user string) (rules.ArtifactSet, error) {
	if user != "alice" {
		return rules.ArtifactSet{}, nil
	}
	return rules.NewArtifactSet(rules.Artifact{Type: rules.ArtifactRPMs, Name: "python3"}), nil
}

func (ownedByAlice) GroupOwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return rules.ArtifactSet{}, nil
}

// listSource hands out rules once per put.
type listSource struct {
	version uint64
	rules   []rules.Rule
}

func (s *listSource) Version(context.Context) (uint64, error) { return s.version, nil }

func (s *listSource) Changes(_ context.Context, since uint64) ([]rules.Rule, []int64, uint64, error) {
	if since >= s.version {
		return nil, nil, s.version, nil
	}
	return s.rules, nil, s.version, nil
}

func (s *listSource) put(rs ...rules.Rule) { s.version++; s.rules = rs }

func ownedRule(id int64, user string) rules.Rule {
	return rules.Rule{ID: id, User: rules.User{Name: user},
		TrackingRule:    rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: json.RawMessage(`["` + user + `"]`)},
		GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: rules.ProtocolEmail, Address: user + "@example.org"}}}}}
}

// A rule that becomes unresolved keeps the keys it had and is a candidate
// for every message with an artifact; a new one has no keys.
func TestIndexUnresolved(t *testing.T) {
	ctx := context.Background()
	src := &listSource{}
	m := NewMatcher(src, ownedByAlice{}, notification.Site{}, slog.New(slog.DiscardHandler))
	src.put(ownedRule(1, "alice"))
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	python3 := rules.Key{Kind: rules.KeyRPM, Value: "python3"}
	if got := m.idx.rules[1].keys; !slices.Equal(got, []rules.Key{python3}) {
		t.Fatalf("keys of rule 1: %v", got)
	}

	m.lookups = failingLookups{}
	src.put(ownedRule(1, "alice"), ownedRule(2, "bob"))
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ix := m.idx.rules[1]; !ix.unresolved || !slices.Equal(ix.keys, []rules.Key{python3}) {
		t.Fatalf("rule 1: unresolved %v, keys %v; want true, the previous keys", ix.unresolved, ix.keys)
	}
	if ix := m.idx.rules[2]; !ix.unresolved || len(ix.keys) != 0 {
		t.Fatalf("rule 2: unresolved %v, keys %v; want true, none", ix.unresolved, ix.keys)
	}
	ids := func(cs []*rules.Compiled) (out []int64) {
		for _, c := range cs {
			out = append(out, c.Rule.ID)
		}
		return out
	}
	if got := ids(m.idx.candidates([]rules.Key{python3}, true)); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("candidates of python3: %v, want [1 2]", got)
	}
	if got := m.idx.candidates([]rules.Key{{Kind: rules.KeyUser, Value: "alice"}}, false); len(got) != 0 {
		t.Errorf("candidates of a message without artifacts: %v", ids(got))
	}

	m.lookups = ownedByAlice{}
	if err := m.resolve(ctx); err != nil {
		t.Fatal(err)
	}
	if len(m.idx.unresolved) != 0 || m.idx.rules[1].unresolved || m.idx.rules[2].unresolved {
		t.Fatal("still unresolved after a successful retry")
	}
	if got := ids(m.idx.candidates([]rules.Key{{Kind: rules.KeyRPM, Value: "bash"}}, true)); len(got) != 0 {
		t.Errorf("candidates of bash once resolved: %v", got)
	}
	m.idx.remove(1)
	m.idx.remove(2)
	if len(m.idx.byKey) != 0 || len(m.idx.rules) != 0 {
		t.Errorf("index not empty after removing every rule: %v", m.idx.byKey)
	}
}

// The hot path stays allocation-free for a message without artifacts
// that meets no rule.
func TestCandidatesNoArtifactsAllocs(t *testing.T) {
	x := newIndex()
	c, err := rules.Compile(ownedRule(1, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	x.put(c, nil, true)
	keys := []rules.Key{{Kind: rules.KeyUser, Value: "bob"}, {Kind: rules.KeyAgent, Value: "carol"}}
	if n := testing.AllocsPerRun(100, func() { _ = x.candidates(keys, false) }); n != 0 {
		t.Errorf("candidates allocates %v times", n)
	}
}
