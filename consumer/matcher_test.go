package consumer_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// fakeSource is an in-memory consumer.RuleSource: a versioned rule set
// whose Changes answers like rulelog.Reader (changed rules, disabled ones
// included; tombstones after since). It records what it was asked.
type fakeSource struct {
	mu        sync.Mutex
	version   uint64
	rules     map[int64]rules.Rule
	changedAt map[int64]uint64
	deletedAt map[int64]uint64
	err       error
	// sinces are the since arguments of every Changes call.
	sinces []uint64
}

func newFakeSource() *fakeSource {
	return &fakeSource{rules: map[int64]rules.Rule{}, changedAt: map[int64]uint64{}, deletedAt: map[int64]uint64{}}
}

func (s *fakeSource) Version(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.err
}

func (s *fakeSource) Changes(_ context.Context, since uint64) ([]rules.Rule, []int64, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sinces = append(s.sinces, since)
	if s.err != nil {
		return nil, nil, 0, s.err
	}
	var changed []rules.Rule
	for _, id := range slices.Sorted(maps.Keys(s.rules)) {
		if s.changedAt[id] > since {
			changed = append(changed, s.rules[id])
		}
	}
	var deleted []int64
	if since > 0 {
		for _, id := range slices.Sorted(maps.Keys(s.deletedAt)) {
			if s.deletedAt[id] > since {
				deleted = append(deleted, id)
			}
		}
	}
	return changed, deleted, s.version, nil
}

// put creates or replaces a rule as one new version.
func (s *fakeSource) put(rs ...rules.Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	for _, r := range rs {
		s.rules[r.ID] = r
		s.changedAt[r.ID] = s.version
		delete(s.deletedAt, r.ID)
	}
}

func (s *fakeSource) del(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	delete(s.rules, id)
	delete(s.changedAt, id)
	s.deletedAt[id] = s.version
}

func (s *fakeSource) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeSource) changesCalls() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sinces)
}

// countingLookups plays dist-git for artifacts-owned rules and counts the
// questions, so a test can see which rules matching looked at.
type countingLookups struct {
	mu    sync.Mutex
	owned map[string]rules.ArtifactSet
	err   error
	// errFor fails the lookups of one user only.
	errFor map[string]error
	asked  map[string]int
}

func (l *countingLookups) OwnedArtifacts(_ context.Context, user string) (rules.ArtifactSet, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.asked == nil {
		l.asked = map[string]int{}
	}
	l.asked[user]++
	if err := l.errFor[user]; err != nil {
		return rules.ArtifactSet{}, err
	}
	return l.owned[user], l.err
}

func (l *countingLookups) setErrFor(user string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.errFor == nil {
		l.errFor = map[string]error{}
	}
	l.errFor[user] = err
}

func (l *countingLookups) GroupOwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return rules.ArtifactSet{}, nil
}

func (l *countingLookups) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// resetAsked returns the questions asked so far and forgets them.
func (l *countingLookups) resetAsked() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.asked
	l.asked = nil
	return a
}

type matcherBundle struct {
	ctx context.Context
	src *fakeSource
	lk  *countingLookups
	m   *consumer.Matcher
}

func setupMatcher(t *testing.T) *matcherBundle {
	t.Helper()
	b := &matcherBundle{ctx: context.Background(), src: newFakeSource(), lk: &countingLookups{owned: map[string]rules.ArtifactSet{}}}
	b.m = consumer.NewMatcher(b.src, b.lk, testSite, testLogger(t))
	return b
}

func (b *matcherBundle) sync(t *testing.T) {
	t.Helper()
	if err := b.m.Sync(b.ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// match parses pm and returns its notifications.
func (b *matcherBundle) match(t *testing.T, pm parsedMsg) []*notification.Notification {
	t.Helper()
	notes, err := b.m.Match(b.ctx, pm.parse(t), time.Now())
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	return notes
}

// parsedMsg describes a bus message for the matcher tests.
type parsedMsg struct {
	id       string
	topic    string
	users    []string
	agent    string
	packages []string
}

func (pm parsedMsg) parse(t *testing.T) *bus.Parsed {
	t.Helper()
	if pm.id == "" {
		pm.id = "msg-" + fmt.Sprint(time.Now().UnixNano())
	}
	if pm.topic == "" {
		pm.topic = bodhiTopic
	}
	body := map[string]any{"summary": "an update", "url": "https://bodhi.example.org/u/1"}
	if pm.agent != "" {
		body["agent_name"] = pm.agent
	}
	hdrs := map[string]string{}
	for _, u := range pm.users {
		hdrs[bus.FilterHeader("user", u)] = "true"
	}
	for _, p := range pm.packages {
		hdrs[bus.FilterHeader("rpm", p)] = "true"
	}
	nm := busMsg(t, pm.id, pm.topic, body, hdrs)
	p, err := bus.ParseNATS(nm.Subject, nm.Header, nm.Data)
	if err != nil {
		t.Fatalf("parse %s: %v", pm.id, err)
	}
	return p
}

// noteKey is what identifies a notification in these tests.
type noteKey struct {
	dest    rules.Destination
	ruleID  int64
	ruleIDs string
	user    string
}

func keysOf(notes []*notification.Notification) []noteKey {
	out := make([]noteKey, 0, len(notes))
	for _, n := range notes {
		out = append(out, noteKey{
			dest:    rules.Destination{Protocol: n.Protocol, Address: n.Address},
			ruleID:  n.RuleID,
			ruleIDs: fmt.Sprint(n.RuleIDs),
			user:    n.User,
		})
	}
	slices.SortFunc(out, func(a, b noteKey) int {
		return cmp.Or(cmp.Compare(a.dest.Protocol, b.dest.Protocol), cmp.Compare(a.dest.Address, b.dest.Address))
	})
	return out
}

func assertNotes(t *testing.T, got []*notification.Notification, want ...noteKey) {
	t.Helper()
	gk := keysOf(got)
	if !slices.Equal(gk, want) {
		t.Fatalf("notifications:\n got  %+v\n want %+v", gk, want)
	}
}

func userRule(id int64, user, tracking, params string, gens ...rules.GenerationRule) rules.Rule {
	r := rules.Rule{
		ID:              id,
		Name:            fmt.Sprintf("rule %d", id),
		User:            rules.User{Name: user},
		TrackingRule:    rules.TrackingRule{Name: tracking},
		GenerationRules: gens,
	}
	if params != "" {
		r.TrackingRule.Params = json.RawMessage(params)
	}
	return r
}

func genTo(f rules.Filters, dests ...rules.Destination) rules.GenerationRule {
	return rules.GenerationRule{Destinations: dests, Filters: f}
}

func email(addr string) rules.Destination {
	return rules.Destination{Protocol: rules.ProtocolEmail, Address: addr}
}

func irc(nick string) rules.Destination {
	return rules.Destination{Protocol: rules.ProtocolIRC, Address: nick}
}

func TestMatcher(t *testing.T) {
	t.Parallel()

	aliceMail := email("alice@example.org")

	t.Run("CandidatesOnlyThroughIndex", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		// 100 artifacts-owned rules, each of its own user owning its own
		// package: matching asks dist-git only about the candidates.
		var rs []rules.Rule
		for i := range 100 {
			user := fmt.Sprintf("u%03d", i)
			b.lk.owned[user] = rules.NewArtifactSet(rules.Artifact{Type: rules.ArtifactRPMs, Name: fmt.Sprintf("pkg%03d", i)})
			rs = append(rs, userRule(int64(i+1), user, rules.TrackArtifactsOwned, fmt.Sprintf("[%q]", user),
				genTo(rules.Filters{}, email(user+"@example.org"))))
		}
		b.src.put(rs...)
		b.sync(t)
		if n := b.m.RuleCount(); n != 100 {
			t.Fatalf("RuleCount = %d, want 100", n)
		}
		b.lk.resetAsked()

		// A message with no key any rule tracks meets no rule at all.
		assertNotes(t, b.match(t, parsedMsg{users: []string{"nobody"}, agent: "someone", packages: []string{"unowned"}}))
		if asked := b.lk.resetAsked(); len(asked) != 0 {
			t.Errorf("a message without candidates consulted dist-git for %v", asked)
		}

		// A message about pkg042 meets exactly u042's rule.
		assertNotes(t, b.match(t, parsedMsg{packages: []string{"pkg042"}}),
			noteKey{email("u042@example.org"), 43, "[43]", "u042"})
		if asked := b.lk.resetAsked(); len(asked) != 1 || asked["u042"] != 1 {
			t.Errorf("matching pkg042 consulted dist-git for %v, want only u042", asked)
		}
	})

	t.Run("SameDestinationOnce", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		// Two identical rules of alice to the same address: one
		// notification naming both rules, the lowest one in the footer.
		b.src.put(
			userRule(9, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, aliceMail)),
			userRule(4, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, aliceMail)),
		)
		b.sync(t)
		notes := b.match(t, parsedMsg{id: "m1", users: []string{"alice"}, agent: "bob"})
		assertNotes(t, notes, noteKey{aliceMail, 4, "[4 9]", "alice"})
		n := notes[0]
		if n.ID != notification.ID("m1", "email", "alice@example.org") {
			t.Errorf("ID = %s, want notification.ID(m1, email, alice@example.org)", n.ID)
		}
		if n.Email == nil || n.Email.Headers[notification.HeaderRule] != "4" {
			t.Errorf("email should name rule 4: %+v", n.Email)
		}
	})

	t.Run("DifferentDestinationsSeparate", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		b.src.put(
			// One rule, two destinations.
			userRule(1, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, aliceMail, irc("alice"))),
			// Another rule of alice to a third destination.
			userRule(2, "alice", rules.TrackUsersFollowed, `["bob"]`, genTo(rules.Filters{}, email("alice@work.example.com"))),
			// Two generation rules of one rule naming the same address:
			// still once.
			userRule(3, "carol", rules.TrackUsersFollowed, `["bob"]`,
				genTo(rules.Filters{}, irc("carol")), genTo(rules.Filters{}, irc("carol"))),
		)
		b.sync(t)
		assertNotes(t, b.match(t, parsedMsg{users: []string{"alice"}, agent: "bob"}),
			noteKey{aliceMail, 1, "[1]", "alice"},
			noteKey{email("alice@work.example.com"), 2, "[2]", "alice"},
			noteKey{irc("alice"), 1, "[1]", "alice"},
			noteKey{irc("carol"), 3, "[3]", "carol"},
		)
	})

	t.Run("SyncIsIncremental", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		b.src.put(
			userRule(1, "alice", rules.TrackUsersFollowed, `["bob"]`, genTo(rules.Filters{}, aliceMail)),
			userRule(2, "dave", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("dave@example.org"))),
		)
		b.sync(t)
		if !b.m.Loaded() || b.m.Version() != 1 || b.m.RuleCount() != 2 {
			t.Fatalf("after first Sync: loaded %v version %d rules %d", b.m.Loaded(), b.m.Version(), b.m.RuleCount())
		}
		fromBob := parsedMsg{agent: "bob"}
		fromCarol := parsedMsg{agent: "carol"}
		aboutDave := parsedMsg{users: []string{"dave"}}
		assertNotes(t, b.match(t, fromBob), noteKey{aliceMail, 1, "[1]", "alice"})
		assertNotes(t, b.match(t, fromCarol))

		// Nothing changed: Sync reads the version and loads nothing.
		b.sync(t)
		if calls := b.src.changesCalls(); !slices.Equal(calls, []uint64{0}) {
			t.Fatalf("Changes calls = %v, want only the initial load [0]", calls)
		}

		// Add: a new rule matches after Sync, not before.
		b.src.put(userRule(3, "erin", rules.TrackUsersFollowed, `["carol"]`, genTo(rules.Filters{}, email("erin@example.org"))))
		assertNotes(t, b.match(t, fromCarol))
		b.sync(t)
		assertNotes(t, b.match(t, fromCarol), noteKey{email("erin@example.org"), 3, "[3]", "erin"})

		// Update that changes the keys: alice now follows carol, not bob.
		// Bob's messages no longer reach the rule.
		b.src.put(userRule(1, "alice", rules.TrackUsersFollowed, `["carol"]`, genTo(rules.Filters{}, aliceMail)))
		b.sync(t)
		assertNotes(t, b.match(t, fromBob))
		assertNotes(t, b.match(t, fromCarol),
			noteKey{aliceMail, 1, "[1]", "alice"},
			noteKey{email("erin@example.org"), 3, "[3]", "erin"})

		// Delete.
		b.src.del(3)
		b.sync(t)
		assertNotes(t, b.match(t, fromCarol), noteKey{aliceMail, 1, "[1]", "alice"})

		// Disable, then enable again.
		disabled := userRule(2, "dave", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("dave@example.org")))
		disabled.Disabled = true
		b.src.put(disabled)
		b.sync(t)
		assertNotes(t, b.match(t, aboutDave))
		if n := b.m.RuleCount(); n != 1 {
			t.Errorf("RuleCount with rule 2 disabled and 3 deleted = %d, want 1", n)
		}
		disabled.Disabled = false
		b.src.put(disabled)
		b.sync(t)
		assertNotes(t, b.match(t, aboutDave), noteKey{email("dave@example.org"), 2, "[2]", "dave"})

		// Every Sync after the first asked only for what came after the
		// version it had.
		if calls, want := b.src.changesCalls(), []uint64{0, 1, 2, 3, 4, 5}; !slices.Equal(calls, want) {
			t.Errorf("Changes calls = %v, want %v", calls, want)
		}
		if v := b.m.Version(); v != 6 {
			t.Errorf("Version = %d, want 6", v)
		}
	})

	t.Run("SourceErrorKeepsIndex", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		b.src.put(userRule(1, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, aliceMail)))
		b.sync(t)
		b.src.put(userRule(2, "bob", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("bob@example.org"))))
		b.src.setErr(errors.New("database down"))
		if err := b.m.Sync(b.ctx); err == nil {
			t.Fatal("Sync with a failing source: no error")
		}
		if v := b.m.Version(); v != 1 {
			t.Fatalf("Version after a failed Sync = %d, want 1", v)
		}
		assertNotes(t, b.match(t, parsedMsg{users: []string{"alice"}}), noteKey{aliceMail, 1, "[1]", "alice"})
		b.src.setErr(nil)
		b.sync(t)
		assertNotes(t, b.match(t, parsedMsg{users: []string{"bob"}}), noteKey{email("bob@example.org"), 2, "[2]", "bob"})
	})

	t.Run("MyActions", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		b.src.put(
			userRule(1, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, aliceMail)),
			userRule(2, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{MyActions: true}, irc("alice"))),
		)
		b.sync(t)
		// Alice's own action: only the rule with my_actions notifies.
		assertNotes(t, b.match(t, parsedMsg{users: []string{"alice"}, agent: "alice"}),
			noteKey{irc("alice"), 2, "[2]", "alice"})
		// Someone else's action about alice: both.
		assertNotes(t, b.match(t, parsedMsg{users: []string{"alice"}, agent: "bob"}),
			noteKey{aliceMail, 1, "[1]", "alice"},
			noteKey{irc("alice"), 2, "[2]", "alice"})
	})

	t.Run("LookupErrorUnresolvedRule", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		b.lk.owned["alice"] = rules.NewArtifactSet(rules.Artifact{Type: rules.ArtifactRPMs, Name: "python3"})
		b.src.put(userRule(1, "alice", rules.TrackArtifactsOwned, `["alice"]`, genTo(rules.Filters{}, aliceMail)))
		b.sync(t)
		about := parsedMsg{packages: []string{"python3"}}
		assertNotes(t, b.match(t, about), noteKey{aliceMail, 1, "[1]", "alice"})

		b.lk.setErr(errors.New("dist-git unreachable"))
		notes, err := b.m.Match(b.ctx, about.parse(t), time.Now())
		if err == nil {
			t.Fatalf("Match with a failing lookup: no error, notifications %v", keysOf(notes))
		}
		if notes != nil {
			t.Errorf("Match with an error also returned notifications %v", keysOf(notes))
		}
		// A message that meets no rule needs no lookup and cannot fail.
		if _, err := b.m.Match(b.ctx, parsedMsg{packages: []string{"unowned"}}.parse(t), time.Now()); err != nil {
			t.Errorf("Match of a message without candidates: %v", err)
		}

		// The same failure while indexing a changed rule does not fail
		// the Sync: the version advances and the rule is unresolved, a
		// candidate for every message with an artifact.
		b.src.put(userRule(2, "alice", rules.TrackArtifactsOwned, `["alice"]`, genTo(rules.Filters{}, irc("alice"))))
		b.sync(t)
		if v, n := b.m.Version(), b.m.Unresolved(); v != 2 || n != 1 {
			t.Fatalf("after a Sync with a failing lookup: version %d, %d unresolved; want 2, 1", v, n)
		}
		if _, err := b.m.Match(b.ctx, parsedMsg{packages: []string{"unowned"}}.parse(t), time.Now()); err == nil {
			t.Fatal("Match of an artifact message with an unresolved rule and a failing lookup: no error")
		}
		b.lk.resetAsked()
		assertNotes(t, b.match(t, parsedMsg{users: []string{"alice"}, agent: "bob"}))
		if asked := b.lk.resetAsked(); len(asked) != 0 {
			t.Errorf("a message without artifacts consulted dist-git for %v", asked)
		}

		// Once the lookup works, the exact check decides, before the
		// rule's keys are resolved.
		b.lk.setErr(nil)
		assertNotes(t, b.match(t, about),
			noteKey{aliceMail, 1, "[1]", "alice"},
			noteKey{irc("alice"), 2, "[2]", "alice"})
		if n := b.m.Unresolved(); n != 1 {
			t.Fatalf("%d unresolved before RunSync, want 1", n)
		}
		// RunSync resolves it in the background; then a message about a
		// package nobody owns meets no rule and asks nothing.
		defer runSyncInBackground(b.ctx, b.m)()
		eventually(t, 5*time.Second, "rule 2 resolved", func() bool { return b.m.Unresolved() == 0 })
		b.lk.resetAsked()
		assertNotes(t, b.match(t, parsedMsg{packages: []string{"unowned"}}))
		if asked := b.lk.resetAsked(); len(asked) != 0 {
			t.Errorf("after resolving, a message without candidates consulted dist-git for %v", asked)
		}
		assertNotes(t, b.match(t, about),
			noteKey{aliceMail, 1, "[1]", "alice"},
			noteKey{irc("alice"), 2, "[2]", "alice"})
	})

	t.Run("UnresolvedRules", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		pkg := func(name string) rules.ArtifactSet {
			return rules.NewArtifactSet(rules.Artifact{Type: rules.ArtifactRPMs, Name: name})
		}
		b.lk.owned["alice"], b.lk.owned["bob"] = pkg("python3"), pkg("bash")
		b.src.put(userRule(1, "alice", rules.TrackArtifactsOwned, `["alice"]`, genTo(rules.Filters{}, aliceMail)))
		b.sync(t)

		// dist-git goes down; in one version alice's rule changes (errors
		// only), bob's owned rule (koji only) and dave's users-followed
		// rule arrive.
		b.lk.setErr(errors.New("dist-git: 503"))
		koji := "org.fedoraproject.prod.koji.*"
		b.src.put(
			userRule(1, "alice", rules.TrackArtifactsOwned, `["alice"]`, genTo(rules.Filters{Severities: []string{"error"}}, aliceMail)),
			userRule(2, "bob", rules.TrackArtifactsOwned, `["bob"]`, genTo(rules.Filters{Topic: &koji}, email("bob@example.org"))),
			userRule(3, "dave", rules.TrackUsersFollowed, `["carol"]`, genTo(rules.Filters{}, email("dave@example.org"))),
		)
		b.sync(t)
		if v, n, u := b.m.Version(), b.m.RuleCount(), b.m.Unresolved(); v != 2 || n != 3 || u != 2 {
			t.Fatalf("version %d, %d rules, %d unresolved; want 2, 3, 2", v, n, u)
		}
		assertNotes(t, b.match(t, parsedMsg{agent: "carol"}), noteKey{email("dave@example.org"), 3, "[3]", "dave"})
		// An info message from bodhi passes neither owned rule's filters:
		// no lookup, no error, whatever its artifacts.
		b.lk.resetAsked()
		assertNotes(t, b.match(t, parsedMsg{packages: []string{"python3", "bash"}}))
		if asked := b.lk.resetAsked(); len(asked) != 0 {
			t.Errorf("a message failing every filter consulted dist-git for %v", asked)
		}
		// A koji message about any package needs bob's lookup: retry.
		if _, err := b.m.Match(b.ctx, parsedMsg{topic: "org.fedoraproject.prod.koji.build", packages: []string{"zsh"}}.parse(t), time.Now()); err == nil {
			t.Fatal("Match needing a failing lookup: no error")
		}

		// Only alice's lookup fails now: the retries resolve bob's rule
		// (after alice's in id order) all the same.
		b.lk.setErr(nil)
		b.lk.setErrFor("alice", errors.New("dist-git: 500 for alice"))
		defer runSyncInBackground(b.ctx, b.m)()
		eventually(t, 5*time.Second, "bob's rule resolved", func() bool { return b.m.Unresolved() == 1 })
		b.lk.setErrFor("alice", nil)
		eventually(t, 10*time.Second, "alice's rule resolved", func() bool { return b.m.Unresolved() == 0 })
		b.lk.resetAsked()
		assertNotes(t, b.match(t, parsedMsg{topic: "org.fedoraproject.prod.koji.build", packages: []string{"bash"}}),
			noteKey{email("bob@example.org"), 2, "[2]", "bob"})
		if asked := b.lk.resetAsked(); len(asked) != 1 || asked["bob"] != 1 {
			t.Errorf("after resolving, matching bash consulted dist-git for %v, want only bob", asked)
		}
	})

	t.Run("MatchDuringSync", func(t *testing.T) {
		t.Parallel()
		b := setupMatcher(t)
		b.src.put(userRule(1, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, aliceMail)))
		b.sync(t)
		msg := parsedMsg{id: "m", users: []string{"alice"}}.parse(t)
		var stop atomic.Bool
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					notes, err := b.m.Match(b.ctx, msg, time.Now())
					if err != nil || len(notes) != 1 || notes[0].RuleID != 1 {
						errs <- fmt.Errorf("Match during Sync: %v, %d notifications", err, len(notes))
						return
					}
				}
			})
		}
		// Rules of other users come and go; alice's stays.
		for i := range 200 {
			id := int64(100 + i%10)
			if i%3 == 2 {
				b.src.del(id)
			} else {
				b.src.put(userRule(id, fmt.Sprintf("u%d", i), rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("x@example.org"))))
			}
			b.sync(t)
		}
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// runSyncInBackground runs m.RunSync polling every 10ms and returns the
// function that stops it and waits for it.
func runSyncInBackground(ctx context.Context, m *consumer.Matcher) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunSync(ctx, nil, 10*time.Millisecond)
	}()
	return func() { cancel(); <-done }
}
