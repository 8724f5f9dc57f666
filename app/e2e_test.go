package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/bridge"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/wire"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

func amqpURL() string {
	if u := os.Getenv("FMN_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

type e2e struct {
	ctx      context.Context
	nats     *fmntest.NATS
	pg       *fmntest.Postgres
	smtp     *fmntest.SMTPServer
	cmds     *rulelog.Commands
	sys      *app.System
	exchange string
	ch       *amqp.Channel
}

// setupSystem boots the whole system in-process on real services: the
// bridge on a RabbitMQ exchange of the test's own, and the roles projector,
// consumer, stats, sender-email and api, mailing a real SMTP server with
// STARTTLS and AUTH.
func setupSystem(t *testing.T) *e2e {
	t.Helper()
	e := &e2e{ctx: fmntest.Context(t), nats: fmntest.StartNATS(t), pg: fmntest.StartPostgres(t)}
	e.smtp = fmntest.StartSMTP(t, "fmn-bot", "Sm7p-pa55word")
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	cfg := config.Defaults()
	cfg.NATSURL = e.nats.URL
	cfg.DatabaseURL = e.pg.URL
	cfg.RedisURL = fmntest.RedisURL()
	cfg.RedisPrefix = fmntest.RedisPrefix(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.PublicURL = "https://notifications.example.org"
	cfg.SiteName = "fmn-test"
	cfg.MailFrom = "notifications@example.org"
	cfg.SMTPURL = e.smtp.URL() + "?ca_file=" + e.smtp.CAFile(t)

	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(e.ctx)
	go func() {
		done <- app.RunSystem(ctx, cfg, []string{"projector", "consumer", "stats", "sender-email", "api"}, app.Options{
			Log: log, Started: func(s *app.System) { started <- s },
			SenderOptions: &senders.Options{BackOff: []time.Duration{100 * time.Millisecond}},
		})
	}()
	exited := false
	t.Cleanup(func() {
		cancel()
		if exited {
			return
		}
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	select {
	case e.sys = <-started:
	case err := <-done:
		exited = true
		t.Fatalf("system did not start: %v", err)
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("system did not start within 20s")
	}

	cmds, err := rulelog.NewCommands(e.ctx, e.nats.JS, e.pg.Pool, rulelog.CommandsConfig{Stream: e.nats.Streams.Rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	e.cmds = cmds

	id := fmntest.RandomID()
	e.exchange = "fmn-e2e-" + id
	bcfg := bridge.Config{URL: amqpURL(), Exchange: e.exchange, Queue: "fmn-e2e-" + id}
	bdone := make(chan error, 1)
	go func() { bdone <- bridge.Run(ctx, bcfg, e.nats.JS, log.With("role", "bridge")) }()
	t.Cleanup(func() { cancel(); <-bdone }) //nolint:errcheck // stopped by cancel: how it ended is not under test

	conn, err := amqp.Dial(amqpURL())
	if err != nil {
		t.Fatalf("RabbitMQ at %s: %v (start it with scripts/services.sh rabbitmq)", redact.URL(amqpURL()), err)
	}
	t.Cleanup(func() { conn.Close() })
	e.ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.ch.QueueDelete(bcfg.Queue, false, false, false)
		_ = e.ch.ExchangeDelete(e.exchange, false, false)
	})
	if err := e.ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	// The bridge declares the exchange and binds its queue; wait for it.
	fmntest.Eventually(t, 15*time.Second, "bridge queue bound", func() bool {
		q, err := conn.Channel()
		if err != nil {
			return false
		}
		defer q.Close()
		_, err = q.QueueDeclarePassive(bcfg.Queue, true, false, false, false, nil)
		return err == nil
	})
	return e
}

// publish sends a message to RabbitMQ the way fedora-messaging does.
func (e *e2e) publish(t *testing.T, topic string, users, pkgs []string, body map[string]any) string {
	t.Helper()
	id := uuid.NewString()
	headers := amqp.Table{
		"fedora_messaging_schema":   "base.message",
		"fedora_messaging_severity": int32(20),
		"sent-at":                   "2026-11-23T10:15:00+00:00",
	}
	for _, u := range users {
		headers["fedora_messaging_user_"+u] = true
	}
	for _, p := range pkgs {
		headers["fedora_messaging_rpm_"+p] = true
	}
	data, _ := json.Marshal(body)
	conf, err := e.ch.PublishWithDeferredConfirmWithContext(e.ctx, e.exchange, topic, true, false, amqp.Publishing{
		MessageId: id, ContentType: "application/json", ContentEncoding: "utf-8",
		DeliveryMode: amqp.Persistent, Headers: headers, Body: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := conf.WaitContext(e.ctx); err != nil || !ok {
		t.Fatalf("RabbitMQ did not confirm: %v", err)
	}
	return id
}

func (e *e2e) create(t *testing.T, user string, r rules.Rule) rulelog.StoredRule {
	t.Helper()
	sr, err := e.cmds.Create(e.ctx, user, r, rulelog.Meta{Actor: user})
	if err != nil {
		t.Fatal(err)
	}
	e.waitMatcher(t, sr.Version)
	return sr
}

// waitMatcher waits until the running matcher reflects the rule-set
// version (the contract gives it one second after the API answered).
func (e *e2e) waitMatcher(t *testing.T, version uint64) {
	t.Helper()
	start := time.Now()
	fmntest.Eventually(t, time.Second, "matcher reflects the rule change", func() bool {
		return e.sys.Matcher.Version() >= version
	})
	t.Logf("rule change visible to the matcher %s after the command returned", time.Since(start).Round(time.Microsecond))
}

func emailRule(name string, tr rules.TrackingRule, addr string) rules.Rule {
	return rules.Rule{Name: name, TrackingRule: tr, GenerationRules: []rules.GenerationRule{{
		Destinations: []rules.Destination{{Protocol: "email", Address: addr}},
	}}}
}

// notifiedFor lists the NOTIFY notifications of one bus message.
func (e *e2e) notifiedFor(t *testing.T, msgID string) []notification.Notification {
	t.Helper()
	oc, err := e.nats.JS.OrderedConsumer(e.ctx, e.nats.Streams.Notify, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.nats.JS.Stream(e.ctx, e.nats.Streams.Notify)
	if err != nil {
		t.Fatal(err)
	}
	total := info.CachedInfo().State.Msgs
	var out []notification.Notification
	for i := uint64(0); i < total; i++ {
		m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var n notification.Notification
		if err := json.Unmarshal(m.Data(), &n); err != nil {
			t.Fatal(err)
		}
		if n.MessageID == msgID {
			out = append(out, n)
		}
	}
	return out
}

func (e *e2e) mailsTo(addr string) []fmntest.Mail {
	var out []fmntest.Mail
	for _, m := range e.smtp.Mails() {
		if slices.Contains(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
}

func (e *e2e) generated(t *testing.T, ruleID int64) int64 {
	t.Helper()
	var n int64
	if err := e.pg.Pool.QueryRow(e.ctx, "SELECT coalesce(sum(count),0) FROM rule_generated WHERE rule_id=$1", ruleID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	e := setupSystem(t)

	alice := e.create(t, "alice", emailRule("My events", rules.TrackingRule{Name: "related-events"}, "alice@example.org"))
	followed := rules.TrackingRule{Name: "artifacts-followed", Params: json.RawMessage(`[{"name":"python-requests","type":"rpms"}]`)}
	bob1 := e.create(t, "bob", emailRule("requests", followed, "bob@example.org"))
	bob2 := e.create(t, "bob", emailRule("requests again", followed, "bob@example.org"))

	topic := "org.fedoraproject.prod.bodhi.update.comment"
	m1 := e.publish(t, topic, []string{"alice", "carol"}, []string{"python-requests"}, map[string]any{
		"agent_name": "carol",
		"summary":    "carol commented on update FEDORA-2026-4f1c (python-requests-2.32.3-1.fc43)",
		"content":    "Works for me — tested on Fedora 43.",
		"url":        "https://bodhi.example.org/updates/FEDORA-2026-4f1c",
	})

	fmntest.Eventually(t, 15*time.Second, "emails to alice and bob", func() bool {
		return len(e.mailsTo("alice@example.org")) >= 1 && len(e.mailsTo("bob@example.org")) >= 1
	})

	t.Run("email content", func(t *testing.T) {
		m := e.mailsTo("alice@example.org")[0]
		if m.From != "notifications@example.org" || m.User != "fmn-bot" {
			t.Errorf("envelope from %q, auth user %q", m.From, m.User)
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		dec := new(mime.WordDecoder)
		subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
		if want := "[bodhi] carol commented on update FEDORA-2026-4f1c (python-requests-2.32.3-1.fc43)"; subject != want {
			t.Errorf("Subject = %q, want %q", subject, want)
		}
		var body []byte
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body, err = io.ReadAll(quotedprintable.NewReader(msg.Body))
		} else {
			body, err = io.ReadAll(msg.Body)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := strings.ReplaceAll(string(body), "\r\n", "\n")
		want := "Works for me — tested on Fedora 43.\nhttps://bodhi.example.org/updates/FEDORA-2026-4f1c\n\n-- \n" +
			fmt.Sprintf("Sent by fmn-test: https://notifications.example.org/rules/%d\n", alice.ID)
		if got != want {
			t.Errorf("body = %q\nwant  %q", got, want)
		}
		headers := map[string]string{
			"Auto-Submitted":              "auto-generated",
			"Precedence":                  "bulk",
			"List-Unsubscribe":            fmt.Sprintf("<https://notifications.example.org/rules/%d>", alice.ID),
			"X-Fedora-Messaging-Topic":    topic,
			"X-Fedora-Messaging-ID":       m1,
			"X-Fedora-Messaging-App":      "bodhi",
			"X-Fedora-Messaging-Severity": "info",
		}
		for k, v := range headers {
			if got := msg.Header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		if d, err := msg.Header.Date(); err != nil || !d.Equal(time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)) {
			t.Errorf("Date = %q (%v), want the message's sent-at", msg.Header.Get("Date"), err)
		}
		wantID := "<" + notification.ID(m1, "email", "alice@example.org") + "@notifications.example.org>"
		if got := msg.Header.Get("Message-ID"); got != wantID {
			t.Errorf("Message-ID = %q, want %q", got, wantID)
		}
		if to, err := mail.ParseAddress(msg.Header.Get("To")); err != nil || to.Address != "alice@example.org" {
			t.Errorf("To = %q", msg.Header.Get("To"))
		}
		if !strings.Contains(msg.Header.Get("From"), "notifications@example.org") {
			t.Errorf("From = %q", msg.Header.Get("From"))
		}
	})

	t.Run("identical rules give one email and count twice", func(t *testing.T) {
		notes := e.notifiedFor(t, m1)
		var toBob []notification.Notification
		for _, n := range notes {
			if n.Address == "bob@example.org" {
				toBob = append(toBob, n)
			}
		}
		if len(toBob) != 1 || !slices.Equal(toBob[0].RuleIDs, []int64{bob1.ID, bob2.ID}) {
			t.Fatalf("notifications to bob: %+v", toBob)
		}
		fmntest.Eventually(t, 10*time.Second, "statistics count both of bob's rules", func() bool {
			return e.generated(t, bob1.ID) == 1 && e.generated(t, bob2.ID) == 1 && e.generated(t, alice.ID) == 1
		})
		if n := len(e.mailsTo("bob@example.org")); n != 1 {
			t.Errorf("bob got %d emails, want 1", n)
		}
		carol := e.mailsTo("carol@example.org")
		if len(carol) != 0 {
			t.Errorf("carol has no rule but got %d emails", len(carol))
		}
	})

	t.Run("own actions are not notified", func(t *testing.T) {
		own := e.publish(t, "org.fedoraproject.prod.bodhi.update.request.testing", []string{"alice"}, nil, map[string]any{
			"agent_name": "alice", "summary": "alice submitted an update to testing",
		})
		// A later message that does notify alice proves the first was handled.
		marker := e.publish(t, topic, []string{"alice"}, nil, map[string]any{"agent_name": "dave", "summary": "dave commented"})
		fmntest.Eventually(t, 15*time.Second, "marker notification", func() bool { return len(e.notifiedFor(t, marker)) == 1 })
		if n := e.notifiedFor(t, own); len(n) != 0 {
			t.Errorf("alice was notified of her own action: %+v", n)
		}
	})

	t.Run("a new rule matches without restart and a deleted one stops", func(t *testing.T) {
		carol := e.create(t, "carol", emailRule("dave's work", rules.TrackingRule{Name: "users-followed", Params: json.RawMessage(`["dave"]`)}, "carol@example.org"))
		m := e.publish(t, "org.fedoraproject.prod.copr.build.end", nil, nil, map[string]any{"agent_name": "dave", "summary": "dave's build succeeded"})
		fmntest.Eventually(t, 15*time.Second, "email to carol", func() bool { return len(e.mailsTo("carol@example.org")) == 1 })
		if n := e.notifiedFor(t, m); len(n) != 1 || n[0].Address != "carol@example.org" || n[0].RuleID != carol.ID {
			t.Fatalf("notifications: %+v", n)
		}
		if err := e.cmds.Delete(e.ctx, "carol", carol.ID, nil, rulelog.Meta{Actor: "carol"}); err != nil {
			t.Fatal(err)
		}
		projected, err := e.cmds.Store().Projected(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.waitMatcher(t, projected)
		after := e.publish(t, "org.fedoraproject.prod.copr.build.end", nil, nil, map[string]any{"agent_name": "dave", "summary": "dave's second build succeeded"})
		marker := e.publish(t, topic, []string{"alice"}, nil, map[string]any{"agent_name": "dave", "summary": "dave commented again"})
		fmntest.Eventually(t, 15*time.Second, "marker notification", func() bool { return len(e.notifiedFor(t, marker)) == 1 })
		if n := e.notifiedFor(t, after); len(n) != 0 {
			t.Errorf("a deleted rule still notified: %+v", n)
		}
	})

	t.Run("malformed bus messages are dead-lettered", func(t *testing.T) {
		conf, err := e.ch.PublishWithDeferredConfirmWithContext(e.ctx, e.exchange, topic, true, false, amqp.Publishing{
			MessageId: uuid.NewString(), ContentType: "application/json", Body: []byte("{not json"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := conf.WaitContext(e.ctx); err != nil || !ok {
			t.Fatal("not confirmed")
		}
		good := e.publish(t, topic, []string{"alice"}, nil, map[string]any{"agent_name": "erin", "summary": "erin commented"})
		fmntest.Eventually(t, 15*time.Second, "the next good message notifies", func() bool { return len(e.notifiedFor(t, good)) == 1 })
		fmntest.Eventually(t, 5*time.Second, "a dead letter with a reason", func() bool {
			m, err := e.nats.JS.Stream(e.ctx, e.nats.Streams.DLQ)
			if err != nil {
				return false
			}
			last, err := m.GetLastMsgForSubject(e.ctx, wire.DLQBus)
			return err == nil && last.Header.Get(wire.HeaderReason) != ""
		})
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
