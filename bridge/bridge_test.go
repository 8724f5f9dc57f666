package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bridge"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/wire"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestBridgeFedoraMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, amqpURL())
	stop := b.start(t)

	m1 := fedoraMsg("11111111-1111-4111-8111-111111111111", "org.fedoraproject.prod.bodhi.update.comment", `{"agent":"bob","summary":"bob commented"}`)
	m1.Priority = 4
	m1.Headers["x-nested"] = amqp.Table{"a": int64(1), "b": []any{"x", false}}
	m1.Headers["x-when"] = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	m1.Headers["x-void"] = nil
	m2 := fedoraMsg("22222222-2222-4222-8222-222222222222", "org.fedoraproject.prod.buildsys.build.state.change", `{"name": "foo",  "new": 1}`)
	again := fedoraMsg(m1.MessageId, m1.key, string(m1.Body)) // a redelivered/republished copy
	b.publish(t, m1, m2, again)

	fmntest.Eventually(t, 20*time.Second, "2 messages in BUS", func() bool { return count(t, b.nats.JS, b.nats.Streams.Bus) == 2 })
	msgs := all(t, b.nats.JS, b.nats.Streams.Bus)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	got, got2 := msgs[0], msgs[1]
	if got.Subject != "bus.org.fedoraproject.prod.bodhi.update.comment" || got2.Subject != "bus.org.fedoraproject.prod.buildsys.build.state.change" {
		t.Errorf("subjects %q %q", got.Subject, got2.Subject)
	}
	for k, want := range map[string]string{
		"Nats-Msg-Id":                 m1.MessageId,
		"fedora_messaging_schema":     "base.message",
		"fedora_messaging_severity":   "30",
		"sent-at":                     "2024-05-01T12:30:45+00:00",
		"fedora_messaging_user_alice": "true",
		"fedora_messaging_rpm_foo":    "true",
		"priority":                    "4",
		"x-nested":                    `{"a":1,"b":["x",false]}`,
		"x-when":                      "2024-05-01T12:00:00Z",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if _, ok := got.Header["x-void"]; ok {
		t.Error("a void header must be dropped")
	}
	if string(got.Data) != string(m1.Body) || string(got2.Data) != string(m2.Body) {
		t.Errorf("bodies changed: %s / %s", got.Data, got2.Data)
	}
	p, err := bus.ParseNATS(got.Subject, got.Header, got.Data)
	if err != nil || p.Severity != bus.SeverityWarning || p.Agent != "bob" || p.App != "bodhi" ||
		strings.Join(p.Usernames, ",") != "alice" || strings.Join(p.Packages, ",") != "foo" {
		t.Errorf("parsed %+v, %v", p, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// A delivery whose PubAck had not come back when the bridge stopped is
	// left unacked on purpose (the duplicate copy may still be in flight):
	// a new bridge takes it, and the stream's dedup keeps BUS unchanged.
	if q, err := b.queue(); err != nil || q.Messages != 0 {
		stop = b.start(t)
		fmntest.Eventually(t, 20*time.Second, "the queue drained by a second bridge", func() bool {
			q, err := b.queue()
			return err == nil && q.Messages == 0
		})
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	if n := count(t, b.nats.JS, b.nats.Streams.Bus); n != 2 {
		t.Errorf("BUS holds %d messages after redelivery, want 2", n)
	}
	if count(t, b.nats.JS, b.nats.Streams.DLQ) != 0 {
		t.Error("nothing should be dead-lettered")
	}
}

func TestBridgeDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, amqpURL())
	b.cfg.Limits.MaxBody = 2048
	stop := b.start(t)

	valid := func(n int) delivery {
		return fedoraMsg(fmt.Sprintf("valid-%d", n), "org.fedoraproject.prod.test.ok", fmt.Sprintf(`{"n": %d}`, n))
	}
	notJSON := fedoraMsg("bad-json", "org.fedoraproject.prod.test.bad", `this is {not json`)
	noID := fedoraMsg("", "org.fedoraproject.prod.test.bad", `{"no": "id"}`)
	big := fedoraMsg("too-big", "org.fedoraproject.prod.test.bad", `{"pad": "`+strings.Repeat("x", 3000)+`"}`)
	badTopic := fedoraMsg("bad-topic", "test.with space", `{}`)
	reserved := fedoraMsg("reserved", "org.fedoraproject.prod.test.bad", `{}`)
	reserved.Headers["Nats-Rollup"] = "all"
	b.publish(t, valid(1), notJSON, noID, big, badTopic, reserved, valid(2), valid(3))

	fmntest.Eventually(t, 20*time.Second, "3 messages in BUS and 5 dead letters", func() bool {
		return count(t, b.nats.JS, b.nats.Streams.Bus) == 3 && count(t, b.nats.JS, b.nats.Streams.DLQ) == 5
	})
	for i, m := range all(t, b.nats.JS, b.nats.Streams.Bus) {
		if want := fmt.Sprintf("valid-%d", i+1); m.Header.Get("Nats-Msg-Id") != want {
			t.Errorf("BUS message %d is %s, want %s", i, m.Header.Get("Nats-Msg-Id"), want)
		}
	}
	wantReasons := []struct{ topic, reason string }{
		{"org.fedoraproject.prod.test.bad", "body is not valid JSON"},
		{"org.fedoraproject.prod.test.bad", "no message id"},
		{"org.fedoraproject.prod.test.bad", "body of 3011 bytes exceeds the limit of 2048 bytes"},
		{"test.with space", "whitespace"},
		{"org.fedoraproject.prod.test.bad", "reserved prefix"},
	}
	dead := all(t, b.nats.JS, b.nats.Streams.DLQ)
	for i, m := range dead {
		if m.Subject != "dlq.bus" {
			t.Errorf("dead letter %d on %q", i, m.Subject)
		}
		reason := m.Header.Get("Fmn-Dead-Reason")
		if !strings.Contains(reason, wantReasons[i].reason) || m.Header.Get(wire.HeaderAMQPTopic) != wantReasons[i].topic {
			t.Errorf("dead letter %d: reason %q topic %q, want %q on %q", i, reason, m.Header.Get(wire.HeaderAMQPTopic), wantReasons[i].reason, wantReasons[i].topic)
		}
		if m.Header.Get(wire.HeaderAMQPSource) != "amqp" || !strings.Contains(m.Header.Get(wire.HeaderAMQPHeaders), `"fedora_messaging_user_alice":true`) {
			t.Errorf("dead letter %d headers %v", i, m.Header)
		}
	}
	if string(dead[0].Data) != "this is {not json" || dead[0].Header.Get(wire.HeaderAMQPMessageID) != "bad-json" {
		t.Errorf("the original bytes must be kept: %q", dead[0].Data)
	}
	if len(dead[2].Data) != 2048 || dead[2].Header.Get(wire.HeaderAMQPTruncated) != "3011" || !strings.Contains(dead[2].Header.Get("Fmn-Dead-Reason"), "truncated") {
		t.Errorf("oversize body: %d bytes, headers %v", len(dead[2].Data), dead[2].Header)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if q, err := b.queue(); err != nil || q.Messages != 0 {
		t.Errorf("queue holds %d after stop (%v): dead letters must be acked too", q.Messages, err)
	}
}

// TestBridgeStopAndResume cancels the bridge in the middle of a batch:
// nothing is lost and nothing is stored twice once a new bridge resumes.
func TestBridgeStopAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t, amqpURL())
	b.cfg.Prefetch = 32
	const n = 2000
	var msgs []delivery
	for i := 0; i < n; i++ {
		msgs = append(msgs, fedoraMsg(fmt.Sprintf("m-%04d", i), "org.fedoraproject.prod.test.batch", fmt.Sprintf(`{"i": %d}`, i)))
	}
	stop := b.start(t)
	b.publish(t, msgs...)
	fmntest.Eventually(t, 20*time.Second, "the bridge is under way", func() bool { return count(t, b.nats.JS, b.nats.Streams.Bus) >= 100 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	stored := count(t, b.nats.JS, b.nats.Streams.Bus)
	q, err := b.queue()
	if err != nil {
		t.Fatal(err)
	}
	// Acked ones are in the stream; the rest are back in the queue. A
	// message may be in both (stored, ack not sent): never in neither.
	if stored+uint64(q.Messages) < n {
		t.Fatalf("lost messages: %d stored + %d queued < %d", stored, q.Messages, n)
	}
	t.Logf("stopped with %d stored and %d back in the queue", stored, q.Messages)

	stop = b.start(t)
	fmntest.Eventually(t, 30*time.Second, "every message stored", func() bool { return count(t, b.nats.JS, b.nats.Streams.Bus) == n })
	fmntest.Eventually(t, 10*time.Second, "the queue is drained", func() bool {
		q, err := b.queue()
		return err == nil && q.Messages == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range all(t, b.nats.JS, b.nats.Streams.Bus) {
		id := m.Header.Get("Nats-Msg-Id")
		if seen[id] {
			t.Errorf("%s stored twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages, want %d", len(seen), n)
	}
}

// TestBrokerRestart takes a private RabbitMQ node away under the bridge
// twice — a crash in the middle of a batch, then a graceful stop — and
// starts it again each time: every message is stored exactly once.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	node := startRabbitNode(t)
	b := setup(t, node.url())
	// One delivery at a time keeps the bridge behind the publisher, so the
	// crash comes in the middle of the batch.
	b.cfg.Prefetch = 1
	batch := func(name string, n int) []delivery {
		var out []delivery
		for i := 0; i < n; i++ {
			out = append(out, fedoraMsg(fmt.Sprintf("%s-%04d", name, i), "org.fedoraproject.prod.test."+name, fmt.Sprintf(`{"i": %d}`, i)))
		}
		return out
	}
	stored := func() uint64 { return count(t, b.nats.JS, b.nats.Streams.Bus) }
	stop := b.start(t)

	b.publish(t, batch("before", 100)...)
	fmntest.Eventually(t, 20*time.Second, "the first batch stored", func() bool { return stored() == 100 })

	// Crash: deliveries are in flight, some published but not acked. The
	// durable queue keeps every confirmed message that was not acked.
	b.publish(t, batch("crash", 3000)...)
	node.crash()
	t.Logf("the broker crashed with %d of 3100 messages stored", stored())
	node.start()
	b.waitConsumer(t)
	b.publish(t, batch("between", 100)...)

	// Graceful stop and restart.
	node.stop()
	t.Logf("the broker stopped with %d of 3200 messages stored", stored())
	node.start()
	b.waitConsumer(t)
	b.publish(t, batch("after", 100)...)

	const total = 3300
	fmntest.Eventually(t, 60*time.Second, "every message stored", func() bool { return stored() >= total })
	fmntest.Eventually(t, 20*time.Second, "the queue is drained", func() bool {
		q, err := b.queue()
		return err == nil && q.Messages == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range all(t, b.nats.JS, b.nats.Streams.Bus) {
		seen[m.Header.Get("Nats-Msg-Id")]++
	}
	if len(seen) != total {
		t.Errorf("%d distinct messages stored, want %d", len(seen), total)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s stored %d times", id, k)
		}
	}
	if c := stored(); c != total {
		t.Errorf("BUS holds %d messages, want %d", c, total)
	}
	for _, line := range strings.Split(b.logs.String(), "\n") {
		if strings.Contains(line, "bridge stopped") {
			t.Log(line)
		}
	}
}

func TestBadCredentialsFailAtStart(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	logs := &syncBuffer{}
	cfg := bridge.Config{URL: "amqp://guest:Wr0ngS3cret@127.0.0.1:5672/", Queue: "fmntest.q." + fmntest.RandomID()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := bridge.Run(ctx, cfg, n.JS, slog.New(slog.NewTextHandler(logs, nil)))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run = %v (ctx %v), want an error at start", err, ctx.Err())
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q does not say the credentials were refused", err)
	}
	if strings.Contains(err.Error()+logs.String(), "Wr0ngS3cret") {
		t.Errorf("password leaked: %v\n%s", err, logs)
	}
}

func TestUnreachableBrokerRetries(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	logs := &syncBuffer{}
	cfg := bridge.Config{
		URL:          fmt.Sprintf("amqp://fmn:T0pS3cret@127.0.0.1:%d/", fmntest.FreePort(t)),
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bridge.Run(ctx, cfg, n.JS, slog.New(slog.NewTextHandler(logs, nil))) }()
	fmntest.Eventually(t, 10*time.Second, "several reconnection attempts", func() bool {
		return strings.Count(logs.String(), "reconnecting") >= 3
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(fmntest.Scaled(10 * time.Second)):
		t.Fatal("Run did not return after cancel")
	}
	if strings.Contains(logs.String(), "T0pS3cret") {
		t.Errorf("password leaked in logs:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "fmn:<secret>@127.0.0.1") {
		t.Errorf("logs should name the broker with the password redacted:\n%s", logs)
	}
}
