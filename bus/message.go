// Package bus holds fmn's view of a bus message: the fedora-messaging
// envelope as it is written to files and stored on the BUS stream, the
// readers and publishers of that form, and the parser that derives what the
// matcher needs (Parsed) through per-schema extractors.
package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

// Header names of the fedora-messaging wire format.
const (
	HeaderSchema   = "fedora_messaging_schema"
	HeaderSeverity = "fedora_messaging_severity"
	HeaderSentAt   = "sent-at"
	HeaderPriority = "priority"

	// FilterHeaderPrefix starts every filter header,
	// fedora_messaging_<kind>_<name>.
	FilterHeaderPrefix = "fedora_messaging_"
)

// Message is a bus message in the serialized form of fedora-messaging
// (`fedora-messaging publish`, datagrepper): {"id", "topic", "headers",
// "body", "priority"}.
type Message struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	// Headers are the AMQP headers. A value is kept as the JSON it was
	// read as (a string, number or boolean, rarely something else), so that
	// numbers keep their exact form when they become NATS header strings.
	Headers map[string]json.RawMessage `json:"headers"`
	// Body is the message body, any JSON value, kept byte for byte.
	Body json.RawMessage `json:"body"`
	// Priority is the AMQP priority; nil when unset.
	Priority *int `json:"priority"`
}

// Validate checks the message against l: id and topic present and within
// bounds, a topic that makes a valid NATS subject, a body that is JSON and
// not too large, and headers NATS can carry. The error is an *InvalidError.
func (m *Message) Validate(l Limits) error {
	l = l.WithDefaults()
	if err := checkID(m.ID, l); err != nil {
		return err
	}
	if err := CheckTopic(m.Topic, l); err != nil {
		return err
	}
	if len(m.Body) == 0 {
		return invalidf("body is missing")
	}
	if len(m.Body) > l.MaxBody {
		return invalidf("body of %d bytes exceeds the limit of %d bytes", len(m.Body), l.MaxBody)
	}
	if !json.Valid(m.Body) {
		return invalidf("body is not valid JSON")
	}
	n := len(m.Headers)
	if m.Priority != nil {
		n++
	}
	if n > l.MaxHeaders {
		return invalidf("%d headers exceed the limit of %d", n, l.MaxHeaders)
	}
	for k, v := range m.Headers {
		if err := checkHeaderName(k, l); err != nil {
			return err
		}
		if len(v) > l.MaxHeaderValue+2 { // +2: the quotes of a JSON string
			return invalidf("header %q: value of %d bytes exceeds the limit of %d bytes", k, len(v), l.MaxHeaderValue)
		}
	}
	return nil
}

// NATSMsg converts the message to its BUS form with the default limits:
// subject bus.<topic>, Nats-Msg-Id = id, every header as a string, the body
// unchanged.
func (m *Message) NATSMsg() (*nats.Msg, error) { return m.NATSMsgLimits(Limits{}) }

// NATSMsgLimits is NATSMsg with explicit limits.
func (m *Message) NATSMsgLimits(l Limits) (*nats.Msg, error) {
	l = l.WithDefaults()
	if err := m.Validate(l); err != nil {
		return nil, err
	}
	h := make(nats.Header, len(m.Headers)+2)
	for k, raw := range m.Headers {
		v, ok := HeaderString(raw)
		if !ok {
			continue // null
		}
		if len(v) > l.MaxHeaderValue {
			return nil, invalidf("header %q: value of %d bytes exceeds the limit of %d bytes", k, len(v), l.MaxHeaderValue)
		}
		h[EncodeHeaderName(k)] = []string{v}
	}
	if _, ok := h[HeaderPriority]; !ok && m.Priority != nil {
		h[HeaderPriority] = []string{strconv.Itoa(*m.Priority)}
	}
	h[wire.HeaderMsgID] = []string{m.ID}
	return &nats.Msg{
		Subject: wire.BusSubject(m.Topic),
		Header:  h,
		Data:    m.Body,
	}, nil
}

// HeaderString renders a JSON header value as a NATS header string: a
// string as itself, a number or boolean as its JSON text (20, true), an
// array or object as compact JSON. ok is false for null (the header is
// dropped).
func HeaderString(raw json.RawMessage) (s string, ok bool) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0, string(raw) == "null":
		return "", false
	case raw[0] == '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), true
		}
		if err := json.Unmarshal(raw, &s); err == nil {
			return s, true
		}
		return string(raw), true
	case raw[0] == '{' || raw[0] == '[':
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return b.String(), true
		}
	}
	return string(raw), true
}

// FromNATS is the inverse of NATSMsg: it rebuilds the serialized form of a
// message read from BUS.
func FromNATS(m *nats.Msg) (*Message, error) { return FromParts(m.Subject, m.Header, m.Data) }

// FromParts is FromNATS for a message given as its parts, e.g. a
// jetstream.Msg or a jetstream.RawStreamMsg. NATS and fmn headers (Nats-*,
// Fmn-*) are not part of the bus message and are left out; the filter
// headers come back as booleans and the severity as a number, as
// fedora-messaging writes them.
func FromParts(subject string, h nats.Header, data []byte) (*Message, error) {
	topic, ok := strings.CutPrefix(subject, wire.BusPrefix)
	if !ok {
		return nil, invalidf("subject %q is not a bus subject (%s<topic>)", subject, wire.BusPrefix)
	}
	id := h.Get(wire.HeaderMsgID)
	if id == "" {
		return nil, invalidf("no message id (header %s)", wire.HeaderMsgID)
	}
	if !json.Valid(data) {
		return nil, invalidf("body is not valid JSON")
	}
	m := &Message{ID: id, Topic: topic, Body: json.RawMessage(data), Headers: make(map[string]json.RawMessage, len(h))}
	for k, vs := range h {
		if len(vs) == 0 || reservedHeader(k) {
			continue
		}
		v := vs[0]
		k = DecodeHeaderName(k)
		switch {
		case k == HeaderPriority:
			if p, err := strconv.Atoi(v); err == nil {
				m.Priority = &p
				continue
			}
		case k == HeaderSeverity:
			if _, err := strconv.Atoi(v); err == nil {
				m.Headers[k] = json.RawMessage(v)
				continue
			}
		case filterKind(k) != kindNone && (v == "true" || v == "false"):
			m.Headers[k] = json.RawMessage(v)
			continue
		}
		b, _ := json.Marshal(v)
		m.Headers[k] = b
	}
	return m, nil
}

// CheckTopic reports whether topic makes a valid NATS subject under bus.:
// not empty, no empty tokens, no whitespace or control characters, no
// wildcards, valid UTF-8 and at most l.MaxTopic bytes.
func CheckTopic(topic string, l Limits) error {
	l = l.WithDefaults()
	switch {
	case topic == "":
		return invalidf("topic is missing")
	case len(topic) > l.MaxTopic:
		return invalidf("topic of %d bytes exceeds the limit of %d bytes", len(topic), l.MaxTopic)
	case topic[0] == '.' || topic[len(topic)-1] == '.' || strings.Contains(topic, ".."):
		return invalidf("topic %q has an empty token", topic)
	case !utf8.ValidString(topic):
		return invalidf("topic %q is not valid UTF-8", topic)
	}
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; {
		case c <= ' ' || c == 0x7f:
			return invalidf("topic %q contains whitespace or a control character", topic)
		case c == '*' || c == '>':
			return invalidf("topic %q contains the wildcard %q", topic, c)
		}
	}
	return nil
}

func checkID(id string, l Limits) error {
	switch {
	case id == "":
		return invalidf("no message id")
	case len(id) > l.MaxID:
		return invalidf("message id of %d bytes exceeds the limit of %d bytes", len(id), l.MaxID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < ' ' || c == 0x7f {
			return invalidf("message id %q contains a control character", id)
		}
	}
	return nil
}

// checkHeaderName accepts a header name that is not empty, not too long
// once encoded for NATS (EncodeHeaderName) and not reserved: names starting
// with Nats- or Fmn- would steer JetStream (Nats-Rollup, Nats-Expected-*) or
// impersonate fmn's own headers.
func checkHeaderName(k string, l Limits) error {
	switch {
	case k == "":
		return invalidf("empty header name")
	case len(EncodeHeaderName(k)) > l.MaxHeaderName:
		return invalidf("header name of %d bytes exceeds the limit of %d bytes (%.40q…)", len(k), l.MaxHeaderName, k)
	case reservedHeader(k):
		return invalidf("header %q uses a reserved prefix (Nats- or Fmn-)", k)
	}
	return nil
}

// headerForbidden are the printable characters a NATS header name should
// not carry (nats.go's MIME reader splits at ':'; the rest are HTTP's
// separators).
const headerForbidden = "\"()/,:;<=>?@[\\]{}%"

// EncodeHeaderName makes an AMQP header name a NATS one: every byte a NATS
// header name cannot carry (see headerForbidden, controls, space,
// non-ASCII) and '%' itself become %XX. Real messages need it: Anitya's
// filter headers name packages after URLs
// (fedora_messaging_rpm_perl-https://metacpan.org/…). DecodeHeaderName
// reverses it.
func EncodeHeaderName(k string) string {
	n := 0
	for i := 0; i < len(k); i++ {
		if headerByteNeedsEscape(k[i]) {
			n++
		}
	}
	if n == 0 {
		return k
	}
	b := make([]byte, 0, len(k)+2*n)
	for i := 0; i < len(k); i++ {
		if c := k[i]; headerByteNeedsEscape(c) {
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// DecodeHeaderName reverses EncodeHeaderName; a malformed escape stays as
// it is.
func DecodeHeaderName(k string) string {
	if strings.IndexByte(k, '%') < 0 {
		return k
	}
	b := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		if k[i] == '%' && i+2 < len(k) && isHex(k[i+1]) && isHex(k[i+2]) {
			b = append(b, unhex(k[i+1])<<4|unhex(k[i+2]))
			i += 2
			continue
		}
		b = append(b, k[i])
	}
	return string(b)
}

func headerByteNeedsEscape(c byte) bool {
	return c < 33 || c > 126 || strings.IndexByte(headerForbidden, c) >= 0
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func reservedHeader(k string) bool {
	return hasPrefixFold(k, wire.NatsHeaderPrefix) || hasPrefixFold(k, wire.FmnHeaderPrefix)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// String is a short description for logs.
func (m *Message) String() string {
	return fmt.Sprintf("%s (%s)", m.ID, m.Topic)
}
