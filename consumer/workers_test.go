package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
)

// Parallel matching publishes what serial matching publishes: the same
// NOTIFY messages (subjects, Nats-Msg-Ids, bodies), each once, and acks
// every message, on the corpus (with its pagure ACL and FAS messages, which
// the dispatcher handles alone) and on the benchmark's traffic.
func TestWorkersSameOutput(t *testing.T) {
	t.Parallel()
	corpus, corpusRules := corpusTraffic(t)
	w := newBenchWorld(11, 500, 200)
	benchRules := w.benchRules(1500)
	for i := range benchRules {
		benchRules[i].ID = int64(i + 1)
	}
	bench := w.benchMessages(3000)
	for _, tc := range []struct {
		name  string
		rules []rules.Rule
		msgs  []benchMsg
	}{{"corpus", corpusRules, corpus}, {"bench", benchRules, bench}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stampSentAt(tc.msgs)
			access := 0
			for _, bm := range tc.msgs {
				if changesAccess(bm.Msg.Subject) {
					access++
				}
			}
			serial := notifyOutput(t, tc.rules, tc.msgs, 1)
			if len(serial) == 0 {
				t.Fatal("serial matching published nothing")
			}
			parallel := notifyOutput(t, tc.rules, tc.msgs, 4)
			t.Logf("%d messages (%d access changes), %d notifications", len(tc.msgs), access, len(serial))
			if len(parallel) != len(serial) {
				t.Errorf("parallel published %d notifications, serial %d", len(parallel), len(serial))
			}
			for _, id := range slices.Sorted(maps.Keys(serial)) {
				if parallel[id] != serial[id] {
					t.Errorf("notification %s:\nserial   %s\nparallel %s", id, serial[id], parallel[id])
				}
			}
			for id := range parallel {
				if _, ok := serial[id]; !ok {
					t.Errorf("notification %s only in parallel: %s", id, parallel[id])
				}
			}
		})
	}
}

// corpusTraffic is every valid corpus message, and rules that match them:
// each user they name has a related-events rule, and followers follow
// their packages and users.
func corpusTraffic(t *testing.T) ([]benchMsg, []rules.Rule) {
	t.Helper()
	var msgs []benchMsg
	users, pkgs := map[string]bool{}, map[string]bool{}
	for _, m := range corpusMessages() {
		nm, err := m.NATSMsg()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, benchMsg{ID: m.ID, Msg: nm})
		p, err := bus.ParseNATS(nm.Subject, nm.Header, nm.Data)
		if err != nil {
			t.Fatalf("corpus message %s: %v", m.ID, err)
		}
		for _, u := range p.Usernames {
			users[u] = true
		}
		for _, pk := range p.Packages {
			pkgs[pk] = true
		}
	}
	var rs []rules.Rule
	add := func(user, tracking string, params any, f rules.Filters) {
		raw, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, rules.Rule{ID: int64(len(rs) + 1), Name: "r", User: rules.User{Name: user},
			TrackingRule: rules.TrackingRule{Name: tracking, Params: raw},
			GenerationRules: []rules.GenerationRule{{Filters: f, Destinations: []rules.Destination{
				{Protocol: rules.ProtocolEmail, Address: user + "@example.org"}, {Protocol: rules.ProtocolIRC, Address: user}}}}})
	}
	userList, pkgList := slices.Sorted(maps.Keys(users)), slices.Sorted(maps.Keys(pkgs))
	for i, u := range userList {
		add(u, rules.TrackRelatedEvents, nil, rules.Filters{})
		add(fmt.Sprintf("fan%d", i%7), rules.TrackUsersFollowed, []string{u}, rules.Filters{})
	}
	for i, pk := range pkgList {
		add(fmt.Sprintf("packager%d", i%5), rules.TrackArtifactsFollowed,
			[]rules.FollowedArtifact{{Name: pk, Type: rules.ArtifactRPMs}}, rules.Filters{Severities: []string{"info", "warning", "error"}})
	}
	if len(userList) == 0 || len(pkgList) == 0 {
		t.Fatalf("the corpus names %d users and %d packages", len(userList), len(pkgList))
	}
	return msgs, rs
}

// stampSentAt gives the messages without a sent-at header one, so that
// notifications do not take the time each run's stream stored them.
func stampSentAt(msgs []benchMsg) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339Nano)
	for _, bm := range msgs {
		if bm.Msg.Header.Get(bus.HeaderSentAt) == "" {
			bm.Msg.Header.Set(bus.HeaderSentAt, at)
		}
	}
}

// notifyOutput runs a consumer with workers on msgs, in a NATS of its own,
// and returns what NOTIFY holds: by Nats-Msg-Id, the subject and the body
// without created_at (the time of matching).
func notifyOutput(t *testing.T, rs []rules.Rule, msgs []benchMsg, workers int) map[string]string {
	t.Helper()
	ctx := fmntest.Context(t)
	n := fmntest.StartNATS(t)
	src := &listSource{}
	src.put(rs...)
	log := slog.New(slog.DiscardHandler)
	m := NewMatcher(src, nil, notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}, log)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	publishBus(t, ctx, n.Conn, msgs)
	c := New(connect(t, n.URL), n.Streams, m, Config{Workers: workers, InFlight: 256}, log)
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(runCtx) }()
	waitUntil(t, 2*time.Minute, "the consumer acks every message", errc, func() bool { return c.Stats.Acked.Load() >= int64(len(msgs)) })
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if d, r := c.Stats.DeadLetters.Load(), c.Stats.Retries.Load(); d != 0 || r != 0 {
		t.Errorf("workers %d: %d dead letters, %d retries", workers, d, r)
	}
	stored := streamMsgs(t, ctx, n.JS, n.Streams.Notify)
	if stored != c.Stats.Notifications.Load() {
		t.Errorf("workers %d: NOTIFY holds %d, the consumer published %d", workers, stored, c.Stats.Notifications.Load())
	}
	out := make(map[string]string, stored)
	for _, nm := range readStream(t, ctx, n.JS, n.Streams.Notify, int(stored)) {
		var body map[string]any
		if err := json.Unmarshal(nm.Data, &body); err != nil {
			t.Fatal(err)
		}
		delete(body, "created_at")
		norm, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		id := nm.Header.Get(wire.HeaderMsgID)
		if _, dup := out[id]; dup || id == "" {
			t.Errorf("workers %d: notification id %q stored twice or empty", workers, id)
		}
		out[id] = nm.Subject + " " + string(norm)
	}
	return out
}
