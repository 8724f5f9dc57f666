package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/fmn-project/fmn/bus"
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
	entry := func(id int64) *rules.IndexEntry {
		t.Helper()
		e, ok := m.idx.Get(id)
		if !ok {
			t.Fatalf("rule %d is not indexed", id)
		}
		return e
	}
	if got := entry(1).Keys; !slices.Equal(got, []rules.Key{python3}) {
		t.Fatalf("keys of rule 1: %v", got)
	}

	m.lookups = failingLookups{}
	src.put(ownedRule(1, "alice"), ownedRule(2, "bob"))
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ix := entry(1); !ix.Unresolved || !slices.Equal(ix.Keys, []rules.Key{python3}) {
		t.Fatalf("rule 1: unresolved %v, keys %v; want true, the previous keys", ix.Unresolved, ix.Keys)
	}
	if ix := entry(2); !ix.Unresolved || len(ix.Keys) != 0 {
		t.Fatalf("rule 2: unresolved %v, keys %v; want true, none", ix.Unresolved, ix.Keys)
	}
	ids := func(cs []*rules.Compiled) (out []int64) {
		for _, c := range cs {
			out = append(out, c.ID())
		}
		return out
	}
	if got := ids(m.idx.Candidates(nil, &bus.Parsed{Packages: []string{"python3"}})); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("candidates of python3: %v, want [1 2]", got)
	}
	if got := m.idx.Candidates(nil, &bus.Parsed{Usernames: []string{"alice"}}); len(got) != 0 {
		t.Errorf("candidates of a message without artifacts: %v", ids(got))
	}

	m.lookups = ownedByAlice{}
	if err := m.resolve(ctx); err != nil {
		t.Fatal(err)
	}
	if len(m.idx.Unresolved()) != 0 || entry(1).Unresolved || entry(2).Unresolved {
		t.Fatal("still unresolved after a successful retry")
	}
	if got := ids(m.idx.Candidates(nil, &bus.Parsed{Packages: []string{"bash"}})); len(got) != 0 {
		t.Errorf("candidates of bash once resolved: %v", got)
	}
	m.idx.Remove(1)
	m.idx.Remove(2)
	if m.idx.Keys() != 0 || m.idx.Len() != 0 {
		t.Errorf("index not empty after removing every rule: %d keys", m.idx.Keys())
	}
}
