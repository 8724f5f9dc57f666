package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
)

// settleWithin bounds how long the tests wait for a consumer to handle
// what was published.
const settleWithin = 30 * time.Second

func TestConsumer(t *testing.T) {
	t.Parallel()

	t.Run("Notifications", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		aliceMail := email("alice@example.org")
		bodhiOnly := rules.Filters{Applications: []string{"bodhi"}}
		a1 := b.createRule(t, "alice", rules.TrackRelatedEvents, "null", genTo(bodhiOnly, aliceMail))
		a2 := b.createRule(t, "alice", rules.TrackRelatedEvents, "null", genTo(bodhiOnly, aliceMail))
		bob := b.createRule(t, "bob", rules.TrackUsersFollowed, `["carol"]`, genTo(rules.Filters{}, irc("bob")))
		dave := b.createRule(t, "dave", rules.TrackArtifactsFollowed, `[{"name": "kernel", "type": "rpms"}]`,
			genTo(rules.Filters{}, rules.Destination{Protocol: rules.ProtocolMatrix, Address: "@dave:fedora.im"}))
		b.startConsumer(t, b.newMatcher(t), consumer.Config{})

		const kojiTopic = "org.fedoraproject.prod.buildsys.build.state.change"
		b.publish(t,
			// About alice, by carol, on kernel: alice (both rules, one
			// email), bob (follows carol) and dave (follows kernel).
			busMsg(t, "m1", bodhiTopic, map[string]any{
				"agent_name": "carol", "summary": "kernel-6.9 has a new comment", "content": "LGTM",
				"url": "https://bodhi.example.org/updates/1",
			}, map[string]string{
				bus.FilterHeader("user", "alice"): "true",
				bus.FilterHeader("rpm", "kernel"): "true",
				bus.HeaderSeverity:                "30",
				bus.HeaderSentAt:                  "2024-05-01T12:00:00+00:00",
			}),
			// Not from bodhi: alice's rules filter it out; bob's does not.
			busMsg(t, "m2", kojiTopic, map[string]any{"agent": "carol"},
				map[string]string{bus.FilterHeader("user", "alice"): "true"}),
			// Nobody's business.
			busMsg(t, "m3", bodhiTopic, map[string]any{"agent": "zoe"},
				map[string]string{bus.FilterHeader("user", "zoe"): "true"}),
		)
		waitSettled(t, b.ctx, b.nats, "matcher", settleWithin)

		got := map[string]*notification.Notification{}
		for _, n := range notifications(t, b.ctx, b.nats) {
			if got[n.ID] != nil {
				t.Errorf("notification %s stored twice", n.ID)
			}
			got[n.ID] = n
		}
		want := []struct {
			msg, proto, addr, user string
			ruleIDs                []int64
		}{
			{"m1", "email", "alice@example.org", "alice", []int64{a1.ID, a2.ID}},
			{"m1", "irc", "bob", "bob", []int64{bob.ID}},
			{"m1", "matrix", "@dave:fedora.im", "dave", []int64{dave.ID}},
			{"m2", "irc", "bob", "bob", []int64{bob.ID}},
		}
		if len(got) != len(want) {
			t.Errorf("NOTIFY holds %d notifications, want %d", len(got), len(want))
		}
		for _, w := range want {
			n := got[notification.ID(w.msg, w.proto, w.addr)]
			if n == nil {
				t.Errorf("no notification of %s to %s %s", w.msg, w.proto, w.addr)
				continue
			}
			if n.MessageID != w.msg || n.Protocol != w.proto || n.Address != w.addr || n.User != w.user {
				t.Errorf("notification of %s to %s %s: message %q protocol %q address %q user %q",
					w.msg, w.proto, w.addr, n.MessageID, n.Protocol, n.Address, n.User)
			}
			if !slices.Equal(n.RuleIDs, w.ruleIDs) || n.RuleID != w.ruleIDs[0] {
				t.Errorf("notification of %s to %s: rule %d, rules %v; want %d, %v", w.msg, w.addr, n.RuleID, n.RuleIDs, w.ruleIDs[0], w.ruleIDs)
			}
		}

		m1 := got[notification.ID("m1", "email", "alice@example.org")]
		if m1 != nil {
			if m1.Topic != bodhiTopic || m1.App != "bodhi" || m1.Severity != bus.SeverityWarning ||
				m1.Summary != "kernel-6.9 has a new comment" || m1.Text != "LGTM" || m1.URL != "https://bodhi.example.org/updates/1" ||
				!m1.SentAt.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
				t.Errorf("m1 email fields: %+v", m1)
			}
			if m1.Email == nil {
				t.Fatal("m1 email: no rendered email")
			}
			if s := m1.Email.Subject; s != "[bodhi] kernel-6.9 has a new comment" {
				t.Errorf("m1 email subject %q", s)
			}
			footer := fmt.Sprintf("Sent by fmn test: https://fmn.example.org/rules/%d", a1.ID)
			if body := m1.Email.Body; !strings.HasPrefix(body, "LGTM\nhttps://bodhi.example.org/updates/1\n\n-- \n") || !strings.Contains(body, footer) {
				t.Errorf("m1 email body %q, want text, URL and footer %q", body, footer)
			}
			if h := m1.Email.Headers[notification.HeaderMessageID]; !strings.Contains(h, m1.ID) {
				t.Errorf("m1 Message-ID %q does not hold the notification id %s", h, m1.ID)
			}
		}
		if m1irc := got[notification.ID("m1", "irc", "bob")]; m1irc != nil {
			if m1irc.Line != "[bodhi] kernel-6.9 has a new comment https://bodhi.example.org/updates/1" || m1irc.Email != nil {
				t.Errorf("m1 IRC line %q, email %+v", m1irc.Line, m1irc.Email)
			}
		}
		if m2 := got[notification.ID("m2", "irc", "bob")]; m2 != nil {
			if m2.App != "buildsys" || m2.Line != "[buildsys] "+kojiTopic {
				t.Errorf("m2 IRC: app %q line %q", m2.App, m2.Line)
			}
		}
		if n := streamMsgs(t, b.ctx, b.nats.JS, b.nats.Streams.DLQ); n != 0 {
			t.Errorf("DLQ holds %d messages, want none", n)
		}
	})

	t.Run("RuleChangesWhileRunning", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		m := b.newMatcher(t)
		run := b.startConsumer(t, m, consumer.Config{})
		want := map[string]bool{}
		step := 0
		// check publishes messages and waits until they are handled, then
		// compares NOTIFY with want.
		check := func(what string, msgs ...*nats.Msg) {
			t.Helper()
			b.publish(t, msgs...)
			waitSettled(t, b.ctx, b.nats, "matcher", settleWithin)
			checkIDs(t, notificationIDs(t, b.ctx, b.nats), want)
			run.stillRunning(t)
			t.Logf("%s: ok", what)
		}
		// applied waits until the matcher reflects the whole RULES stream,
		// within the one second the design allows from the command's
		// return.
		applied := func(what string, since time.Time) {
			t.Helper()
			s, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(b.ctx)
			if err != nil {
				t.Fatal(err)
			}
			seq := info.State.LastSeq
			eventually(t, time.Second, fmt.Sprintf("matcher applies %s (rules version %d)", what, seq), func() bool {
				return m.Version() >= seq
			})
			t.Logf("%s reached the matcher %s after the command returned", what, time.Since(since).Round(time.Millisecond))
		}
		msg := func(users []string, agent string) *nats.Msg {
			step++
			h := map[string]string{}
			for _, u := range users {
				h[bus.FilterHeader("user", u)] = "true"
			}
			return busMsg(t, fmt.Sprintf("step-%d", step), bodhiTopic, map[string]any{"agent": agent}, h)
		}
		mid := func() string { return fmt.Sprintf("step-%d", step) }
		aliceMail := email("alice@example.org")

		check("no rules", msg([]string{"alice"}, "carol"))

		start := time.Now()
		r := b.createRule(t, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, aliceMail))
		applied("a new rule", start)
		m1 := msg([]string{"alice"}, "carol")
		want[notification.ID(mid(), "email", "alice@example.org")] = true
		check("created rule matches", m1)

		// Alice now follows carol instead of watching her own name: a
		// message about alice by bob no longer matches, one by carol does.
		start = time.Now()
		upd := rules.Rule{Name: "follow carol", TrackingRule: rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: []byte(`["carol"]`)},
			GenerationRules: []rules.GenerationRule{genTo(rules.Filters{}, aliceMail)}}
		if _, err := b.cmds.Update(b.ctx, "alice", r.ID, upd, nil, rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		applied("an update", start)
		check("old keys no longer match", msg([]string{"alice"}, "bob"))
		m2 := msg([]string{"zoe"}, "carol")
		want[notification.ID(mid(), "email", "alice@example.org")] = true
		check("new keys match", m2)

		start = time.Now()
		if _, err := b.cmds.SetDisabled(b.ctx, r.ID, true, rulelog.Meta{Actor: "admin"}); err != nil {
			t.Fatal(err)
		}
		applied("disabling", start)
		check("disabled rule is silent", msg(nil, "carol"))

		start = time.Now()
		if _, err := b.cmds.SetDisabled(b.ctx, r.ID, false, rulelog.Meta{Actor: "admin"}); err != nil {
			t.Fatal(err)
		}
		applied("enabling", start)
		m3 := msg(nil, "carol")
		want[notification.ID(mid(), "email", "alice@example.org")] = true
		check("enabled rule matches again", m3)

		start = time.Now()
		if err := b.cmds.Delete(b.ctx, "alice", r.ID, nil, rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
		applied("a deletion", start)
		check("deleted rule is silent", msg([]string{"alice"}, "carol"))
		if n := m.RuleCount(); n != 0 {
			t.Errorf("RuleCount after the deletion = %d", n)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.createRule(t, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("alice@example.org")))
		run := b.startConsumer(t, b.newMatcher(t), consumer.Config{})

		want := map[string]bool{}
		good := 0
		goodMsg := func() *nats.Msg {
			good++
			id := fmt.Sprintf("good-%d", good)
			want[notification.ID(id, "email", "alice@example.org")] = true
			return busMsg(t, id, bodhiTopic, map[string]any{"summary": "fine"},
				map[string]string{bus.FilterHeader("user", "alice"): "true"})
		}
		raw := func(subject, id string, data []byte) *nats.Msg {
			m := nats.NewMsg(subject)
			if id != "" {
				m.Header.Set("Nats-Msg-Id", id)
			}
			m.Header.Set(bus.FilterHeader("user", "alice"), "true")
			m.Data = data
			return m
		}
		bigBody := []byte(`{"pad": "` + strings.Repeat("x", bus.DefaultMaxBody) + `"}`)
		manyHeaders := raw("bus."+bodhiTopic, "many-headers", []byte(`{}`))
		for i := range 2000 {
			manyHeaders.Header.Set(fmt.Sprintf("x-header-%04d", i), "v")
		}
		longValue := raw("bus."+bodhiTopic, "long-value", []byte(`{}`))
		longValue.Header.Set("x-long", strings.Repeat("v", 10000))
		// A not-JSON message that carries JetStream's own publish
		// headers: its dead letter must not pass them on to DLQ.
		steering := raw("bus."+bodhiTopic, "steering", []byte("<xml/>"))
		steering.Header.Set("Nats-Expected-Stream", b.nats.Streams.Bus)
		longTopic := strings.Repeat("a.", 150) + "z"
		// Messages that only just fit in a NATS message (20 bytes to
		// spare; the embedded server allows 8 MiB): their dead letters,
		// with the reason added, would not.
		maxPayload := int(b.nats.Conn.MaxPayload())
		fillBody := raw("bus."+bodhiTopic, "fill-body", nil)
		fillBody.Data = []byte(`{"pad": "` + strings.Repeat("x", maxPayload-headerBlockSize(fillBody.Header)-20-len(`{"pad": ""}`)) + `"}`)
		// JetStream refuses a header block over 64 KiB: 1001 headers
		// (too many) that fill it all but 40 bytes.
		fillHeaders := raw("bus."+bodhiTopic, "fill-headers", []byte(`{}`))
		for i := range 1001 {
			fillHeaders.Header.Set(fmt.Sprintf("x-header-%04d", i), "v")
		}
		fillHeaders.Header.Set("x-pad", "")
		fillHeaders.Header.Set("x-pad", strings.Repeat("p", math.MaxUint16-40-headerBlockSize(fillHeaders.Header)))
		// A valid message with a text near the body limit: JSON escapes
		// each '<' as \u003c, so unclipped its notification would exceed
		// the max payload. Render clips the text, so it is delivered.
		hugeNote, err := (&bus.Message{
			ID: "huge-notification", Topic: bodhiTopic,
			Headers: map[string]json.RawMessage{bus.FilterHeader("user", "alice"): json.RawMessage(`true`)},
			Body:    json.RawMessage(`{"content": "` + strings.Repeat("<", bus.DefaultMaxBody-100) + `"}`),
		}).NATSMsg()
		if err != nil {
			t.Fatal(err)
		}

		bad := []struct {
			name   string
			msg    *nats.Msg
			reason string
			// bodyLeftOut: the dead letter cannot carry the body.
			bodyLeftOut bool
		}{
			{"not JSON", raw("bus."+bodhiTopic, "not-json", []byte("this is not JSON")), "body is not valid JSON", false},
			{"empty body", raw("bus."+bodhiTopic, "empty", nil), "body is not valid JSON", false},
			{"no Nats-Msg-Id", raw("bus."+bodhiTopic, "", []byte(`{"summary": "anonymous"}`)), "no message id (header Nats-Msg-Id)", false},
			{"oversize body", raw("bus."+bodhiTopic, "oversize", bigBody),
				fmt.Sprintf("body of %d bytes exceeds the limit of %d bytes", len(bigBody), bus.DefaultMaxBody), false},
			{"2000 headers", manyHeaders, "headers exceed the limit of 1000", false},
			{"header value of 10000 bytes", longValue, "value of 10000 bytes exceeds the limit of 4096 bytes", false},
			{"topic of 301 bytes", raw("bus."+longTopic, "long-topic", []byte(`{}`)), "topic of 301 bytes exceeds the limit of 255 bytes", false},
			{"topic not UTF-8", raw("bus.org.fedoraproject.prod.caf\xe9", "latin1-topic", []byte(`{}`)), "is not valid UTF-8", false},
			{"JetStream headers", steering, "body is not valid JSON", false},
			{"body filling the max payload", fillBody,
				"exceeds the limit of 1048576 bytes (body of " + strconv.Itoa(len(fillBody.Data)) + " bytes left out: too large for a dead letter)", true},
			{"1001 headers filling 64 KiB", fillHeaders,
				"1004 headers exceed the limit of 1000 (1003 headers left out: too large for a dead letter)", false},
		}
		bySeq := map[uint64]int{}
		for i, c := range bad {
			b.publish(t, goodMsg())
			// A loaded machine under -race may take longer than the
			// client's default 5 s to store a 1 MiB message.
			pctx, cancel := context.WithTimeout(b.ctx, fmntest.Scaled(30*time.Second))
			ack, err := b.nats.JS.PublishMsg(pctx, c.msg)
			cancel()
			if err != nil {
				t.Fatalf("publish %s: %v", c.name, err)
			}
			bySeq[ack.Sequence] = i
		}
		b.publish(t, goodMsg())
		b.publish(t, hugeNote)
		want[notification.ID("huge-notification", "email", "alice@example.org")] = true
		waitSettled(t, b.ctx, b.nats, "matcher", settleWithin)
		run.stillRunning(t)

		checkIDs(t, notificationIDs(t, b.ctx, b.nats), want)
		seen := map[int]bool{}
		for _, dl := range readStream(t, b.ctx, b.nats.JS, b.nats.Streams.DLQ) {
			seq, _ := strconv.ParseUint(dl.Header.Get("Fmn-Source-Sequence"), 10, 64)
			i, ok := bySeq[seq]
			if !ok {
				t.Errorf("DLQ seq %d: dead letter of BUS seq %q, which is not a bad message (reason %q)",
					dl.Seq, dl.Header.Get("Fmn-Source-Sequence"), dl.Header.Get("Fmn-Dead-Reason"))
				continue
			}
			c := bad[i]
			if seen[i] {
				t.Errorf("%s: dead-lettered twice", c.name)
			}
			seen[i] = true
			if dl.Subject != "dlq.bus" {
				t.Errorf("%s: DLQ subject %q", c.name, dl.Subject)
			}
			if reason := dl.Header.Get("Fmn-Dead-Reason"); !strings.Contains(reason, c.reason) {
				t.Errorf("%s: Fmn-Dead-Reason %q, want it to say %q", c.name, reason, c.reason)
			} else {
				t.Logf("%s: %s", c.name, reason)
			}
			if src := dl.Header.Get("Fmn-Source-Subject"); src != c.msg.Subject {
				t.Errorf("%s: Fmn-Source-Subject %q, want %q", c.name, src, c.msg.Subject)
			}
			switch {
			case c.bodyLeftOut && len(dl.Data) != 0:
				t.Errorf("%s: DLQ body of %d bytes, want it left out", c.name, len(dl.Data))
			case !c.bodyLeftOut && string(dl.Data) != string(c.msg.Data):
				t.Errorf("%s: DLQ body of %d bytes differs from the bus message's %d", c.name, len(dl.Data), len(c.msg.Data))
			}
			for k := range dl.Header {
				if strings.HasPrefix(k, "Nats-") && k != "Nats-Msg-Id" {
					t.Errorf("%s: dead letter carries %s", c.name, k)
				}
			}
		}
		for i, c := range bad {
			if !seen[i] {
				t.Errorf("%s: not dead-lettered", c.name)
			}
		}
		st := &run.c.Stats
		if got := st.DeadLetters.Load(); got != int64(len(bad)) {
			t.Errorf("Stats.DeadLetters = %d, want %d", got, len(bad))
		}
		if got := st.Retries.Load(); got != 0 {
			t.Errorf("Stats.Retries = %d, want 0: nothing here is worth a retry", got)
		}
		if got, n := st.Acked.Load(), int64(len(bad)+good+1); got != n { // +1: the huge notification
			t.Errorf("Stats.Acked = %d, want %d", got, n)
		}
	})

	t.Run("RedeliveryPublishesNoDuplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.createRule(t, "alice", rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email("alice@example.org"), irc("alice")))
		b.createRule(t, "bob", rules.TrackUsersFollowed, `["carol"]`, genTo(rules.Filters{}, irc("bob")))
		want := map[string]bool{}
		var msgs []*nats.Msg
		for i := range 100 {
			id := fmt.Sprintf("redeliver-%d", i)
			h := map[string]string{bus.FilterHeader("user", "alice"): "true"}
			want[notification.ID(id, "email", "alice@example.org")] = true
			want[notification.ID(id, "irc", "alice")] = true
			agent := "dave"
			if i%2 == 0 {
				agent = "carol"
				want[notification.ID(id, "irc", "bob")] = true
			}
			msgs = append(msgs, busMsg(t, id, bodhiTopic, map[string]any{"agent": agent}, h))
		}
		notJSON := nats.NewMsg("bus." + bodhiTopic)
		notJSON.Header.Set("Nats-Msg-Id", "not-json")
		notJSON.Data = []byte("nope")
		msgs = append(msgs, notJSON)
		publishAsync(t, b.nats.JS, msgs)

		first := b.startConsumer(t, b.newMatcher(t), consumer.Config{})
		waitSettled(t, b.ctx, b.nats, "matcher", settleWithin)
		checkIDs(t, notificationIDs(t, b.ctx, b.nats), want)
		if err := first.stop(); err != nil {
			t.Fatal(err)
		}

		// A second durable goes over the whole stream again: every message
		// is handled, every notification published again, and NOTIFY and
		// DLQ keep one copy.
		again := b.startConsumer(t, b.newMatcher(t), consumer.Config{Durable: "matcher-again"})
		waitSettled(t, b.ctx, b.nats, "matcher-again", settleWithin)
		if got := again.c.Stats.Acked.Load(); got != int64(len(msgs)) {
			t.Errorf("second run acked %d messages, want %d", got, len(msgs))
		}
		if got := again.c.Stats.Notifications.Load(); got != int64(len(want)) {
			t.Errorf("second run published %d notifications, want %d", got, len(want))
		}
		checkIDs(t, notificationIDs(t, b.ctx, b.nats), want)
		if n := streamMsgs(t, b.ctx, b.nats.JS, b.nats.Streams.DLQ); n != 1 {
			t.Errorf("DLQ holds %d messages, want the one dead letter", n)
		}
	})

	t.Run("TwoInstancesShareDurable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const users, n = 20, 2000
		for u := range users {
			user := fmt.Sprintf("u%02d", u)
			b.createRule(t, user, rules.TrackRelatedEvents, "null", genTo(rules.Filters{}, email(user+"@example.org")))
		}
		b.createRule(t, "watcher", rules.TrackUsersFollowed, `["a0"]`, genTo(rules.Filters{}, irc("watcher")))
		// Small pulls, so that one instance cannot take the whole stream.
		cfg := consumer.Config{InFlight: 128}
		one := b.startConsumer(t, b.newMatcher(t), cfg)
		two := b.startConsumer(t, b.newMatcher(t), cfg)
		eventually(t, 10*time.Second, "both instances pull", func() bool {
			ci, err := consumerState(b.ctx, b.nats.JS, b.nats.Streams.Bus, "matcher")
			return err == nil && ci.NumWaiting >= 2
		})

		want := map[string]bool{}
		msgs := make([]*nats.Msg, 0, n)
		for i := range n {
			id := fmt.Sprintf("shared-%d", i)
			user := fmt.Sprintf("u%02d", i%users)
			agent := "someone"
			want[notification.ID(id, "email", user+"@example.org")] = true
			if i%5 == 0 {
				agent = "a0"
				want[notification.ID(id, "irc", "watcher")] = true
			}
			msgs = append(msgs, busMsg(t, id, bodhiTopic, map[string]any{"agent": agent},
				map[string]string{bus.FilterHeader("user", user): "true"}))
		}
		start := time.Now()
		publishAsync(t, b.nats.JS, msgs)
		waitSettled(t, b.ctx, b.nats, "matcher", settleWithin)
		t.Logf("%d messages through two instances in %s: %d and %d acked", n, time.Since(start).Round(time.Millisecond),
			one.c.Stats.Acked.Load(), two.c.Stats.Acked.Load())

		checkIDs(t, notificationIDs(t, b.ctx, b.nats), want)
		a1, a2 := one.c.Stats.Acked.Load(), two.c.Stats.Acked.Load()
		if a1 == 0 || a2 == 0 {
			t.Errorf("one instance did all the work: acked %d and %d", a1, a2)
		}
		ci, err := consumerState(b.ctx, b.nats.JS, b.nats.Streams.Bus, "matcher")
		if err != nil {
			t.Fatal(err)
		}
		// Each message is acked once; only a delivery that outlived
		// AckWait could add an ack (and a delivery).
		if d := int64(ci.Delivered.Consumer); a1+a2 < n || a1+a2 > d {
			t.Errorf("acked %d + %d = %d: want %d messages, at most one ack per delivery (%d deliveries)", a1, a2, a1+a2, n, d)
		}
		for _, r := range []*running{one, two} {
			r.stillRunning(t)
			if got := r.c.Stats.Retries.Load() + r.c.Stats.DeadLetters.Load(); got != 0 {
				t.Errorf("retries and dead letters: %d", got)
			}
		}
	})
}

// headerBlockSize is the size of h encoded as a NATS header block.
func headerBlockSize(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}
