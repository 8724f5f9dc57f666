package bus

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

// Severity levels as fedora-messaging defines them.
const (
	SeverityDebug   = 10
	SeverityInfo    = 20
	SeverityWarning = 30
	SeverityError   = 40
)

// Parsed is what the matcher knows about one bus message: the fields the rules
// and the notification templates need, extracted once per message.
type Parsed struct {
	ID       string
	Topic    string
	Schema   string
	Severity int
	SentAt   time.Time

	// Usernames, Groups and the artifact lists come from the
	// fedora_messaging_<kind>_<name> headers or, when the headers carry none,
	// from the body lists of the generic extractor.
	Usernames  []string
	Groups     []string
	Packages   []string
	Containers []string
	Modules    []string
	Flatpaks   []string

	// Agent is the username of whoever caused the message ("" when unknown).
	Agent string
	// App is the application name ("" when unknown).
	App     string
	Summary string
	// Text is the notification's body text; empty when it is the base
	// class's dump, which DisplayText renders on demand.
	Text string
	URL  string
	// PatchURL is where the email sender fetches a patch to append (dist-git
	// pushes), "" for none.
	PatchURL string
	// Deprecated messages are counted, not notified: the app sends the same
	// event with a newer schema too.
	Deprecated bool
	// Extractor names what read the message: the schema's Python class
	// (module:Class), or "generic" for a schema fmn does not know.
	Extractor string
	// ExtractError says why a known schema's extractor failed on this
	// message (the base class's values stand then); "" when it did not.
	ExtractError string

	// Body is the message body as received (valid JSON, not copied), for
	// consumers that need more than the fields above, such as the project
	// of an ACL change message.
	Body json.RawMessage

	// For the base class's text: the headers as received and the body the
	// class holds (nil: Body).
	header   nats.Header
	textBody []byte
	// pending is the schema whose display fields are still to be derived
	// (a lazy parse); nil once they are.
	pending *Schema
	// state is the parse state p lives in, for Release.
	state *parseState
}

// Display derives Summary, Text, URL and PatchURL when a lazy parser left
// them (see Parser.Lazy); otherwise it does nothing. It runs the schema's
// extractor again over the body, this time for what notifications show.
// Call it before sharing p between goroutines: it writes p's fields.
func (p *Parsed) Display() {
	s := p.pending
	if s == nil {
		return
	}
	p.pending = nil
	// The parse's scratch space is free again: the first run's results
	// were copied out of it.
	var x *Extraction
	var body Body
	if st := p.state; st != nil && &st.pd == p {
		// The body scanned by the parse, with its index of members, serves
		// again (unless the caller has replaced p.Body since).
		x, body = &st.x, st.x.Body
		*x = Extraction{arena: st.nested[:0]} // nothing of the first run's objects is kept
	} else {
		x = &Extraction{}
	}
	if !sameBytes(body.raw, p.Body) {
		var err error
		if body, err = scanBody(p.Body, nil, true); err != nil {
			return // it was scanned once already: cannot happen
		}
	}
	x.ID, x.Topic, x.Schema, x.Headers = p.ID, p.Topic, p.Schema, p.header
	x.Body = body
	if failed := runSchema(s, x); failed != "" && p.ExtractError == "" {
		p.ExtractError = failed
	}
	p.Summary, p.Text, p.URL, p.PatchURL = x.Summary, x.Text, WebURL(x.URL), WebURL(x.PatchURL)
	p.textBody = nil
	if p.Text == "" {
		p.textBody = x.TextBody.raw
	}
}

// sameBytes tells whether a and b are the same bytes in memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// DisplayText returns the notification's body text: Text, or when the
// class keeps the base class's, fedora-messaging's dump of the message
// ("Id: …\nTopic: …\nHeaders: <json>\nBody: <json>", the JSON as Python's
// json.dumps(…, sort_keys=True, indent=4)). The dump is rendered on each
// call: only messages that are notified need it.
func (p *Parsed) DisplayText() string {
	p.Display()
	if p.Text != "" {
		return p.Text
	}
	body := p.textBody
	if body == nil {
		body = p.Body
	}
	return BaseText(p.ID, p.Topic, p.header, body)
}

// BaseText renders fedora-messaging's base text of a message from its
// NATS headers (NATS and fmn headers left out; the severity, priority and
// filter headers typed as fedora-messaging writes them) and body.
func BaseText(id, topic string, h nats.Header, body []byte) string {
	var b strings.Builder
	b.Grow(64 + len(id) + len(topic) + 2*len(body))
	b.WriteString("Id: ")
	b.WriteString(id)
	b.WriteString("\nTopic: ")
	b.WriteString(topic)
	b.WriteString("\nHeaders: ")
	b.WriteString(PyJSON(ValueOf(HeadersJSON(h)), 4, true))
	b.WriteString("\nBody: ")
	if !json.Valid(body) {
		body = []byte("null")
	}
	b.WriteString(PyJSON(ValueOf(body), 4, true))
	return b.String()
}

// HeadersJSON returns the AMQP headers a fedora-messaging consumer would
// see for these NATS headers, as a JSON object.
func HeadersJSON(h nats.Header) []byte {
	if h == nil {
		return []byte("{}")
	}
	m := &Message{}
	if mm, err := FromParts(wire.BusPrefix+"x", withID(h), []byte("null")); err == nil {
		m = mm
	}
	if m.Priority != nil {
		m.Headers[HeaderPriority] = json.RawMessage(strconv.Itoa(*m.Priority))
	}
	out, err := json.Marshal(m.Headers)
	if err != nil {
		return []byte("{}")
	}
	return out
}

// withID makes sure FromParts finds a message id.
func withID(h nats.Header) nats.Header {
	if h.Get(wire.HeaderMsgID) != "" {
		return h
	}
	c := make(nats.Header, len(h)+1)
	for k, v := range h {
		c[k] = v
	}
	c[wire.HeaderMsgID] = []string{"x"}
	return c
}

// SeverityName maps a numeric severity to the rule filter's vocabulary.
func SeverityName(s int) string {
	switch {
	case s <= SeverityDebug:
		return "debug"
	case s <= SeverityInfo:
		return "info"
	case s <= SeverityWarning:
		return "warning"
	default:
		return "error"
	}
}
