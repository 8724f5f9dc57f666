package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/distgit"
	"github.com/fmn-project/fmn/fasjson"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/svccache"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/redis/rueidis"
)

const (
	artifactTopic   = "org.fedoraproject.prod.fmntest.artifact.changed"
	userAddedTopic  = "org.fedoraproject.prod.pagure.project.user.added"
	groupAddedTopic = "org.fedoraproject.prod.pagure.project.group.added"
)

// services is FASJSON and dist-git as test servers.
type services struct {
	fas *fmntest.FASJSON
	dg  *fmntest.DistGit
}

func startServices(t *testing.T) *services {
	t.Helper()
	s := &services{fas: fmntest.StartFASJSON(t), dg: fmntest.StartDistGit(t)}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.fas.AddUser(u, []string{u + "@example.org"}, []string{"irc:/" + u})
	}
	return s
}

// fmnProcess is what one fmn process holds: its Redis client (with its
// own client-side cache) and the directory on it.
type fmnProcess struct {
	client rueidis.Client
	wake   <-chan struct{}
	dir    *directory.Directory
}

func newProcess(t *testing.T, ctx context.Context, prefix string, s *services) *fmnProcess {
	t.Helper()
	return newProcessAt(t, ctx, fmntest.RedisURL(), prefix, s)
}

// newProcessAt is newProcess on the Redis at url.
func newProcessAt(t *testing.T, ctx context.Context, url, prefix string, s *services) *fmnProcess {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	wake := rulelog.NotifyVersion(&opt, prefix)
	inv := svccache.Hook(&opt)
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	t.Cleanup(client.Close)
	t.Cleanup(func() { deleteKeys(client, prefix) })
	fc, err := fasjson.New(fasjson.Config{URL: s.fas.URL, Backoff: time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := distgit.New(distgit.Config{URL: s.dg.URL, Backoff: time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	cache := svccache.New(ctx, client, inv, svccache.Config{Prefix: prefix + "svc:"})
	dir := directory.New(directory.Config{FASJSON: fc, DistGit: dc, Cache: cache, Invalidations: inv, Log: testLogger(t)})
	return &fmnProcess{client: client, wake: wake, dir: dir}
}

// deleteKeys deletes every key under prefix.
func deleteKeys(c rueidis.Client, prefix string) {
	// Bounded: a test's private Redis may be down by now.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		if len(e.Elements) > 0 {
			_ = c.Do(ctx, c.B().Del().Key(e.Elements...).Build()).Error()
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

// ownershipMatcher is a consumer process's matcher that follows dist-git:
// the directory as its lookups, loaded and kept in sync until the test
// ends.
func (b *bundle) ownershipMatcher(t *testing.T, p *fmnProcess) *consumer.Matcher {
	t.Helper()
	m := consumer.NewMatcher(rulelog.NewReader(b.pg.Pool, p.client, b.prefix), p.dir, testSite, testLogger(t))
	ctx, cancel := context.WithCancel(b.ctx)
	m.FollowOwnership(ctx, p.dir)
	if err := m.Sync(b.ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunSync(ctx, p.wake, 500*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func emailTo(user string) rules.GenerationRule {
	return rules.GenerationRule{Destinations: []rules.Destination{{Protocol: rules.ProtocolEmail, Address: user + "@example.org"}}}
}

// artifactMsg is a bus message about one artifact of type typ (the body
// lists of the generic extractor).
func artifactMsg(t testing.TB, id, typ, name string) *nats.Msg {
	key := map[string]string{
		rules.ArtifactRPMs: "packages", rules.ArtifactContainers: "containers",
		rules.ArtifactModules: "modules", rules.ArtifactFlatpaks: "flatpaks",
	}[typ]
	return busMsg(t, id, artifactTopic, map[string]any{"summary": "news about " + typ + "/" + name, key: []string{name}}, nil)
}

// accessMsg is a pagure.project.* access change message about project.
func accessMsg(t testing.TB, id, topic string, project map[string]any, fields map[string]any) *nats.Msg {
	body := map[string]any{"agent": "admin", "project": project}
	maps.Copy(body, fields)
	return busMsg(t, id, topic, body, nil)
}

// notified maps each bus message id to the addresses notified.
func notified(t *testing.T, b *bundle) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, n := range notifications(t, b.ctx, b.nats) {
		out[n.MessageID] = append(out[n.MessageID], n.Address)
	}
	for id := range out {
		slices.Sort(out[id])
	}
	return out
}

func checkNotified(t *testing.T, got map[string][]string, want map[string][]string) {
	t.Helper()
	for id, addrs := range want {
		if !slices.Equal(got[id], addrs) {
			t.Errorf("message %s notified %v, want %v", id, got[id], addrs)
		}
	}
	for id, addrs := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("message %s notified %v, want nobody", id, addrs)
		}
	}
}

// Ownership rules match through dist-git for the four artifact types, with
// the access levels that count (and not ticket), for users and groups.
func TestOwnershipMatching(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := startServices(t)
	s.dg.AddProject("rpms", "python-requests", "alice")
	s.dg.AddProject("container", "toolbox", "carol")
	s.dg.SetUserAccess("container", "toolbox", "alice", "admin")
	s.dg.AddProject("modules", "nodejs", "carol")
	s.dg.SetUserAccess("modules", "nodejs", "alice", "commit")
	s.dg.AddProject("flatpaks", "firefox", "carol")
	s.dg.SetUserAccess("flatpaks", "firefox", "alice", "collaborator")
	s.dg.AddProject("rpms", "ticket-only", "carol")
	s.dg.SetUserAccess("rpms", "ticket-only", "alice", "ticket")
	s.dg.AddProject("tests", "python-requests", "alice")
	s.dg.AddProject("rpms", "sig-pkg", "carol")
	s.dg.SetGroupAccess("rpms", "sig-pkg", "python-sig", "commit")
	s.dg.AddProject("flatpaks", "sig-flatpak", "carol")
	s.dg.SetGroupAccess("flatpaks", "sig-flatpak", "python-sig", "admin")
	s.dg.AddProject("modules", "sig-module", "carol")
	s.dg.SetGroupAccess("modules", "sig-module", "python-sig", "collaborator")
	s.dg.AddProject("rpms", "sig-ticket", "carol")
	s.dg.SetGroupAccess("rpms", "sig-ticket", "python-sig", "ticket")

	b.createRule(t, "alice", rules.TrackArtifactsOwned, `["alice"]`, emailTo("alice"))
	b.createRule(t, "bob", rules.TrackArtifactsGroupOwned, `["python-sig"]`, emailTo("bob"))
	p := newProcess(t, b.ctx, b.prefix, s)
	m := b.ownershipMatcher(t, p)
	b.startConsumer(t, m, consumer.Config{})

	b.publish(t,
		artifactMsg(t, "rpm-owner", rules.ArtifactRPMs, "python-requests"),
		artifactMsg(t, "container-admin", rules.ArtifactContainers, "toolbox"),
		artifactMsg(t, "module-commit", rules.ArtifactModules, "nodejs"),
		artifactMsg(t, "flatpak-collaborator", rules.ArtifactFlatpaks, "firefox"),
		artifactMsg(t, "rpm-ticket-only", rules.ArtifactRPMs, "ticket-only"),
		// python-requests exists in "tests" too: a container of that name
		// is someone else's.
		artifactMsg(t, "wrong-type", rules.ArtifactContainers, "python-requests"),
		artifactMsg(t, "group-commit", rules.ArtifactRPMs, "sig-pkg"),
		artifactMsg(t, "group-admin", rules.ArtifactFlatpaks, "sig-flatpak"),
		artifactMsg(t, "group-collaborator", rules.ArtifactModules, "sig-module"),
		artifactMsg(t, "group-ticket-only", rules.ArtifactRPMs, "sig-ticket"),
		artifactMsg(t, "unowned", rules.ArtifactRPMs, "kernel"),
	)
	waitSettled(t, b.ctx, b.nats, "matcher", 15*time.Second)
	checkNotified(t, notified(t, b), map[string][]string{
		"rpm-owner":            {"alice@example.org"},
		"container-admin":      {"alice@example.org"},
		"module-commit":        {"alice@example.org"},
		"flatpak-collaborator": {"alice@example.org"},
		"group-commit":         {"bob@example.org"},
		"group-admin":          {"bob@example.org"},
		"group-collaborator":   {"bob@example.org"},
	})
}

// A pagure.project.user.added message makes the very next message about
// the project notify the new user: no TTL to wait for. Until the message
// comes, the cached answer stands (that is what the message is for).
func TestAccessChangeTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			t.Parallel()
			accessChangeTakesEffect(t, workers)
		})
	}
}

// accessChangeTakesEffect is TestAccessChangeTakesEffectAtOnce with that
// many workers: the messages before an access change are matched against
// the old owners, those after it against the new ones.
func accessChangeTakesEffect(t *testing.T, workers int) {
	b := setup(t)
	s := startServices(t)
	s.dg.AddProject("rpms", "foo", "alice")
	s.dg.AddProject("rpms", "bar", "carol")
	s.dg.AddProject("container", "baz", "alice")
	b.createRule(t, "alice", rules.TrackArtifactsOwned, `["alice"]`, emailTo("alice"))
	b.createRule(t, "carol", rules.TrackArtifactsOwned, `["carol"]`, emailTo("carol"))
	b.createRule(t, "dave", rules.TrackArtifactsGroupOwned, `["infra-sig"]`, emailTo("dave"))
	s.dg.AddGroup("infra-sig")
	p := newProcess(t, b.ctx, b.prefix, s)
	m := b.ownershipMatcher(t, p)
	r := b.startConsumer(t, m, consumer.Config{Workers: workers})

	b.publish(t, artifactMsg(t, "before", rules.ArtifactRPMs, "foo"))
	waitSettled(t, b.ctx, b.nats, "matcher", 15*time.Second)
	carolCalls := s.dg.CallsTo("/api/0/projects")

	// dist-git changes; fmn does not know until the bus says so.
	s.dg.SetUserAccess("rpms", "foo", "carol", "commit")
	s.dg.SetGroupAccess("container", "baz", "infra-sig", "commit")
	// Bursts on either side of each change, stored at once, so that
	// several workers have messages to match around it.
	want := map[string][]string{"before": {"alice@example.org"}}
	var burst []*nats.Msg
	add := func(prefix, typ, name string, to ...string) {
		for i := range 20 {
			id := fmt.Sprintf("%s-%d", prefix, i)
			burst = append(burst, artifactMsg(t, id, typ, name))
			want[id] = to
		}
	}
	add("stale", rules.ArtifactRPMs, "foo", "alice@example.org")
	burst = append(burst, accessMsg(t, "carol-added", userAddedTopic, s.dg.ProjectJSON("rpms", "foo"), map[string]any{"new_user": "carol", "access": "commit"}))
	add("after", rules.ArtifactRPMs, "foo", "alice@example.org", "carol@example.org")
	add("stale-group", rules.ArtifactContainers, "baz", "alice@example.org")
	burst = append(burst, accessMsg(t, "sig-added", groupAddedTopic, s.dg.ProjectJSON("container", "baz"), map[string]any{"new_group": "infra-sig", "access": "commit"}))
	add("after-group", rules.ArtifactContainers, "baz", "alice@example.org", "dave@example.org")
	publishAsync(t, b.nats.JS, burst)
	waitSettled(t, b.ctx, b.nats, "matcher", 15*time.Second)
	checkNotified(t, notified(t, b), want)
	if n := s.dg.CallsTo("/api/0/projects") - carolCalls; n != 1 {
		t.Errorf("%d calls for carol's projects after the change, want 1", n)
	}
	if got := r.c.Stats.Retries.Load(); got != 0 {
		t.Errorf("%d retries", got)
	}
}

// Pagure instances other than the configured dist-git send the same
// topics; their access changes change nothing.
func TestAccessChangeOnAnotherPagureIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := startServices(t)
	s.dg.AddProject("rpms", "foo", "alice")
	s.dg.AddProject("rpms", "bar", "carol")
	b.createRule(t, "carol", rules.TrackArtifactsOwned, `["carol"]`, emailTo("carol"))
	p := newProcess(t, b.ctx, b.prefix, s)
	m := b.ownershipMatcher(t, p)
	b.startConsumer(t, m, consumer.Config{})
	b.publish(t, artifactMsg(t, "warm", rules.ArtifactRPMs, "bar"))
	waitSettled(t, b.ctx, b.nats, "matcher", 15*time.Second)
	calls, invalidated := s.dg.Calls(), p.dir.Stats().Invalidated

	s.dg.SetUserAccess("rpms", "foo", "carol", "commit")
	other := s.dg.ProjectJSON("rpms", "foo")
	other["full_url"] = "https://pagure.io/rpms/foo"
	// A look-alike host must not pass for the configured one either.
	lookalike := s.dg.ProjectJSON("rpms", "foo")
	lookalike["full_url"] = s.dg.URL + ".evil.example/rpms/foo"
	b.publish(t,
		accessMsg(t, "other-pagure", userAddedTopic, other, map[string]any{"new_user": "carol"}),
		accessMsg(t, "lookalike", userAddedTopic, lookalike, map[string]any{"new_user": "carol"}),
		artifactMsg(t, "after", rules.ArtifactRPMs, "foo"),
	)
	waitSettled(t, b.ctx, b.nats, "matcher", 15*time.Second)
	checkNotified(t, notified(t, b), map[string][]string{"warm": {"carol@example.org"}})
	if got := s.dg.Calls(); got != calls {
		t.Errorf("%d dist-git calls after the foreign messages, want none", got-calls)
	}
	if got := p.dir.Stats().Invalidated; got != invalidated {
		t.Errorf("%d cache entries invalidated, want none", got-invalidated)
	}
}

// An access change handled by one consumer instance reaches the index of
// another through Redis' invalidation notices.
func TestAccessChangeReachesOtherInstances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := startServices(t)
	s.dg.AddProject("rpms", "foo", "alice")
	s.dg.AddProject("rpms", "bar", "carol")
	b.createRule(t, "carol", rules.TrackArtifactsOwned, `["carol"]`, emailTo("carol"))
	p1, p2 := newProcess(t, b.ctx, b.prefix, s), newProcess(t, b.ctx, b.prefix, s)
	m1, m2 := b.ownershipMatcher(t, p1), b.ownershipMatcher(t, p2)

	about := func(name string) *bus.Parsed {
		return &bus.Parsed{ID: "m-" + name, Topic: artifactTopic, Packages: []string{name}, Summary: "s"}
	}
	matches := func(m *consumer.Matcher, name string) []string {
		ns, err := m.Match(b.ctx, about(name), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var addrs []string
		for _, n := range ns {
			addrs = append(addrs, n.Address)
		}
		return addrs
	}
	if got := matches(m2, "foo"); len(got) != 0 {
		t.Fatalf("before: %v", got)
	}
	s.dg.SetUserAccess("rpms", "foo", "carol", "commit")
	msg := accessMsg(t, "carol-added", userAddedTopic, s.dg.ProjectJSON("rpms", "foo"), map[string]any{"new_user": "carol"})
	parsed, err := bus.ParseNATS(msg.Subject, msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	// Instance 1 handles the message; instance 2 never sees it.
	if err := m1.Observe(b.ctx, parsed); err != nil {
		t.Fatal(err)
	}
	if got := matches(m1, "foo"); !slices.Equal(got, []string{"carol@example.org"}) {
		t.Fatalf("instance 1 after the change: %v", got)
	}
	fmntest.Eventually(t, time.Second, "instance 2 re-indexes carol's rule", func() bool {
		return slices.Equal(matches(m2, "foo"), []string{"carol@example.org"})
	})
}

// The owner check disables, through an event on RULES, the rules of a
// user FASJSON does not know (404); a FASJSON outage (500) disables
// nothing, and a dist-git outage makes messages wait for redelivery rather
// than be dropped.
func TestOwnerChecksAndOutages(t *testing.T) {
	t.Parallel()

	runChecks := func(t *testing.T, b *bundle, m *consumer.Matcher, p *fmnProcess) {
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.RunOwnerChecks(ctx, consumer.OwnerCheck{
				Exists: p.dir.UserExists,
				Disable: func(ctx context.Context, id int64) error {
					_, err := b.cmds.SetDisabled(ctx, id, true, rulelog.Meta{Actor: "fmn:owner-check"})
					return err
				},
				Poll: 20 * time.Millisecond, Retry: 50 * time.Millisecond,
			})
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	disabledEvents := func(t *testing.T, b *bundle) map[int64]string {
		t.Helper()
		out := map[int64]string{}
		for _, sm := range readStream(t, b.ctx, b.nats.JS, b.nats.Streams.Rules) {
			ev, err := rulelog.DecodeEvent(sm.Subject, sm.Header, sm.Data)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type == rulelog.EventRuleDisabled {
				out[ev.RuleID] = ev.Actor
			}
			if sm.Header.Get(wire.HeaderEvent) != ev.Type {
				t.Errorf("event header %q for %s", sm.Header.Get(wire.HeaderEvent), ev.Type)
			}
		}
		return out
	}

	t.Run("404 disables the owner's rules through an event", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := startServices(t)
		ghost := b.createRule(t, "ghost", rules.TrackRelatedEvents, "", emailTo("ghost"))
		ghost2 := b.createRule(t, "ghost", rules.TrackUsersFollowed, `["alice"]`, emailTo("ghost"))
		alice := b.createRule(t, "alice", rules.TrackRelatedEvents, "", emailTo("alice"))
		p := newProcess(t, b.ctx, b.prefix, s)
		m := b.ownershipMatcher(t, p)
		runChecks(t, b, m, p)
		fmntest.Eventually(t, 10*time.Second, "ghost's rules leave the index", func() bool { return m.RuleCount() == 1 })
		for _, id := range []int64{ghost.ID, ghost2.ID} {
			r, err := b.cmds.Store().Rule(b.ctx, id)
			if err != nil || !r.Disabled {
				t.Fatalf("rule %d: disabled %v, %v", id, r.Disabled, err)
			}
		}
		if r, _ := b.cmds.Store().Rule(b.ctx, alice.ID); r.Disabled {
			t.Fatal("alice's rule disabled")
		}
		ev := disabledEvents(t, b)
		if len(ev) != 2 || ev[ghost.ID] != "fmn:owner-check" || ev[ghost2.ID] != "fmn:owner-check" {
			t.Fatalf("rule.disabled events: %v", ev)
		}
		// The 404 was confirmed with FASJSON, not taken from the cache alone.
		if n := s.fas.CallsTo("/v1/users/ghost/"); n != 2 {
			t.Errorf("%d FASJSON calls for ghost, want 2 (lookup, confirmation)", n)
		}
	})

	t.Run("500 disables nothing; the message waits and is delivered after", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := startServices(t)
		s.dg.AddProject("rpms", "foo", "alice")
		s.dg.AddProject("rpms", "bar", "carol")
		ghost := b.createRule(t, "ghost", rules.TrackRelatedEvents, "", emailTo("ghost"))
		b.createRule(t, "alice", rules.TrackArtifactsOwned, `["alice"]`, emailTo("alice"))
		carol := b.createRule(t, "carol", rules.TrackArtifactsOwned, `["carol"]`, emailTo("carol"))
		p := newProcess(t, b.ctx, b.prefix, s)
		s.fas.Fail(500)
		m := b.ownershipMatcher(t, p)
		runChecks(t, b, m, p)
		r := b.startConsumer(t, m, consumer.Config{})

		fmntest.Eventually(t, 10*time.Second, "the owner check tried FASJSON several times", func() bool {
			return s.fas.CallsTo("/v1/users/ghost/") >= 4
		})
		// dist-git goes down too, and carol gets commit on foo.
		s.dg.SetUserAccess("rpms", "foo", "carol", "commit")
		s.dg.Fail(503)
		b.publish(t,
			accessMsg(t, "carol-added", userAddedTopic, s.dg.ProjectJSON("rpms", "foo"), map[string]any{"new_user": "carol"}),
			artifactMsg(t, "about-foo", rules.ArtifactRPMs, "foo"),
			artifactMsg(t, "about-other", rules.ArtifactRPMs, "kernel"),
		)
		fmntest.Eventually(t, 10*time.Second, "the messages were given back for redelivery", func() bool {
			return r.c.Stats.Retries.Load() >= 4
		})
		for _, id := range []int64{ghost.ID, carol.ID} {
			if rr, err := b.cmds.Store().Rule(b.ctx, id); err != nil || rr.Disabled {
				t.Fatalf("rule %d disabled during the outage (%v)", id, err)
			}
		}
		if got := notified(t, b); len(got) != 0 {
			t.Fatalf("notified during the outage: %v", got)
		}
		s.dg.Fail(0)
		waitSettled(t, b.ctx, b.nats, "matcher", 20*time.Second)
		checkNotified(t, notified(t, b), map[string][]string{
			"about-foo": {"alice@example.org", "carol@example.org"},
		})
		if ev := disabledEvents(t, b); len(ev) != 0 {
			t.Fatalf("rules disabled by a FASJSON outage: %v", ev)
		}
		// Once FASJSON answers again, its 404 counts.
		s.fas.Fail(0)
		fmntest.Eventually(t, 10*time.Second, "ghost's rule disabled after FASJSON recovered", func() bool {
			rr, err := b.cmds.Store().Rule(b.ctx, ghost.ID)
			return err == nil && rr.Disabled
		})
	})
}

// staticSource is a fixed rule set for tests that drive the matcher
// without the rule log.
type staticSource struct {
	mu    sync.Mutex
	rules []rules.Rule
}

func (s *staticSource) Version(context.Context) (uint64, error) { return 1, nil }

func (s *staticSource) Changes(_ context.Context, since uint64) ([]rules.Rule, []int64, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if since >= 1 {
		return nil, nil, 1, nil
	}
	return slices.Clone(s.rules), nil, 1, nil
}

// The service cache, measured on a realistic stream: 10,000 messages over
// 1,000 packages owned by 300 users and 40 groups, 260 ownership rules,
// and an access change every 500 messages. Each distinct lookup must reach
// dist-git once, plus once per invalidation, however many messages need it.
func TestOwnershipCacheMeasured(t *testing.T) {
	t.Parallel()
	const (
		packages  = 1000
		users     = 300
		groups    = 40
		userRules = 220
		grpRules  = 40
		messages  = 10000
		every     = 500 // an access change every this many messages
	)
	ctx := fmntest.Context(t)
	prefix := fmntest.RedisPrefix(t)
	s := startServices(t)
	s.dg.MaxPerPage = 100
	rng := rand.New(rand.NewPCG(1, 2))
	user := func(i int) string { return fmt.Sprintf("user%03d", i) }
	group := func(i int) string { return fmt.Sprintf("sig%02d", i) }
	pkg := func(i int) string { return fmt.Sprintf("pkg%04d", i) }
	for i := range packages {
		s.dg.AddProject("rpms", pkg(i), user(i%users))
		if i%3 == 0 {
			s.dg.SetUserAccess("rpms", pkg(i), user(rng.IntN(users)), "commit")
		}
		if i%5 == 0 {
			s.dg.SetUserAccess("rpms", pkg(i), user(rng.IntN(users)), "ticket")
		}
		if i%4 == 0 {
			s.dg.SetGroupAccess("rpms", pkg(i), group(i%groups), "commit")
		}
	}
	src := &staticSource{}
	for i := range userRules {
		u := user(i)
		src.rules = append(src.rules, rules.Rule{ID: int64(i + 1), User: rules.User{Name: u},
			TrackingRule:    rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: json.RawMessage(`["` + u + `"]`)},
			GenerationRules: []rules.GenerationRule{emailTo(u)}})
	}
	for i := range grpRules {
		u := user(users - 1 - i)
		src.rules = append(src.rules, rules.Rule{ID: int64(1000 + i), User: rules.User{Name: u},
			TrackingRule:    rules.TrackingRule{Name: rules.TrackArtifactsGroupOwned, Params: json.RawMessage(`["` + group(i) + `"]`)},
			GenerationRules: []rules.GenerationRule{emailTo(u)}})
	}
	p := newProcess(t, ctx, prefix, s)
	m := consumer.NewMatcher(src, p.dir, testSite, testLogger(t))
	m.FollowOwnership(ctx, p.dir)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	indexCalls, indexStats := s.dg.Calls(), p.dir.Stats()

	var notes, changes, changedWithRule int
	start := time.Now()
	for i := range messages {
		var pm *bus.Parsed
		if i > 0 && i%every == 0 {
			// A rule's user gets commit on a package: the next messages
			// about it must reach them.
			u, pi := user(rng.IntN(userRules)), rng.IntN(packages)
			s.dg.SetUserAccess("rpms", pkg(pi), u, "commit")
			body, _ := json.Marshal(map[string]any{"agent": "admin", "new_user": u, "project": s.dg.ProjectJSON("rpms", pkg(pi))})
			pm = &bus.Parsed{ID: fmt.Sprintf("change-%d", i), Topic: userAddedTopic, Body: body}
			changes++
			changedWithRule++
		} else {
			// Package popularity is skewed, as on the real bus.
			pi := int(float64(packages) * rng.Float64() * rng.Float64())
			pm = &bus.Parsed{ID: fmt.Sprintf("msg-%d", i), Topic: artifactTopic, Packages: []string{pkg(pi)}, Summary: "s"}
		}
		if err := m.Observe(ctx, pm); err != nil {
			t.Fatal(err)
		}
		ns, err := m.Match(ctx, pm, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		notes += len(ns)
	}
	elapsed := time.Since(start)
	st := p.dir.Stats()
	distinct := int64(userRules + grpRules)
	t.Logf("stream: %d messages over %d packages (%d access changes), %d notifications, %s (%.0f msg/s)",
		messages, packages, changes, notes, elapsed.Round(time.Millisecond), float64(messages)/elapsed.Seconds())
	t.Logf("lookups: %d answered — memo %d, client-side cache %d, Redis %d, dist-git %d — hit rate %.2f%%",
		st.Lookups(), st.MemoHits, st.ClientHits, st.RedisHits, st.Fetches, 100*st.HitRate())
	streamLookups, streamFetches := st.Lookups()-indexStats.Lookups(), st.Fetches-indexStats.Fetches
	t.Logf("dist-git HTTP calls: %d to index %d ownership rules (%d distinct owners), %d for the whole stream; %d cache entries invalidated",
		indexCalls, len(src.rules), distinct, s.dg.Calls()-indexCalls, st.Invalidated)
	t.Logf("the stream alone: %d lookups, %d reached dist-git (%d access changes) — hit rate %.3f%%",
		streamLookups, streamFetches, changes, 100*float64(streamLookups-streamFetches)/float64(streamLookups))
	if want := distinct + int64(changedWithRule); st.Fetches != want {
		t.Errorf("%d lookups reached dist-git, want %d (each distinct lookup once, plus once per invalidation)", st.Fetches, want)
	}
	if int64(s.dg.Calls()) != st.Fetches {
		t.Errorf("%d HTTP calls for %d fetches (every owner fits one page here)", s.dg.Calls(), st.Fetches)
	}
	if notes == 0 {
		t.Error("no notification at all")
	}
	if st.HitRate() < 0.95 {
		t.Errorf("hit rate %.4f", st.HitRate())
	}
}
