package bus

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// fedoraMessage is a message as `fedora-messaging publish` reads it.
const fedoraMessage = `{"id": "2f3ff7b2-4f3a-4b2e-9a7a-0d0c5e4c1a11",
 "topic": "org.fedoraproject.prod.bodhi.update.comment",
 "headers": {"fedora_messaging_schema": "bodhi.update.comment.v1", "fedora_messaging_severity": 20,
   "sent-at": "2024-05-01T12:30:45+00:00", "fedora_messaging_user_alice": true,
   "fedora_messaging_rpm_foo": true, "priority": 0, "x-ratio": 1.50, "x-none": null},
 "body": {"comment": {"text": "hi", "karma": 1}},
 "priority": null}`

func TestNATSMsg(t *testing.T) {
	t.Parallel()
	var m Message
	if err := json.Unmarshal([]byte(fedoraMessage), &m); err != nil {
		t.Fatal(err)
	}
	nm, err := m.NATSMsg()
	if err != nil {
		t.Fatal(err)
	}
	if nm.Subject != "bus.org.fedoraproject.prod.bodhi.update.comment" {
		t.Errorf("subject %q", nm.Subject)
	}
	want := nats.Header{
		"Nats-Msg-Id":                 {"2f3ff7b2-4f3a-4b2e-9a7a-0d0c5e4c1a11"},
		"fedora_messaging_schema":     {"bodhi.update.comment.v1"},
		"fedora_messaging_severity":   {"20"},
		"sent-at":                     {"2024-05-01T12:30:45+00:00"},
		"fedora_messaging_user_alice": {"true"},
		"fedora_messaging_rpm_foo":    {"true"},
		"priority":                    {"0"},
		"x-ratio":                     {"1.50"},
	}
	if !reflect.DeepEqual(nm.Header, want) {
		t.Errorf("headers\n got %v\nwant %v", nm.Header, want)
	}
	if string(nm.Data) != `{"comment": {"text": "hi", "karma": 1}}` {
		t.Errorf("body changed: %s", nm.Data)
	}

	t.Run("round trip", func(t *testing.T) {
		back, err := FromNATS(nm)
		if err != nil {
			t.Fatal(err)
		}
		again, err := back.NATSMsg()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again.Header, nm.Header) || again.Subject != nm.Subject || string(again.Data) != string(nm.Data) {
			t.Errorf("round trip changed the message:\n%v\n%v", again.Header, nm.Header)
		}
		if back.Priority == nil || *back.Priority != 0 {
			t.Errorf("priority %v", back.Priority)
		}
		if string(back.Headers["fedora_messaging_user_alice"]) != "true" || string(back.Headers[HeaderSeverity]) != "20" {
			t.Errorf("typed headers: %s %s", back.Headers["fedora_messaging_user_alice"], back.Headers[HeaderSeverity])
		}
		if _, ok := back.Headers["Nats-Msg-Id"]; ok {
			t.Error("Nats-Msg-Id must not be a bus header")
		}
	})
	t.Run("top-level priority becomes a header", func(t *testing.T) {
		p := 3
		m := Message{ID: "x", Topic: "a.b", Body: json.RawMessage(`{}`), Priority: &p}
		nm, err := m.NATSMsg()
		if err != nil || nm.Header.Get("priority") != "3" {
			t.Errorf("%v %v", nm, err)
		}
	})
}

func TestMessageValidate(t *testing.T) {
	t.Parallel()
	ok := func() Message {
		return Message{ID: "id", Topic: "org.fedoraproject.prod.x", Body: json.RawMessage(`{}`),
			Headers: map[string]json.RawMessage{"fedora_messaging_user_alice": json.RawMessage("true")}}
	}
	manyHeaders := ok()
	manyHeaders.Headers = map[string]json.RawMessage{}
	for i := 0; i < 1001; i++ {
		manyHeaders.Headers[fmt.Sprintf("h%d", i)] = json.RawMessage(`"v"`)
	}
	tests := []struct {
		name   string
		edit   func(*Message)
		reason string
	}{
		{"no id", func(m *Message) { m.ID = "" }, "no message id"},
		{"id with a newline", func(m *Message) { m.ID = "a\nb" }, "control character"},
		{"long id", func(m *Message) { m.ID = strings.Repeat("i", 256) }, "message id of 256"},
		{"no topic", func(m *Message) { m.Topic = "" }, "topic is missing"},
		{"space in topic", func(m *Message) { m.Topic = "org.fedora project" }, "whitespace"},
		{"tab in topic", func(m *Message) { m.Topic = "org.\tx" }, "whitespace"},
		{"leading dot", func(m *Message) { m.Topic = ".org" }, "empty token"},
		{"trailing dot", func(m *Message) { m.Topic = "org." }, "empty token"},
		{"double dot", func(m *Message) { m.Topic = "org..x" }, "empty token"},
		{"star", func(m *Message) { m.Topic = "org.*.x" }, "wildcard"},
		{"gt", func(m *Message) { m.Topic = "org.>" }, "wildcard"},
		{"invalid UTF-8", func(m *Message) { m.Topic = "org.\xff" }, "UTF-8"},
		{"long topic", func(m *Message) { m.Topic = strings.Repeat("a.", 200) + "b" }, "topic of 401 bytes"},
		{"no body", func(m *Message) { m.Body = nil }, "body is missing"},
		{"body not JSON", func(m *Message) { m.Body = json.RawMessage(`{"a"`) }, "not valid JSON"},
		{"huge body", func(m *Message) { m.Body = json.RawMessage(`"` + strings.Repeat("x", 1<<20) + `"`) }, "exceeds the limit"},
		{"too many headers", func(m *Message) { *m = manyHeaders }, "headers exceed"},
		{"long header name", func(m *Message) { m.Headers[strings.Repeat("h", 256)] = json.RawMessage(`1`) }, "header name of 256"},
		{"long header value", func(m *Message) { m.Headers["h"] = json.RawMessage(`"` + strings.Repeat("v", 5000) + `"`) }, "value of"},
		{"a header name too long once encoded", func(m *Message) { m.Headers[strings.Repeat(":", 200)] = json.RawMessage(`1`) }, "exceeds"},
		{"reserved Nats- header", func(m *Message) { m.Headers["Nats-Rollup"] = json.RawMessage(`"all"`) }, "reserved"},
		{"reserved Fmn- header", func(m *Message) { m.Headers["fmn-dead-reason"] = json.RawMessage(`"x"`) }, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := ok()
			tt.edit(&m)
			_, err := m.NATSMsg()
			if !IsInvalid(err) || !strings.Contains(Reason(err), tt.reason) {
				t.Errorf("err = %v, want an invalid error mentioning %q", err, tt.reason)
			}
		})
	}
	m := ok()
	if _, err := m.NATSMsg(); err != nil {
		t.Errorf("valid message: %v", err)
	}
}

// Header names NATS cannot carry (real Anitya messages name packages after
// URLs) are encoded on the way in and decoded on the way out.
func TestHeaderNameEncoding(t *testing.T) {
	t.Parallel()
	name := "fedora_messaging_rpm_perl-https://metacpan.org/release/Test-JSON"
	m := &Message{ID: "x", Topic: "org.release-monitoring.prod.anitya.project.version.update",
		Body: json.RawMessage(`{}`), Headers: map[string]json.RawMessage{
			name: json.RawMessage(`true`), "a b%c": json.RawMessage(`"v"`), "fedora_messaging_schema": json.RawMessage(`"s"`)}}
	nm, err := m.NATSMsg()
	if err != nil {
		t.Fatal(err)
	}
	for k := range nm.Header {
		if strings.ContainsAny(k, ": ") {
			t.Errorf("header name %q reached NATS unencoded", k)
		}
	}
	back, err := FromParts(nm.Subject, nm.Header, nm.Data)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Headers[name]) != "true" || string(back.Headers["a b%c"]) != `"v"` {
		t.Errorf("round trip: %v", back.Headers)
	}
	p, err := ParseNATS(nm.Subject, nm.Header, nm.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Packages) != 1 || p.Packages[0] != "perl-https://metacpan.org/release/Test-JSON" {
		t.Errorf("packages %q", p.Packages)
	}
}

func TestFromPartsErrors(t *testing.T) {
	t.Parallel()
	if _, err := FromParts("dlq.bus", hdr(), []byte(`{}`)); !IsInvalid(err) {
		t.Errorf("non-bus subject: %v", err)
	}
	if _, err := FromParts("bus.a", nats.Header{}, []byte(`{}`)); !IsInvalid(err) {
		t.Errorf("no id: %v", err)
	}
	if _, err := FromParts("bus.a", hdr(), []byte(`{`)); !IsInvalid(err) {
		t.Errorf("bad body: %v", err)
	}
}
