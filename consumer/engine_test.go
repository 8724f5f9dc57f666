package consumer_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/preview"
	"github.com/fmn-project/fmn/replay"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
)

// engineLookups plays dist-git for TestOneEngine.
type engineLookups struct{ users, groups map[string]rules.ArtifactSet }

func (l engineLookups) OwnedArtifacts(_ context.Context, user string) (rules.ArtifactSet, error) {
	return l.users[user], nil
}

func (l engineLookups) GroupOwnedArtifacts(_ context.Context, group string) (rules.ArtifactSet, error) {
	return l.groups[group], nil
}

// mostFrequent returns the n most frequent values of count, the most
// frequent first (ties by name).
func mostFrequent(count map[string]int, n int) []string {
	names := slices.Collect(maps.Keys(count))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b)) })
	return names[:min(n, len(names))]
}

// TestOneEngine proves that the consumer, replay (fmn replay bus
// --explain) and the rule preview match as one engine: for the same rules
// (every tracking rule and filter) and the same BUS messages (the real
// messages of bus/testdata/corpus and crafted ones), the notifications the
// consumer publishes, the matches and explanations of replay.Bus, and the
// previews of each rule name the same (message, destination, rule)
// triples, grouped the same way per destination.
func TestOneEngine(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// The corpus, and the names it holds most often.
	f, err := os.Open("../bus/testdata/corpus/fedora-messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msgs []*nats.Msg
	users, agents, pkgs, apps := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	if err := bus.ReadFile(f, func(m *bus.Message) error {
		if seen[m.ID] {
			return nil
		}
		seen[m.ID] = true
		nm, err := m.NATSMsg()
		if err != nil {
			return nil // not publishable; publishers refuse it
		}
		msgs = append(msgs, nm)
		if p, err := bus.ParseNATS(nm.Subject, nm.Header, nm.Data); err == nil && !p.Deprecated {
			for _, u := range p.Usernames {
				users[u]++
			}
			if p.Agent != "" {
				agents[p.Agent]++
			}
			for _, n := range p.Packages {
				pkgs[n]++
			}
			if p.App != "" {
				apps[p.App]++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	topUsers, topAgents, topPkgs, topApps := mostFrequent(users, 2), mostFrequent(agents, 2), mostFrequent(pkgs, 4), mostFrequent(apps, 2)
	if len(topUsers) < 2 || len(topAgents) < 2 || len(topPkgs) < 4 || len(topApps) < 2 {
		t.Fatalf("the corpus holds too few names: %v %v %v %v", topUsers, topAgents, topPkgs, topApps)
	}
	u1, u2 := topUsers[0], topUsers[1]

	// Crafted messages (the generic extractor) for what the corpus lacks:
	// containers, modules, flatpaks, every severity, one's own actions.
	crafted := func(id, topic string, body map[string]any, severity int) *nats.Msg {
		return busMsg(t, id, topic, body, map[string]string{bus.HeaderSeverity: fmt.Sprint(severity)})
	}
	msgs = append(msgs,
		crafted("crafted-own-error", "org.fedoraproject.prod.bodhi.update.comment",
			map[string]any{"agent_name": u2, "usernames": []string{u1, u2}, "packages": []string{topPkgs[0]}}, bus.SeverityError),
		crafted("crafted-debug", "org.fedoraproject.prod.bodhi.update.request",
			map[string]any{"agent_name": topAgents[0], "usernames": []string{u2}, "packages": []string{topPkgs[1]}}, bus.SeverityDebug),
		crafted("crafted-koji-warning", "org.fedoraproject.prod.buildsys.build.state.change",
			map[string]any{"app_name": "koji", "agent_name": topAgents[1], "packages": []string{topPkgs[2], topPkgs[3]}}, bus.SeverityWarning),
		crafted("crafted-artifacts", "org.fedoraproject.prod.pagure.git.receive",
			map[string]any{"agent_name": "carol", "containers": []string{"toolbox"}, "modules": []string{"nodejs"}, "flatpaks": []string{"org.gnome.Maps"}}, bus.SeverityInfo),
		crafted("crafted-app", "org.fedoraproject.prod.copr.build.end",
			map[string]any{"app_name": topApps[0], "agent_name": topAgents[0], "usernames": []string{u1}}, bus.SeverityInfo),
	)

	lk := engineLookups{
		users: map[string]rules.ArtifactSet{"alice": rules.NewArtifactSet(
			rules.Artifact{Type: rules.ArtifactRPMs, Name: topPkgs[1]}, rules.Artifact{Type: rules.ArtifactRPMs, Name: topPkgs[2]},
			rules.Artifact{Type: rules.ArtifactContainers, Name: "toolbox"})},
		groups: map[string]rules.ArtifactSet{"python-sig": rules.NewArtifactSet(
			rules.Artifact{Type: rules.ArtifactRPMs, Name: topPkgs[0]}, rules.Artifact{Type: rules.ArtifactRPMs, Name: topPkgs[3]},
			rules.Artifact{Type: rules.ArtifactModules, Name: "nodejs"})},
	}
	mail := func(u string) rules.Destination { return email(u + "@example.org") }
	gen := func(f rules.Filters, dests ...rules.Destination) rules.GenerationRule {
		return rules.GenerationRule{Filters: f, Destinations: dests}
	}
	topic := func(s string) *string { return &s }
	created := []rulelog.StoredRule{
		b.createRule(t, u1, rules.TrackRelatedEvents, "null", gen(rules.Filters{}, mail(u1))),
		b.createRule(t, u2, rules.TrackRelatedEvents, "null",
			gen(rules.Filters{MyActions: true, Severities: []string{"debug", "info", "warning", "error"}}, irc(u2))),
		b.createRule(t, "alice", rules.TrackUsersFollowed, fmt.Sprintf(`[%q, %q]`, topAgents[0], topAgents[1]),
			gen(rules.Filters{Applications: []string{topApps[0]}}, rules.Destination{Protocol: rules.ProtocolMatrix, Address: "@alice:fedora.im"}),
			gen(rules.Filters{ExcludedApplications: []string{"koji"}}, mail("alice"))),
		b.createRule(t, "bob", rules.TrackArtifactsFollowed,
			fmt.Sprintf(`[{"name": %q, "type": "rpms"}, {"name": "toolbox", "type": "containers"}, {"name": "nodejs", "type": "modules"}, {"name": "org.gnome.Maps", "type": "flatpaks"}]`, topPkgs[0]),
			gen(rules.Filters{Topic: topic("org.fedoraproject.prod.bodhi.*")}, mail("bob")),
			gen(rules.Filters{Severities: []string{"warning", "error"}}, irc("bob")),
			gen(rules.Filters{Topic: topic("*.pagure.git.receive")}, mail("bob"), irc("bob"))),
		// Alice's owned packages go to the address of her users-followed
		// rule: one notification names both.
		b.createRule(t, "alice", rules.TrackArtifactsOwned, `["alice"]`, gen(rules.Filters{}, mail("alice"))),
		b.createRule(t, "carol", rules.TrackArtifactsGroupOwned, `["python-sig"]`,
			gen(rules.Filters{MyActions: true}, mail("carol")),
			gen(rules.Filters{Topic: topic("*.buildsys.*")}, irc("carol"))),
		// A second rule of alice to the same address, without filters.
		b.createRule(t, "alice", rules.TrackUsersFollowed, fmt.Sprintf(`[%q]`, topAgents[0]), gen(rules.Filters{}, mail("alice"))),
	}
	var set []rules.Rule
	for _, sr := range created {
		set = append(set, sr.Rule)
	}

	// The consumer.
	var wake <-chan struct{}
	client := newRedis(t, b.prefix, &wake)
	m := consumer.NewMatcher(rulelog.NewReader(b.pg.Pool, client, b.prefix), lk, testSite, testLogger(t))
	if err := m.Sync(b.ctx); err != nil {
		t.Fatal(err)
	}
	if m.RuleCount() != len(set) {
		t.Fatalf("the matcher has %d rules, want %d", m.RuleCount(), len(set))
	}
	start := time.Now()
	b.startConsumer(t, m, consumer.Config{})
	publishAsync(t, b.nats.JS, msgs)
	waitSettled(t, b.ctx, b.nats, "matcher", settleWithin)

	// Each engine's answer: "message destination" → the rule ids.
	type answer map[string][]int64
	key := func(msgID string, d rules.Destination) string { return msgID + " " + d.Protocol + ":" + d.Address }
	delivered := answer{}
	for _, n := range notifications(t, b.ctx, b.nats) {
		delivered[key(n.MessageID, rules.Destination{Protocol: n.Protocol, Address: n.Address})] = n.RuleIDs
	}

	replayed, explained := answer{}, answer{}
	ids := make([]int64, len(set))
	for i, r := range set {
		ids[i] = r.ID
	}
	rep, err := replay.Bus(b.ctx, b.nats.JS, replay.BusOptions{Stream: b.nats.Streams.Bus, Rules: set, Lookups: lk, Explain: ids},
		func(bm *replay.BusMessage) error {
			if bm.Err != nil && bm.Parsed != nil {
				return bm.Err
			}
			for _, x := range bm.Matches {
				ruleIDs := slices.Clone(x.RuleIDs)
				slices.Sort(ruleIDs)
				replayed[key(bm.ID, x.Destination)] = ruleIDs
			}
			for _, e := range bm.Explanations {
				if e.Err != "" {
					return errors.New(e.Err)
				}
				if !e.Matched {
					continue
				}
				for _, d := range e.Destinations {
					k := key(bm.ID, d)
					explained[k] = append(explained[k], e.RuleID)
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range explained {
		slices.Sort(l)
	}

	// The preview, rule by rule, by the scan and by the recent index.
	index := preview.NewRecentIndex(b.nats.JS, b.nats.Streams.Bus, time.Hour, testLogger(t))
	go func() { _ = index.Run(b.ctx) }()
	eventually(t, 20*time.Second, "the preview index catches up", func() bool { return index.Ready() && index.Len() > 0 })
	previewed := map[string]answer{"scan": {}, "index": {}}
	for _, r := range set {
		for source, into := range previewed {
			pv := preview.New(b.nats.JS, b.nats.Streams.Bus, lk, testSite)
			if source == "index" {
				pv.Index = index
			}
			res, err := pv.Preview(b.ctx, preview.Request{Rule: r, Since: start.Add(-time.Minute), MaxResults: 100000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Source != source || !res.Complete || res.Truncated {
				t.Fatalf("rule %d: preview by %s answered by %s, complete %v, truncated %v", r.ID, source, res.Source, res.Complete, res.Truncated)
			}
			for _, n := range res.Notifications {
				k := key(n.MessageID, n.Destination)
				into[k] = append(into[k], r.ID)
			}
		}
	}

	// Every rule matches something, and something is grouped.
	perRule, grouped := map[int64]int{}, 0
	for _, l := range delivered {
		for _, id := range l {
			perRule[id]++
		}
		if len(l) > 1 {
			grouped++
		}
	}
	for _, r := range set {
		if perRule[r.ID] == 0 {
			t.Errorf("rule %d (%s of %s) matched nothing: the test does not exercise it", r.ID, r.TrackingRule.Name, r.User.Name)
		}
	}
	if grouped == 0 {
		t.Error("no notification names two rules: grouping per destination is not exercised")
	}
	t.Logf("%d messages (%d read by replay, %d invalid); %d notifications, %d naming several rules; per rule %v",
		len(msgs), rep.Read, rep.Invalid, len(delivered), grouped, perRule)

	compare := func(name string, got answer) {
		t.Helper()
		keys := slices.Sorted(maps.Keys(delivered))
		for _, k := range keys {
			if !slices.Equal(got[k], delivered[k]) {
				t.Errorf("%s: %s: rules %v, the consumer delivered %v", name, k, got[k], delivered[k])
			}
		}
		for k := range got {
			if _, ok := delivered[k]; !ok {
				t.Errorf("%s: %s: rules %v, the consumer delivered nothing", name, k, got[k])
			}
		}
	}
	compare("replay", replayed)
	compare("replay --explain", explained)
	for source, got := range previewed {
		compare("preview by "+source, got)
	}
	if t.Failed() {
		t.Logf("consumer: %s", strings.Join(slices.Sorted(maps.Keys(delivered)), "\n"))
	}
}
