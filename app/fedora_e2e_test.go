package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
	amqp "github.com/rabbitmq/amqp091-go"
)

// corpusLine is a real Fedora message of bus/testdata/corpus with what
// Fedora's schema classes compute from it.
type corpusLine struct {
	ID       string                     `json:"id"`
	Topic    string                     `json:"topic"`
	Headers  map[string]json.RawMessage `json:"headers"`
	Body     json.RawMessage            `json:"body"`
	Priority *int                       `json:"priority"`
	Expect   struct {
		AppName json.RawMessage `json:"app_name"`
		Summary json.RawMessage `json:"summary"` // a string, or the exception a class raised
		Str     json.RawMessage `json:"str"`
		URL     json.RawMessage `json:"url"`
	} `json:"expect"`
}

func loadCorpusLines(t *testing.T, ids ...string) map[string]corpusLine {
	t.Helper()
	f, err := os.Open("../bus/testdata/corpus/fedora-messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string]corpusLine{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var c corpusLine
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if want[c.ID] {
			out[c.ID] = c
		}
	}
	if len(out) != len(want) {
		t.Fatalf("found %d of the %d corpus messages", len(out), len(want))
	}
	return out
}

// publishCorpus sends a corpus message to RabbitMQ exactly as
// fedora-messaging published it: its id, topic, typed headers and body.
func (e *e2e) publishCorpus(t *testing.T, c corpusLine) {
	t.Helper()
	headers := amqp.Table{}
	for k, raw := range c.Headers {
		var v any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				t.Fatalf("header %s: %v", k, err)
			}
			v = int32(i)
		}
		headers[k] = v
	}
	conf, err := e.ch.PublishWithDeferredConfirmWithContext(e.ctx, e.exchange, c.Topic, true, false, amqp.Publishing{
		MessageId: c.ID, ContentType: "application/json", ContentEncoding: "utf-8",
		DeliveryMode: amqp.Persistent, Headers: headers, Body: c.Body,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := conf.WaitContext(e.ctx); err != nil || !ok {
		t.Fatalf("RabbitMQ did not confirm: %v", err)
	}
}

type receivedMail struct {
	subject, body, msgID string
}

func (e *e2e) mailsFor(t *testing.T, addr string) []receivedMail {
	t.Helper()
	var out []receivedMail
	for _, m := range e.mailsTo(addr) {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		r := msg.Body
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(msg.Body)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, receivedMail{subject: subject, body: strings.ReplaceAll(string(body), "\r\n", "\n"),
			msgID: msg.Header.Get("X-Fedora-Messaging-ID")})
	}
	return out
}

// Real Fedora messages, published to the AMQP bus as fedora-messaging
// does, reach the right people by email with FMN's Subject ("[app]
// summary") and body (the class's text, the URL): followed by their agent
// (a FAS username, and an Anitya OpenID URL), by their usernames, by their
// packages, containers, modules and flatpaks, and filtered by the schema's
// app name (not the topic's token).
func TestFedoraMessagesEndToEnd(t *testing.T) {
	t.Parallel()
	const (
		anityaDistro  = "313359ed-012e-52e4-a31b-3cbaa4899e75" // agent http://cleaver.id.fedoraproject.org/
		bodhiComment  = "6b9ccb15-5570-569a-aff7-d9e8a58571df" // agent ralph; users codeblock, ralph, tdawson; rpms asciinema…
		prAssigned    = "87cc5c08-6c1e-534f-a897-54bf60c287e4" // users dummy-user, foobar, jjames
		gitContainer  = "84e4b4ec-f6fd-5e72-9f2d-0fcf8021d9c5" // containers dummyrepo
		gitModule     = "d5a2f0ff-7e7f-578c-8a78-92612715da69" // modules dummyrepo
		pagureFlatpak = "7145d7b2-9e2d-5418-a9ee-0db88118172d" // flatpaks fedocal-messages
		hotnessBug    = "1d746cac-c6d1-5a64-a69a-d57807e508cb" // app "The New Hotness", topic token hotness, rpms jacoco
	)
	corpus := loadCorpusLines(t, anityaDistro, bodhiComment, prAssigned, gitContainer, gitModule, pagureFlatpak, hotnessBug)
	e := setupSystem(t)

	params := func(s string) json.RawMessage { return json.RawMessage(s) }
	dan := e.create(t, "dan", emailRule("an Anitya user", rules.TrackingRule{Name: "users-followed",
		Params: params(`["http://cleaver.id.fedoraproject.org/"]`)}, "dan@example.org"))
	erin := e.create(t, "erin", emailRule("ralph", rules.TrackingRule{Name: "users-followed", Params: params(`["ralph"]`)}, "erin@example.org"))
	jj := e.create(t, "jjames", emailRule("about me", rules.TrackingRule{Name: "related-events"}, "jjames@example.org"))
	frank := e.create(t, "frank", emailRule("artifacts", rules.TrackingRule{Name: "artifacts-followed", Params: params(
		`[{"name":"asciinema","type":"rpms"},{"name":"dummyrepo","type":"containers"},{"name":"dummyrepo","type":"modules"},{"name":"fedocal-messages","type":"flatpaks"}]`)},
		"frank@example.org"))
	jacoco := rules.TrackingRule{Name: "artifacts-followed", Params: params(`[{"name":"jacoco","type":"rpms"}]`)}
	byApp := emailRule("hotness by app name", jacoco, "gina@example.org")
	byApp.GenerationRules[0].Filters.Applications = []string{"the new hotness"}
	gina := e.create(t, "gina", byApp)
	byToken := emailRule("hotness by topic token", jacoco, "gina2@example.org")
	byToken.GenerationRules[0].Filters.Applications = []string{"hotness"}
	e.create(t, "gina", byToken)
	// ralph's own comment: related, but my_actions is false.
	e.create(t, "ralph", emailRule("about me", rules.TrackingRule{Name: "related-events"}, "ralph@example.org"))

	for _, id := range []string{anityaDistro, bodhiComment, prAssigned, gitContainer, gitModule, pagureFlatpak, hotnessBug} {
		e.publishCorpus(t, corpus[id])
	}

	want := map[string][]string{ // address → corpus message ids
		"dan@example.org":    {anityaDistro},
		"erin@example.org":   {bodhiComment},
		"jjames@example.org": {prAssigned},
		"frank@example.org":  {bodhiComment, gitContainer, gitModule, pagureFlatpak},
		"gina@example.org":   {hotnessBug},
	}
	ruleOf := map[string]int64{"dan@example.org": dan.ID, "erin@example.org": erin.ID, "jjames@example.org": jj.ID,
		"frank@example.org": frank.ID, "gina@example.org": gina.ID}
	fmntest.Eventually(t, 20*time.Second, "every expected email", func() bool {
		for addr, ids := range want {
			if len(e.mailsTo(addr)) < len(ids) {
				return false
			}
		}
		return true
	})
	// Messages are handled in order; one more that reaches nobody new
	// would have shown by now, but give the consumer a moment.
	time.Sleep(fmntest.Scaled(300 * time.Millisecond))

	for addr, ids := range want {
		got := e.mailsFor(t, addr)
		if len(got) != len(ids) {
			t.Errorf("%s got %d emails, want %d", addr, len(got), len(ids))
		}
		for _, id := range ids {
			c := corpus[id]
			var m *receivedMail
			for i := range got {
				if got[i].msgID == id {
					m = &got[i]
				}
			}
			if m == nil {
				t.Errorf("%s got no email for %s (%s)", addr, id, c.Topic)
				continue
			}
			var subject, body string
			if json.Unmarshal(c.Expect.Summary, &subject) != nil || json.Unmarshal(c.Expect.Str, &body) != nil {
				t.Fatalf("%s: the class raises", id)
			}
			var app, url *string
			if json.Unmarshal(c.Expect.AppName, &app) != nil || json.Unmarshal(c.Expect.URL, &url) != nil {
				t.Fatalf("%s: the class raises", id)
			}
			if app != nil {
				subject = "[" + *app + "] " + subject
			}
			if m.subject != subject {
				t.Errorf("%s, %s: Subject %q, want %q", addr, id, m.subject, subject)
			}
			if url != nil {
				body += "\n" + *url
			}
			body += fmt.Sprintf("\n\n-- \nSent by fmn-test: https://notifications.example.org/rules/%d\n", ruleOf[addr])
			if m.body != body {
				t.Errorf("%s, %s: body\n%q\nwant\n%q", addr, id, m.body, body)
			}
		}
	}
	for _, addr := range []string{"gina2@example.org", "ralph@example.org"} {
		if n := len(e.mailsTo(addr)); n != 0 {
			t.Errorf("%s got %d emails, want none", addr, n)
		}
	}
}
