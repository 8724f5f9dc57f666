package replay_test

import (
	"context"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/replay"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// groundTruth matches every message against every rule directly (no index,
// no stream) and counts the destinations per message.
func groundTruth(t testing.TB, rs []rules.Rule, msgs []*nats.Msg) (notifications int, matched int) {
	t.Helper()
	var cs []*rules.Compiled
	for _, r := range rs {
		c, err := rules.Compile(r)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for _, m := range msgs {
		p, err := bus.ParseNATS(m.Subject, m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var dests []rules.Destination
		for _, c := range cs {
			d, _ := c.Match(context.Background(), p, nil)
			for _, x := range d {
				if !slices.Contains(dests, x) {
					dests = append(dests, x)
				}
			}
		}
		notifications += len(dests)
		if len(dests) > 0 {
			matched++
		}
	}
	return notifications, matched
}

func TestReplayBus(t *testing.T) {
	t.Parallel()
	const users, total = 30, 400
	n := startNATS(t)
	ctx := fmntest.Context(t)
	var msgs []*nats.Msg
	for i := range total {
		msgs = append(msgs, syntheticMsg(i, users))
	}
	publishAll(t, n.JS, total/2, func(i int) *nats.Msg { return msgs[i] })
	time.Sleep(20 * time.Millisecond) // two distinct store times for --since
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	publishAll(t, n.JS, total/2, func(i int) *nats.Msg { return msgs[total/2+i] })
	rs := syntheticRules(users)
	site := notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}
	replayAll := func(t *testing.T, o replay.BusOptions) (replay.BusReport, []*replay.BusMessage) {
		t.Helper()
		o.Stream, o.Rules, o.Site = n.Streams.Bus, rs, site
		var got []*replay.BusMessage
		rep, err := replay.Bus(ctx, n.JS, o, func(m *replay.BusMessage) error {
			got = append(got, m)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rep, got
	}

	t.Run("AllMessagesMatchLikeTheRules", func(t *testing.T) {
		t.Parallel()
		wantNotes, wantMatched := groundTruth(t, rs, msgs)
		rep, got := replayAll(t, replay.BusOptions{})
		if rep.Read != total || rep.Selected != total || len(got) != total {
			t.Fatalf("read %d, selected %d, got %d; want %d", rep.Read, rep.Selected, len(got), total)
		}
		if int(rep.Notifications) != wantNotes || int(rep.Matched) != wantMatched {
			t.Errorf("notifications %d (messages matched %d), want %d (%d)", rep.Notifications, rep.Matched, wantNotes, wantMatched)
		}
		for i, m := range got {
			if m.Seq != uint64(i+1) || m.ID != msgs[i].Header.Get(wire.HeaderMsgID) {
				t.Fatalf("message %d is seq %d id %s", i, m.Seq, m.ID)
			}
		}
		t.Logf("%d messages, %d notifications, %.0f msgs/s", rep.Read, rep.Notifications, rep.Rate())
	})

	t.Run("SameNotificationsAsTheConsumer", func(t *testing.T) {
		t.Parallel()
		m := consumer.NewMatcher(staticRules(rs), nil, site, nil)
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		_, got := replayAll(t, replay.BusOptions{Render: true})
		for _, bm := range got {
			want, err := m.Match(ctx, bm.Parsed, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != len(bm.Notifications) {
				t.Fatalf("message %d: %d notifications, the consumer makes %d", bm.Seq, len(bm.Notifications), len(want))
			}
			for i, w := range want {
				g := *bm.Notifications[i]
				g.CreatedAt = w.CreatedAt
				if !reflect.DeepEqual(&g, w) {
					t.Fatalf("message %d notification %d:\n got %+v\nwant %+v", bm.Seq, i, g, *w)
				}
			}
		}
	})

	t.Run("NoSideEffects", func(t *testing.T) {
		t.Parallel()
		replayAll(t, replay.BusOptions{})
		st, err := n.JS.Stream(ctx, n.Streams.Notify)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil || info.State.Msgs != 0 {
			t.Errorf("NOTIFY holds %d messages after a replay (%v)", info.State.Msgs, err)
		}
	})

	t.Run("TopicGlob", func(t *testing.T) {
		t.Parallel()
		rep, got := replayAll(t, replay.BusOptions{Topic: "org.fedoraproject.prod.koji.*"})
		if len(got) != total/4 {
			t.Fatalf("koji messages: %d, want %d", len(got), total/4)
		}
		// The server filtered: nothing else was read.
		if rep.Read != total/4 {
			t.Errorf("read %d messages for a koji glob", rep.Read)
		}
		for _, m := range got {
			if !strings.Contains(m.Subject, ".koji.") {
				t.Errorf("subject %s", m.Subject)
			}
		}
		_, got = replayAll(t, replay.BusOptions{Topic: "*.pag?re.*"})
		if len(got) != total/4 {
			t.Errorf("pagure messages by a leading wildcard: %d, want %d", len(got), total/4)
		}
	})

	t.Run("MessageIDs", func(t *testing.T) {
		t.Parallel()
		rep, got := replayAll(t, replay.BusOptions{MessageIDs: []string{"msg-00000042", "msg-00000007", "nope"}})
		if len(got) != 2 || got[0].ID != "msg-00000007" || got[1].ID != "msg-00000042" {
			t.Fatalf("found %v", got)
		}
		if len(rep.Missing) != 1 || rep.Missing[0] != "nope" {
			t.Errorf("missing %v", rep.Missing)
		}
		rep, got = replayAll(t, replay.BusOptions{MessageIDs: []string{"msg-00000003"}})
		if len(got) != 1 || rep.Read != 4 {
			t.Errorf("one early id: %d found, %d read (the replay should stop once found)", len(got), rep.Read)
		}
	})

	t.Run("SequenceAndTimeRanges", func(t *testing.T) {
		t.Parallel()
		_, got := replayAll(t, replay.BusOptions{Selection: replay.Selection{FromSeq: 11, ToSeq: 20}})
		if len(got) != 10 || got[0].Seq != 11 || got[9].Seq != 20 {
			t.Errorf("seq 11-20: %d messages", len(got))
		}
		_, got = replayAll(t, replay.BusOptions{Selection: replay.Selection{Since: mid}})
		if len(got) != total/2 || got[0].Seq != total/2+1 {
			t.Errorf("since the middle: %d messages", len(got))
		}
		_, got = replayAll(t, replay.BusOptions{Selection: replay.Selection{Until: mid}})
		if len(got) != total/2 {
			t.Errorf("until the middle: %d messages", len(got))
		}
	})

	t.Run("Explain", func(t *testing.T) {
		t.Parallel()
		// Rule 2 is user0's users-followed rule of user2, koji only.
		_, got := replayAll(t, replay.BusOptions{Explain: []int64{2}, Selection: replay.Selection{ToSeq: 200}})
		refusals := map[string]int{}
		for _, m := range got {
			e := m.Explanations[0]
			if e.Matched != slices.Contains(matchedRules(m), 2) {
				t.Fatalf("message %d: explanation says matched=%v, replay matched %v", m.Seq, e.Matched, matchedRules(m))
			}
			switch r := e.Refusal(); {
			case r == "":
				refusals["matched"]++
			case strings.Contains(r, "filter applications"):
				refusals["applications"]++
			case strings.Contains(r, "tracking rule users-followed"):
				refusals["tracking"]++
			default:
				t.Errorf("unexpected refusal %q", r)
			}
		}
		if refusals["applications"] == 0 || refusals["tracking"] == 0 || refusals["matched"] == 0 {
			t.Errorf("refusals %v: want some of each", refusals)
		}
	})

	t.Run("Resend", func(t *testing.T) {
		t.Parallel()
		nn := startNATS(t)
		_, got := replayAll(t, replay.BusOptions{Render: true, Selection: replay.Selection{ToSeq: 20}})
		var list []replay.Resendable
		for _, m := range got {
			for _, x := range m.Notifications {
				list = append(list, replay.Resendable{N: x, Source: "BUS:" + strconv.FormatUint(m.Seq, 10)})
			}
		}
		rs := replay.Resend{RunID: replay.NewRunID(time.Now()), By: "ops", Stream: nn.Streams.Notify}
		rep, err := rs.Publish(ctx, nn.JS, list, nil)
		if err != nil || rep.Published != len(list) || len(list) == 0 {
			t.Fatalf("resend: %+v, %v (of %d)", rep, err, len(list))
		}
		again, err := rs.Publish(ctx, nn.JS, list, nil)
		if err != nil || again.Duplicates != len(list) || again.Published != 0 {
			t.Errorf("the same run again: %+v, %v", again, err)
		}
		st, _ := nn.JS.Stream(ctx, nn.Streams.Notify)
		m, err := st.GetMsg(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get(wire.HeaderMsgID); id != "resend:"+rs.RunID+":"+list[0].N.ID {
			t.Errorf("Nats-Msg-Id %q", id)
		}
		if m.Header.Get(wire.HeaderResendRun) != rs.RunID || m.Header.Get(wire.HeaderResendBy) != "ops" || m.Header.Get(wire.HeaderResendOf) != list[0].Source {
			t.Errorf("headers %v", m.Header)
		}
	})
}

// staticRules serves a fixed rule set to a consumer.Matcher.
type staticRules []rules.Rule

func (s staticRules) Version(context.Context) (uint64, error) { return 1, nil }

func (s staticRules) Changes(_ context.Context, since uint64) ([]rules.Rule, []int64, uint64, error) {
	if since >= 1 {
		return nil, nil, 1, nil
	}
	return s, nil, 1, nil
}

func TestTopicSubject(t *testing.T) {
	t.Parallel()
	for glob, want := range map[string]string{
		"org.fedoraproject.prod.koji.build.state.change": "bus.org.fedoraproject.prod.koji.build.state.change",
		"org.fedoraproject.prod.koji.*":                  "bus.org.fedoraproject.prod.koji.>",
		"org.fedoraproject.prod.ko*":                     "bus.org.fedoraproject.prod.>",
		"org.fedoraproject.*.koji.*":                     "bus.org.fedoraproject.>",
		"*.koji.*":                                       "",
		"org*":                                           "",
		"":                                               "",
	} {
		if got := replay.TopicSubject(glob); got != want {
			t.Errorf("TopicSubject(%q) = %q, want %q", glob, got, want)
		}
	}
}

// TestReplayBusThroughput is the CI-sized version of the benchmark below.
func TestReplayBusThroughput(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	const count = 20000
	publishAll(t, n.JS, count, func(i int) *nats.Msg { return syntheticMsg(i, 500) })
	rep, err := replay.Bus(fmntest.Context(t), n.JS, replay.BusOptions{Stream: n.Streams.Bus, Rules: syntheticRules(500)},
		func(*replay.BusMessage) error { return nil })
	if err != nil || rep.Read != count {
		t.Fatalf("replayed %d of %d: %v", rep.Read, count, err)
	}
	t.Logf("replayed %d messages through %d rules in %s: %.0f msgs/s (%d notifications)",
		rep.Read, rep.Rules, rep.Elapsed.Round(time.Millisecond), rep.Rate(), rep.Notifications)
}

// BenchmarkReplayBus stores FMN_BENCH_REPLAY_MESSAGES (default 1,000,000)
// small bus messages in an embedded server once, then measures
//
//   - read: an ordered consumer reading them, nothing else (the ceiling);
//   - replay: fmn replay bus — parse, match through 1,000 rules, render.
//
// Run it with: go test -run '^$' -bench ReplayBus -benchtime 1x ./replay/
func BenchmarkReplayBus(b *testing.B) {
	count := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("FMN_BENCH_REPLAY_MESSAGES")); err == nil && v > 0 {
		count = v
	}
	n := benchStore(b, count)
	ctx := context.Background()
	const users = 700 // ~933 rules
	rs := syntheticRules(users)
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			read := readAll(b, n.JS, n.Streams.Bus)
			if read != count {
				b.Fatalf("read %d of %d", read, count)
			}
			b.ReportMetric(float64(read)/time.Since(start).Seconds(), "msgs/s")
		}
	})
	b.Run("replay", func(b *testing.B) {
		for b.Loop() {
			rep, err := replay.Bus(ctx, n.JS, replay.BusOptions{Stream: n.Streams.Bus, Rules: rs},
				func(*replay.BusMessage) error { return nil })
			if err != nil || rep.Read != uint64(count) {
				b.Fatalf("replayed %d of %d: %v", rep.Read, count, err)
			}
			b.ReportMetric(rep.Rate(), "msgs/s")
			b.Logf("replayed %d messages through %d rules in %s: %.0f msgs/s, %d notifications",
				rep.Read, rep.Rules, rep.Elapsed.Round(time.Millisecond), rep.Rate(), rep.Notifications)
		}
	})
}

var (
	benchOnce sync.Once
	benchNATS *fmntest.NATS
	benchDir  string
)

// TestMain removes the benchmark's server and storage, which outlive any
// one benchmark.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchNATS != nil {
		benchNATS.Conn.Close()
		benchNATS.Server.Shutdown()
	}
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchStore fills one server for every sub-benchmark and run.
func benchStore(b *testing.B, count int) *fmntest.NATS {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fmn-replay-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		srv, err := streams.StartEmbedded(dir, 0)
		if err != nil {
			b.Fatal(err)
		}
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			b.Fatal(err)
		}
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8000))
		if err != nil {
			b.Fatal(err)
		}
		cfg := streams.Defaults()
		if err := streams.Ensure(context.Background(), js, cfg, nil); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		publishAll(b, js, count, func(i int) *nats.Msg { return syntheticMsg(i, 700) })
		b.Logf("stored %d bus messages in %s", count, time.Since(start).Round(time.Millisecond))
		benchNATS = &fmntest.NATS{URL: srv.URL(), Conn: nc, JS: js, Streams: cfg, Server: srv}
	})
	return benchNATS
}

func readAll(b *testing.B, js jetstream.JetStream, stream string) int {
	ctx := context.Background()
	oc, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(2048))
	if err != nil {
		b.Fatal(err)
	}
	defer it.Stop()
	n := 0
	for {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		md, err := m.Metadata()
		if err != nil {
			b.Fatal(err)
		}
		n++
		if md.NumPending == 0 {
			return n
		}
	}
}

// matchedRules returns the ids of the rules that produced a notification.
func matchedRules(m *replay.BusMessage) []int64 {
	var ids []int64
	for _, x := range m.Matches {
		ids = append(ids, x.RuleIDs...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
