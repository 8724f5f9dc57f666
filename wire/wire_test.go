package wire_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/wire"
)

func TestTokenEncoding(t *testing.T) {
	t.Parallel()
	for _, user := range []string{"alice", "bob.smith", "x*y>z", "", "ünïcode", "with space", "%41"} {
		tok := wire.EncodeToken(user)
		for _, c := range tok {
			if c == '.' || c == '*' || c == '>' || c == ' ' || c > 127 {
				t.Errorf("token %q of %q holds %q", tok, user, c)
			}
		}
		back, err := wire.DecodeToken(tok)
		if err != nil || back != user {
			t.Errorf("DecodeToken(%q) = %q, %v; want %q", tok, back, err, user)
		}
	}
}

// TestSubjects pins the subjects of the contract (DESIGN.md): a change
// here breaks stored streams and deployments' NATS permissions.
func TestSubjects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		{wire.BusSubject("org.fedoraproject.prod.bodhi.update.comment"), "bus.org.fedoraproject.prod.bodhi.update.comment"},
		{wire.RulesUserSubject("alice"), "rules.user.alice"},
		{wire.RulesUserSubject("bob.smith"), "rules.user.bob%2Esmith"},
		{wire.NotifySubject("email"), "notify.email"},
		{wire.NotifySubjectFor("irc", "alice"), "notify.irc"},
		{wire.NotifySubjectFor("sse", "alice"), "notify.sse.alice"},
		{wire.NotifySSESubject("a.b"), "notify.sse.a%2Eb"},
		{wire.EventsDeliverySubject("matrix"), "events.delivery.matrix"},
		{wire.DLQNotifySubject("email"), "dlq.notify.email"},
		{wire.DLQBus, "dlq.bus"},
		{wire.EventsDeliveryAll, "events.delivery.>"},
		{wire.RulesProgressSubject, "fmn.projection.rules"},
	} {
		if c.got != c.want {
			t.Errorf("subject %q, want %q", c.got, c.want)
		}
	}
}

// TestDeliveryEventForm pins the JSON of a delivery event on EVENTS.
func TestDeliveryEventForm(t *testing.T) {
	t.Parallel()
	e := wire.DeliveryEvent{Channel: "email", Result: wire.Retry, NotificationID: "n1", MessageID: "m1", User: "alice",
		RuleIDs: []int64{3, 4}, App: "bodhi", StreamSeq: 7, Delivery: 2, Reason: "busy", RetryInMS: 5000, DurationMS: 1.5,
		Time: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)}
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"channel":"email","result":"retry","notification_id":"n1","message_id":"m1","user":"alice","rule_ids":[3,4],` +
		`"app":"bodhi","stream_seq":7,"delivery":2,"reason":"busy","retry_in_ms":5000,"duration_ms":1.5,"time":"2025-05-01T12:00:00Z"}`
	if string(data) != want {
		t.Errorf("delivery event:\n got %s\nwant %s", data, want)
	}
	if id := wire.DeliveryEventID(e); id != "delivery:email:7:2" {
		t.Errorf("DeliveryEventID = %q", id)
	}
}

// EncodeKey escapes as EncodeToken does, with '=' instead of '%' (a KV key
// may not hold '%'), and keeps distinct strings distinct.
func TestEncodeKey(t *testing.T) {
	for in, want := range map[string]string{
		"":               "=00",
		"alice":          "alice",
		"@fmn:fedora.im": "=40fmn=3Afedora=2Eim",
		"=40":            "=3D40",
		"a b%":           "a=20b=25",
	} {
		if got := wire.EncodeKey(in); got != want {
			t.Errorf("EncodeKey(%q) = %q, want %q", in, got, want)
		}
		if tok := wire.EncodeToken(in); strings.ReplaceAll(tok, "%", "=") != wire.EncodeKey(in) {
			t.Errorf("EncodeToken(%q) = %q: not EncodeKey with %% for =", in, tok)
		}
	}
}
