package fmnmsg_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmnmsg"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"
)

// bundle is what a publisher test needs: NATS with the streams, a
// database with the running projector, the rule commands, a proxy in
// front of RabbitMQ that the test can take down, and an exchange and a
// queue of the test's own.
type bundle struct {
	ctx      context.Context
	nats     *fmntest.NATS
	cmds     *rulelog.Commands
	proxy    *fmntest.Proxy
	cfg      fmnmsg.Config
	queue    string
	consumer *amqp.Connection
	deliver  <-chan amqp.Delivery
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{ctx: fmntest.Context(t), nats: fmntest.StartNATS(t)}
	pg := fmntest.StartPostgres(t)
	log := fmntest.Logger(t, 0)
	proj := rulelog.NewProjector(b.nats.JS, pg.Pool, rulelog.ProjectorConfig{Stream: b.nats.Streams.Rules, Logger: log})
	if err := proj.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proj.Stop)
	cmds, err := rulelog.NewCommands(b.ctx, b.nats.JS, pg.Pool, rulelog.CommandsConfig{Stream: b.nats.Streams.Rules, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	b.cmds = cmds

	u, err := amqp.ParseURI(fmntest.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	b.proxy = fmntest.StartProxy(t, fmt.Sprintf("%s:%d", u.Host, u.Port))
	viaProxy := u
	viaProxy.Host, viaProxy.Port = "127.0.0.1", portOf(t, b.proxy.Addr())
	id := fmntest.RandomID()
	b.queue = "fmntest.fmnmsg.q." + id
	b.cfg = fmnmsg.Config{
		URL: viaProxy.String(), Exchange: "fmntest.fmnmsg.x." + id, TopicPrefix: "org.fedoraproject.prod",
		Stream: b.nats.Streams.Rules, ConfirmTimeout: 2 * time.Second,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}

	// The listener: a queue bound to everything on the test's exchange,
	// straight to the broker (not through the proxy).
	conn, err := amqp.Dial(fmntest.AMQPURL())
	if err != nil {
		t.Fatalf("RabbitMQ at %s: %v (start it with scripts/services.sh)", u.Host, err)
	}
	b.consumer = conn
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(b.queue, false, false, false)
			_ = ch.ExchangeDelete(b.cfg.Exchange, false, false)
		}
		conn.Close()
	})
	if err := ch.ExchangeDeclare(b.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(b.queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(b.queue, "#", b.cfg.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	b.deliver, err = ch.Consume(b.queue, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return port
}

// start runs a publisher until the test ends.
func (b *bundle) start(t *testing.T) *fmnmsg.Publisher {
	t.Helper()
	pub, err := fmnmsg.New(b.nats.JS, b.cfg, fmntest.Logger(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return pub
}

// next is the next message on the test's queue.
func (b *bundle) next(t *testing.T) amqp.Delivery {
	t.Helper()
	select {
	case d := <-b.deliver:
		return d
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("no message on the queue within 20s")
	}
	return amqp.Delivery{}
}

// none checks that nothing more arrives for a moment.
func (b *bundle) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-b.deliver:
		t.Fatalf("unexpected message %s %s: %s", d.RoutingKey, d.MessageId, d.Body)
	case <-time.After(500 * time.Millisecond):
	}
}

// corpusExample is the fmn-messages example of the corpus
// (../shared/corpus/fedora-messages.jsonl, kept in bus/testdata/corpus):
// fmn's test message of a rule without a name.
type corpusExample struct {
	ID      string                     `json:"id"`
	Topic   string                     `json:"topic"`
	Headers map[string]json.RawMessage `json:"headers"`
	Body    json.RawMessage            `json:"body"`
	Expect  struct {
		Schema      string   `json:"schema"`
		AppName     string   `json:"app_name"`
		Severity    int      `json:"severity"`
		Usernames   []string `json:"usernames"`
		Packages    []string `json:"packages"`
		AgentName   *string  `json:"agent_name"`
		URL         *string  `json:"url"`
		Str         string   `json:"str"`
		BodyValid   bool     `json:"body_valid"`
		Deprecated  bool     `json:"deprecated"`
		SchemaClass string   `json:"schema_class"`
	} `json:"expect"`
}

func corpusFMN(t *testing.T) corpusExample {
	t.Helper()
	f, err := os.Open("../bus/testdata/corpus/fedora-messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var head struct {
			Expect struct {
				Schema    string `json:"schema"`
				BodyValid bool   `json:"body_valid"`
			} `json:"expect"`
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(head.Expect.Schema, "fmn.rule.") || !head.Expect.BodyValid {
			continue
		}
		var ex corpusExample
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			t.Fatal(err)
		}
		return ex
	}
	t.Fatal("no valid fmn.rule message in the corpus")
	return corpusExample{}
}

// want is what one message must be.
type want struct {
	seq         uint64
	schema      string
	routingKey  string
	body        string
	sentAtAfter time.Time
}

// check compares a delivery with what FMN would have published, field by
// field, and with the corpus example (ids and times normalised).
func check(t *testing.T, b *bundle, ex corpusExample, d amqp.Delivery, w want) {
	t.Helper()
	if d.Exchange != b.cfg.Exchange || d.RoutingKey != w.routingKey {
		t.Errorf("exchange %q routing key %q, want %q %q", d.Exchange, d.RoutingKey, b.cfg.Exchange, w.routingKey)
	}
	if id := fmnmsg.MessageID(b.cfg.Stream, w.seq); d.MessageId != id {
		t.Errorf("message id %q, want %q (derived from RULES %d)", d.MessageId, id, w.seq)
	}
	if d.ContentType != "application/json" || d.ContentEncoding != "utf-8" || d.DeliveryMode != amqp.Persistent || d.Priority != 0 {
		t.Errorf("properties: content type %q, encoding %q, delivery mode %d, priority %d", d.ContentType, d.ContentEncoding, d.DeliveryMode, d.Priority)
	}
	// Headers: the corpus example's, with this message's schema and time.
	var gotKeys, wantKeys []string
	for k := range d.Headers {
		gotKeys = append(gotKeys, k)
	}
	for k := range ex.Headers {
		wantKeys = append(wantKeys, k)
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("header names %v, the corpus example has %v", gotKeys, wantKeys)
	}
	for k, raw := range ex.Headers {
		got, _ := json.Marshal(d.Headers[k])
		switch k {
		case fmnmsg.HeaderSchema:
			if d.Headers[k] != w.schema {
				t.Errorf("%s = %v, want %s", k, d.Headers[k], w.schema)
			}
		case fmnmsg.HeaderSentAt:
			s, _ := d.Headers[k].(string)
			at, err := time.Parse(time.RFC3339, s)
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$`).MatchString(s) || err != nil ||
				at.Before(w.sentAtAfter.Truncate(time.Second)) || at.After(time.Now()) {
				t.Errorf("sent-at %q: want Python's isoformat of the change's time (after %s)", s, w.sentAtAfter)
			}
		default:
			if string(got) != string(raw) {
				t.Errorf("header %s = %s, the corpus example has %s", k, got, raw)
			}
		}
	}
	if string(d.Body) != w.body {
		t.Errorf("body:\n got %s\nwant %s", d.Body, w.body)
	}
	// What a consumer of the bus reads from it is what the schema class
	// computes for the corpus example.
	m := &bus.Message{ID: d.MessageId, Topic: d.RoutingKey, Body: d.Body, Headers: map[string]json.RawMessage{}}
	for k, v := range d.Headers {
		m.Headers[k], _ = json.Marshal(v)
	}
	p, err := bus.ParseMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	e := ex.Expect
	if p.Schema != w.schema || p.App != e.AppName || p.Severity != e.Severity || len(p.Usernames) != len(e.Usernames) ||
		len(p.Packages) != len(e.Packages) || p.Agent != "" || p.URL != "" || p.Summary != d.RoutingKey || p.Deprecated != e.Deprecated {
		t.Errorf("parsed: schema %q app %q severity %d usernames %v packages %v agent %q url %q summary %q deprecated %v; corpus: app %q severity %d usernames %v summary = topic",
			p.Schema, p.App, p.Severity, p.Usernames, p.Packages, p.Agent, p.URL, p.Summary, p.Deprecated, e.AppName, e.Severity, e.Usernames)
	}
	// The text is fedora-messaging's base text: the corpus example's with
	// this message's id, topic, headers and body.
	norm := func(s, id, topic, sentAt string) string {
		s = strings.ReplaceAll(s, id, "<id>")
		s = strings.ReplaceAll(s, topic, "<topic>")
		s = strings.ReplaceAll(s, sentAt, "<sent-at>")
		if i := strings.Index(s, "\nBody: "); i >= 0 {
			return s[:i]
		}
		return s
	}
	exSchema, _ := bus.HeaderString(ex.Headers[fmnmsg.HeaderSchema])
	exSent, _ := bus.HeaderString(ex.Headers[fmnmsg.HeaderSentAt])
	gotSent, _ := d.Headers[fmnmsg.HeaderSentAt].(string)
	wantText := strings.Replace(norm(e.Str, ex.ID, ex.Topic, exSent), `"`+exSchema+`"`, `"`+w.schema+`"`, 1)
	if got := norm(p.DisplayText(), d.MessageId, d.RoutingKey, gotSent); got != wantText {
		t.Errorf("text head:\n got %s\nwant %s", got, wantText)
	}
}

// ruleJSON is the rule part of a body as FMN's json.dumps writes it.
func ruleJSON(id int64, name string, disabled bool, user string, userID uint64, apps string) string {
	n := "null"
	if name != "" {
		n = fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf(`{"name": %s, "disabled": %t, "tracking_rule": {"name": "artifacts-owned", "params": ["%s"]}, `+
		`"generation_rules": [{"id": %d, "destinations": [{"protocol": "email", "address": "%s@example.org"}], `+
		`"filters": {"applications": %s, "excluded_applications": [], "severities": [], "topic": null, "my_actions": false}}], `+
		`"id": %d, "user": %s, "generated_last_week": 0}`,
		n, disabled, user, id*rules.GenerationRuleIDStride, user, apps, id, userJSON(user, userID))
}

func userJSON(user string, id uint64) string {
	return fmt.Sprintf(`{"id": %d, "name": "%s", "is_admin": false}`, id, user)
}

func testRule(user, name string, apps ...string) rules.Rule {
	return rules.Rule{
		Name:         name,
		TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: json.RawMessage(fmt.Sprintf(`[%q]`, user))},
		GenerationRules: []rules.GenerationRule{{
			Destinations: []rules.Destination{{Protocol: rules.ProtocolEmail, Address: user + "@example.org"}},
			Filters:      rules.Filters{Applications: apps},
		}},
	}
}

// TestPublishRuleMessages changes rules through the command side (as the
// API does) and reads FMN's messages from a real RabbitMQ queue: a
// creation, an update, an admin's disable and enable, a second rule
// without a name, a deletion; events that are not rule changes publish
// nothing.
func TestPublishRuleMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ex := corpusFMN(t)
	b.start(t)
	start := time.Now()
	admin := rulelog.Meta{Actor: "root"}

	created, err := b.cmds.Create(b.ctx, "alice", testRule("alice", "My packages", "bodhi"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	id, user := created.ID, uint64(created.ID) // alice's first event records her
	updated, err := b.cmds.Update(b.ctx, "alice", id, testRule("alice", "Bodhi and Koji", "bodhi", "koji"), nil, rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	disabled, err := b.cmds.SetDisabled(b.ctx, id, true, admin)
	if err != nil {
		t.Fatal(err)
	}
	enabled, err := b.cmds.SetDisabled(b.ctx, id, false, admin)
	if err != nil {
		t.Fatal(err)
	}
	// A new user's record (no message) and their default rule (a
	// creation, as any other).
	if err := b.cmds.EnsureUser(b.ctx, "bob", rulelog.Meta{}, func(context.Context) ([]rules.Rule, error) {
		r := testRule("bob", "Default")
		r.Origin = rules.OriginDefault
		return []rules.Rule{r}, nil
	}); err != nil {
		t.Fatal(err)
	}
	bobRule := lastSeq(t, b)
	// Not rule changes: an imported rule, delivery settings, an event type
	// this version does not know.
	imported := rulelog.Event{Type: rulelog.EventRuleCreated, User: "carol", RuleID: 900001, Rule: ptr(testRule("carol", "from FMN")), Time: time.Now()}
	publishEvent(t, b, imported)
	for _, typ := range []string{rulelog.EventDeliveryUpdated, "rule.archived"} {
		other := nats.NewMsg(wire.RulesUserSubject("alice"))
		other.Header.Set(wire.HeaderEvent, typ)
		other.Data = []byte(`{"type": "` + typ + `", "user": "alice", "rule_id": 1}`)
		if _, err := b.nats.JS.PublishMsg(b.ctx, other); err != nil {
			t.Fatal(err)
		}
	}
	unnamed, err := b.cmds.Create(b.ctx, "alice", testRule("alice", ""), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmds.Delete(b.ctx, "alice", id, nil, rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}
	deleteSeq := lastSeq(t, b)

	bodhiKoji := `["bodhi", "koji"]`
	for _, w := range []want{
		{seq: uint64(id), schema: fmnmsg.SchemaCreate, routingKey: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": ` + ruleJSON(id, "My packages", false, "alice", user, `["bodhi"]`) + `, "user": ` + userJSON("alice", user) + `}`},
		{seq: updated.Version, schema: fmnmsg.SchemaUpdate, routingKey: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": ` + ruleJSON(id, "Bodhi and Koji", false, "alice", user, bodhiKoji) + `, "user": ` + userJSON("alice", user) + `}`},
		{seq: disabled.Version, schema: fmnmsg.SchemaUpdate, routingKey: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": ` + ruleJSON(id, "Bodhi and Koji", true, "alice", user, bodhiKoji) + `, "user": ` + userJSON("alice", user) + `}`},
		{seq: enabled.Version, schema: fmnmsg.SchemaUpdate, routingKey: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": ` + ruleJSON(id, "Bodhi and Koji", false, "alice", user, bodhiKoji) + `, "user": ` + userJSON("alice", user) + `}`},
		{seq: bobRule, schema: fmnmsg.SchemaCreate, routingKey: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": ` + ruleJSON(int64(bobRule), "Default", false, "bob", bobRule-1, `[]`) + `, "user": ` + userJSON("bob", bobRule-1) + `}`},
		{seq: uint64(unnamed.ID), schema: fmnmsg.SchemaCreate, routingKey: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": ` + ruleJSON(unnamed.ID, "", false, "alice", user, `[]`) + `, "user": ` + userJSON("alice", user) + `}`},
		{seq: deleteSeq, schema: fmnmsg.SchemaDelete, routingKey: "org.fedoraproject.prod.fmn.rule.delete.v1",
			body: `{"rule": ` + ruleJSON(id, "Bodhi and Koji", false, "alice", user, bodhiKoji) + `, "user": ` + userJSON("alice", user) + `}`},
	} {
		w.sentAtAfter = start
		check(t, b, ex, b.next(t), w)
	}
	b.none(t)
	// Reading the histories left no consumer behind: RULES has the
	// durables only.
	st, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	for name := range st.ConsumerNames(b.ctx).Name() {
		if name != "projector" && name != fmnmsg.DefaultDurable {
			t.Errorf("consumer %q left on RULES", name)
		}
	}
}

// TestPublishThroughBrokerOutage takes the broker away while rules
// change, several times, and checks that every change arrives once
// it is back, in order, none missing, none twice.
func TestPublishThroughBrokerOutage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pub := b.start(t)
	const n = 30
	var seqs []uint64
	var failuresBefore int64
	for i := range n {
		if i%10 == 5 {
			// Nothing in flight: a confirm lost with the connection would
			// (rightly) publish that message again.
			fmntest.Eventually(t, 20*time.Second, "every change so far published", func() bool { return pub.Stats().Published == int64(i) })
			failuresBefore = pub.Stats().Failures
			b.proxy.Down()
		}
		sr, err := b.cmds.Create(b.ctx, "dave", testRule("dave", fmt.Sprintf("rule %d", i)), rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, sr.Version)
		if i%10 == 8 {
			// Let the publisher fail for a while, then bring the broker back.
			fmntest.Eventually(t, 10*time.Second, "publishing failed and retried", func() bool { return pub.Stats().Failures >= failuresBefore+3 })
			if _, err := pub.Status(); err == nil {
				t.Error("Status says nothing while the broker is down")
			}
			b.proxy.Up()
		}
	}
	got := map[string]int{}
	var order []string
	for range seqs {
		d := b.next(t)
		got[d.MessageId]++
		order = append(order, d.MessageId)
	}
	b.none(t)
	for i, seq := range seqs {
		id := fmnmsg.MessageID(b.cfg.Stream, seq)
		if got[id] != 1 {
			t.Errorf("rule %d (RULES %d): %d messages, want 1", i, seq, got[id])
		}
		if order[i] != id {
			t.Errorf("message %d is %s, want %s (stream order)", i, order[i], id)
		}
	}
	if s := pub.Stats(); s.Published != n || s.Failures == 0 {
		t.Errorf("stats %+v: want %d published after failures", s, n)
	}
	if text, err := pub.Status(); err != nil || !strings.Contains(text, "publishing to") {
		t.Errorf("status after the outage: %q, %v", text, err)
	}
}

// TestPublisherResumesFromItsPosition stops the publisher, changes a
// rule, starts another: it publishes what happened meanwhile and nothing
// already published.
func TestPublisherResumesFromItsPosition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pub, err := fmnmsg.New(b.nats.JS, b.cfg, fmntest.Logger(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	first, err := b.cmds.Create(b.ctx, "erin", testRule("erin", "one"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if d := b.next(t); d.MessageId != fmnmsg.MessageID(b.cfg.Stream, first.Version) {
		t.Fatalf("first message %s", d.MessageId)
	}
	fmntest.Eventually(t, 10*time.Second, "the first event acknowledged", func() bool {
		c, err := b.nats.JS.Consumer(b.ctx, b.cfg.Stream, fmnmsg.DefaultDurable)
		if err != nil {
			return false
		}
		info, err := c.Info(b.ctx)
		return err == nil && info.AckFloor.Stream >= first.Version
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	second, err := b.cmds.Create(b.ctx, "erin", testRule("erin", "two"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	b.start(t)
	if d := b.next(t); d.MessageId != fmnmsg.MessageID(b.cfg.Stream, second.Version) {
		t.Fatalf("after the restart: message %s, want the second rule's", d.MessageId)
	}
	b.none(t)
}

func publishEvent(t *testing.T, b *bundle, ev rulelog.Event) {
	t.Helper()
	m, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.nats.JS.PublishMsg(b.ctx, m); err != nil {
		t.Fatal(err)
	}
}

func lastSeq(t *testing.T, b *bundle) uint64 {
	t.Helper()
	s, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func ptr[T any](v T) *T { return &v }

// TestPublisherRefusedCredentials: credentials the broker refuses at start
// are a configuration error, said at once without the password.
func TestPublisherRefusedCredentials(t *testing.T) {
	t.Parallel()
	nt := fmntest.StartNATS(t)
	u, err := amqp.ParseURI(fmntest.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Password = "not-the-password-" + fmntest.RandomID()
	pub, err := fmnmsg.New(nt.JS, fmnmsg.Config{URL: u.String(), Stream: nt.Streams.Rules}, fmntest.Logger(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(fmntest.Context(t), fmntest.Scaled(20*time.Second))
	defer cancel()
	err = pub.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), u.Password) {
		t.Fatalf("Run with a wrong password: %v", err)
	}
}
