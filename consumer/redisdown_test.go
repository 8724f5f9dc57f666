package consumer_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
)

var _ consumer.ProjectionSource = (*rulelog.Reader)(nil)

// logRecorder keeps the messages a logger wrote (and passes them on to
// the test log), so that a test can count them.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

type recordingHandler struct {
	r *logRecorder
	slog.Handler
}

func (h recordingHandler) Handle(ctx context.Context, rec slog.Record) error {
	h.r.mu.Lock()
	h.r.msgs = append(h.r.msgs, rec.Level.String()+" "+rec.Message)
	h.r.mu.Unlock()
	return h.Handler.Handle(ctx, rec)
}

func (h recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordingHandler{h.r, h.Handler.WithAttrs(as)}
}

func (h recordingHandler) WithGroup(name string) slog.Handler {
	return recordingHandler{h.r, h.Handler.WithGroup(name)}
}

// recordingLogger logs at Info and above to the test log and to the
// returned recorder.
func recordingLogger(t testing.TB) (*slog.Logger, *logRecorder) {
	r := &logRecorder{}
	h := slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelInfo})
	return slog.New(recordingHandler{r, h}), r
}

// count is how many messages of level contain substr.
func (r *logRecorder) count(level slog.Level, substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, level.String()+" ") && strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// redisMatcher is a consumer process's matcher on the Redis at url, kept
// in sync by RunSync polling every 500ms, as fmn runs it, until the test
// ends. With notes it also follows the projector's progress notes, as fmn
// does; without, it misses every note, so that only its polls bring rule
// changes while Redis is down.
func (b *bundle) redisMatcher(t *testing.T, url string, notes bool) (*consumer.Matcher, *logRecorder) {
	t.Helper()
	var wake <-chan struct{}
	client := newRedisAt(t, url, b.prefix, &wake)
	log, rec := recordingLogger(t)
	m := consumer.NewMatcher(rulelog.NewReader(b.pg.Pool, client, b.prefix), nil, testSite, log)
	if notes {
		nc, err := nats.Connect(b.nats.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		sub, err := rulelog.FollowProgress(nc, "", m.Noted)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := m.Sync(b.ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunSync(ctx, wake, 500*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return m, rec
}

// followersOf is the addresses m notifies of an action of agent.
func followersOf(t *testing.T, m *consumer.Matcher, agent string) []string {
	t.Helper()
	p := &bus.Parsed{ID: "by-" + agent, Topic: bodhiTopic, Agent: agent, Summary: agent + " did something"}
	ns, err := m.Match(context.Background(), p, time.Now())
	if err != nil {
		t.Fatalf("Match an action of %s: %v", agent, err)
	}
	var out []string
	for _, n := range ns {
		out = append(out, n.Address)
	}
	slices.Sort(out)
	return out
}

const (
	fallbackLog = "rule changes now reach matching through the projector's NATS notes and polls of PostgreSQL"
	recoveryLog = "rule changes reach matching through its invalidations again"
)

// Issue 15, item 4: rule changes reach matching within the contract (one
// second) while Redis is down, in order, whether Redis refuses
// connections (stopped) or leaves them hanging (frozen); the matcher says
// so once, shows it in its fallback state and poll count, and returns to
// normal, saying so once, when Redis is back.
func TestRuleChangesWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	for _, outage := range fmntest.RedisOutages {
		t.Run(outage.Name, func(t *testing.T) {
			t.Parallel()
			rd := fmntest.StartRedis(t)
			b := setupWith(t, rd.URL)
			// As fmn runs it: Redis invalidations and the progress notes.
			noted, notedLog := b.redisMatcher(t, rd.URL, true)
			// Without the notes: only the fallback's polls of PostgreSQL.
			polled, polledLog := b.redisMatcher(t, rd.URL, false)
			matchers := map[string]*consumer.Matcher{"following notes": noted, "polling only": polled}
			logs := map[string]*logRecorder{"following notes": notedLog, "polling only": polledLog}

			bob := b.createRule(t, "bob", rules.TrackUsersFollowed, `["carol"]`, emailTo("bob"))
			for name, m := range matchers {
				fmntest.Eventually(t, time.Second, name+": bob's rule before the outage", func() bool {
					return slices.Equal(followersOf(t, m, "carol"), []string{"bob@example.org"})
				})
			}

			outage.Down(rd)
			began := time.Now()
			// Three changes, in order: alice follows dave; erin follows
			// dave, then deletes that rule; bob follows dave instead of
			// carol.
			b.createRule(t, "alice", rules.TrackUsersFollowed, `["dave"]`, emailTo("alice"))
			erin := b.createRule(t, "erin", rules.TrackUsersFollowed, `["dave"]`, emailTo("erin"))
			if err := b.cmds.Delete(b.ctx, "erin", erin.ID, nil, rulelog.Meta{}); err != nil {
				t.Fatal(err)
			}
			upd := bob.Rule
			upd.TrackingRule.Params = json.RawMessage(`["dave"]`)
			if _, err := b.cmds.Update(b.ctx, "bob", bob.ID, upd, nil, rulelog.Meta{}); err != nil {
				t.Fatal(err)
			}
			accepted := time.Now()
			t.Logf("changes accepted %s after Redis went down", accepted.Sub(began).Round(time.Millisecond))
			for name, m := range matchers {
				fmntest.Eventually(t, time.Second, name+": the changes made during the outage matched", func() bool {
					return slices.Equal(followersOf(t, m, "dave"), []string{"alice@example.org", "bob@example.org"}) &&
						len(followersOf(t, m, "carol")) == 0
				})
				t.Logf("%s: changes matched %s after their acceptance", name, time.Since(accepted).Round(time.Millisecond))
			}

			// The fallback is visible: state, polls, one warning.
			for name, m := range matchers {
				fmntest.Eventually(t, 5*time.Second, name+": in fallback, polling PostgreSQL", func() bool {
					return m.PropagationFallback() && m.FallbackPolls() > 0
				})
			}
			polls := polled.FallbackPolls()
			time.Sleep(1500 * time.Millisecond)
			if n := polled.FallbackPolls(); n <= polls {
				t.Errorf("polling only: %d fallback polls, then %d 1.5s later; want more", polls, n)
			}
			for name, l := range logs {
				if n := l.count(slog.LevelWarn, fallbackLog); n != 1 {
					t.Errorf("%s: the fallback logged %d times, want once", name, n)
				}
			}

			outage.Up(rd)
			for name, m := range matchers {
				// The state flips before the line is logged: wait for both.
				fmntest.Eventually(t, 10*time.Second, name+": back from the fallback, and saying so", func() bool {
					return !m.PropagationFallback() && logs[name].count(slog.LevelInfo, recoveryLog) > 0
				})
			}
			// The projector publishes the version in Redis again.
			check := newRedisAt(t, rd.URL, b.prefix+"check:", nil)
			want := noted.Version()
			fmntest.Eventually(t, 5*time.Second, "the projection's version back in Redis", func() bool {
				v, err := check.Do(b.ctx, check.B().Get().Key(rulelog.VersionKey(b.prefix)).Build()).AsUint64()
				return err == nil && v >= want
			})
			// A change after the outage reaches both.
			b.createRule(t, "carol", rules.TrackUsersFollowed, `["dave"]`, emailTo("carol"))
			for name, m := range matchers {
				fmntest.Eventually(t, time.Second, name+": a change after the outage matched", func() bool {
					return slices.Equal(followersOf(t, m, "dave"), []string{"alice@example.org", "bob@example.org", "carol@example.org"})
				})
				if m.PropagationFallback() {
					t.Errorf("%s: in fallback again", name)
				}
			}
			for name, l := range logs {
				if n := l.count(slog.LevelWarn, fallbackLog); n != 1 {
					t.Errorf("%s: the fallback logged %d times in all, want once", name, n)
				}
				if n := l.count(slog.LevelInfo, recoveryLog); n != 1 {
					t.Errorf("%s: the recovery logged %d times in all, want once", name, n)
				}
			}
		})
	}
}

// While Redis is down, Redis calls on the matching path (the service
// cache of ownership lookups) are bounded: a message whose match needs
// one is retried, and the messages after it flow within the contract.
func TestMatchingWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	for _, outage := range fmntest.RedisOutages {
		t.Run(outage.Name, func(t *testing.T) {
			t.Parallel()
			rd := fmntest.StartRedis(t)
			b := setupWith(t, rd.URL)
			s := startServices(t)
			s.dg.AddProject("rpms", "foo", "alice")
			s.dg.AddProject("rpms", "bar", "alice")
			b.createRule(t, "alice", rules.TrackArtifactsOwned, `["alice"]`, emailTo("alice"))
			b.createRule(t, "bob", rules.TrackUsersFollowed, `["carol"]`, emailTo("bob"))
			p := newProcessAt(t, b.ctx, rd.URL, b.prefix, s)
			m := b.ownershipMatcher(t, p)
			r := b.startConsumer(t, m, consumer.Config{})
			b.publish(t, artifactMsg(t, "about-foo", rules.ArtifactRPMs, "foo"))
			fmntest.Eventually(t, 5*time.Second, "alice notified about foo", func() bool {
				return slices.Equal(notified(t, b)["about-foo"], []string{"alice@example.org"})
			})

			outage.Down(rd)
			// A message about an artifact whose owners were never looked up
			// (bar) first, then one that needs no lookup.
			b.publish(t, busMsg(t, "access", userAddedTopic, map[string]any{
				"agent": "admin", "project": map[string]any{"name": "bar", "namespace": "rpms", "fullname": "rpms/bar",
					"full_url": s.dg.URL + "/rpms/bar"}, "new_user": "dave", "access": "commit",
			}, nil))
			b.publish(t, artifactMsg(t, "about-bar", rules.ArtifactRPMs, "bar"))
			published := time.Now()
			b.publish(t, busMsg(t, "by-carol", bodhiTopic, map[string]any{"agent": "carol", "summary": "carol commented"}, nil))
			fmntest.Eventually(t, time.Second, "bob notified of carol's action during the outage", func() bool {
				return slices.Equal(notified(t, b)["by-carol"], []string{"bob@example.org"})
			})
			t.Logf("carol's action notified %s after it was published", time.Since(published).Round(time.Millisecond))

			outage.Up(rd)
			waitSettled(t, b.ctx, b.nats, "matcher", 30*time.Second)
			checkNotified(t, notified(t, b), map[string][]string{
				"about-foo": {"alice@example.org"},
				"about-bar": {"alice@example.org"},
				"by-carol":  {"bob@example.org"},
			})
			r.stillRunning(t)
		})
	}
}
