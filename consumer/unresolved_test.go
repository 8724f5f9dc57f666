package consumer_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// A cold start with dist-git answering 500: the first Sync succeeds with
// the ownership rules unresolved, other rules match at once, and messages
// about artifacts are retried, not lost, until dist-git answers again.
func TestColdStartWithDistGitDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := startServices(t)
	s.dg.AddProject("rpms", "foo", "alice")
	s.dg.AddProject("container", "baz", "carol")
	s.dg.SetGroupAccess("container", "baz", "infra-sig", "commit")
	b.createRule(t, "alice", rules.TrackArtifactsOwned, `["alice"]`, emailTo("alice"))
	b.createRule(t, "dave", rules.TrackArtifactsGroupOwned, `["infra-sig"]`, emailTo("dave"))
	b.createRule(t, "bob", rules.TrackUsersFollowed, `["carol"]`, emailTo("bob"))
	s.dg.Fail(500)
	p := newProcess(t, b.ctx, b.prefix, s)
	// ownershipMatcher fails the test if the first Sync fails.
	m := b.ownershipMatcher(t, p)
	if !m.Loaded() || m.RuleCount() != 3 || m.Unresolved() != 2 {
		t.Fatalf("after the first Sync: loaded %v, %d rules, %d unresolved; want true, 3, 2", m.Loaded(), m.RuleCount(), m.Unresolved())
	}
	r := b.startConsumer(t, m, consumer.Config{})

	b.publish(t,
		artifactMsg(t, "about-foo", rules.ArtifactRPMs, "foo"),
		busMsg(t, "by-carol", bodhiTopic, map[string]any{"agent": "carol", "summary": "carol commented"}, nil),
		artifactMsg(t, "about-baz", rules.ArtifactContainers, "baz"),
	)
	fmntest.Eventually(t, 10*time.Second, "bob notified of carol's action during the outage", func() bool {
		return slices.Equal(notified(t, b)["by-carol"], []string{"bob@example.org"})
	})
	fmntest.Eventually(t, 10*time.Second, "the artifact messages given back for redelivery", func() bool {
		return r.c.Stats.Retries.Load() >= 4
	})
	checkNotified(t, notified(t, b), map[string][]string{"by-carol": {"bob@example.org"}})
	if n := m.Unresolved(); n != 2 {
		t.Fatalf("%d unresolved during the outage, want 2", n)
	}

	s.dg.Fail(0)
	fmntest.Eventually(t, 20*time.Second, "the artifact messages delivered after the outage", func() bool {
		got := notified(t, b)
		return len(got["about-foo"]) > 0 && len(got["about-baz"]) > 0
	})
	waitSettled(t, b.ctx, b.nats, "matcher", 20*time.Second)
	checkNotified(t, notified(t, b), map[string][]string{
		"by-carol":  {"bob@example.org"},
		"about-foo": {"alice@example.org"},
		"about-baz": {"dave@example.org"},
	})
	fmntest.Eventually(t, 10*time.Second, "no rule left unresolved", func() bool { return m.Unresolved() == 0 })
	r.stillRunning(t)
}

// While running, an ownership rule created during a dist-git outage does
// not hold up the rule changes after it.
func TestOwnershipOutageDoesNotBlockRuleChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := startServices(t)
	s.dg.AddProject("rpms", "foo", "alice")
	bob := b.createRule(t, "bob", rules.TrackUsersFollowed, `["carol"]`, emailTo("bob"))
	p := newProcess(t, b.ctx, b.prefix, s)
	m := b.ownershipMatcher(t, p)

	s.dg.Fail(503)
	b.createRule(t, "alice", rules.TrackArtifactsOwned, `["alice"]`, emailTo("alice"))
	fmntest.Eventually(t, 5*time.Second, "alice's rule indexed as unresolved", func() bool {
		return m.RuleCount() == 2 && m.Unresolved() == 1
	})

	// Bob now follows dave instead of carol.
	upd := bob.Rule
	upd.TrackingRule.Params = json.RawMessage(`["dave"]`)
	if _, err := b.cmds.Update(b.ctx, "bob", bob.ID, upd, nil, rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}
	byDave := &bus.Parsed{ID: "by-dave", Topic: bodhiTopic, Agent: "dave", Summary: "s"}
	start := time.Now()
	fmntest.Eventually(t, 2*time.Second, "bob's change applied during the outage", func() bool {
		ns, err := m.Match(b.ctx, byDave, time.Now())
		return err == nil && len(ns) == 1 && ns[0].Address == "bob@example.org"
	})
	t.Logf("bob's change applied within %s of its acceptance", time.Since(start).Round(time.Millisecond))
	// A message about an artifact meets alice's rule, which cannot decide
	// yet: an error, so the consumer retries it.
	aboutFoo := &bus.Parsed{ID: "about-foo", Topic: artifactTopic, Packages: []string{"foo"}, Summary: "s"}
	if ns, err := m.Match(b.ctx, aboutFoo, time.Now()); err == nil {
		t.Fatalf("Match about foo during the outage: no error, %d notifications", len(ns))
	}

	s.dg.Fail(0)
	fmntest.Eventually(t, 10*time.Second, "alice's rule resolved", func() bool { return m.Unresolved() == 0 })
	ns, err := m.Match(b.ctx, aboutFoo, time.Now())
	if err != nil || len(ns) != 1 || ns[0].Address != "alice@example.org" {
		t.Fatalf("Match about foo after the outage: %d notifications, %v", len(ns), err)
	}
}
