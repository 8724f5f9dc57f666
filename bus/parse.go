package bus

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Parser derives Parsed from bus messages. The zero value uses the default
// limits and DefaultRegistry. A Parser is safe for concurrent use.
type Parser struct {
	Limits   Limits
	Registry *Registry
	// Lazy leaves Summary, Text, URL and PatchURL of known schemas to
	// Parsed.Display, which derives them when a notification needs them:
	// most messages match no rule, and the texts are most of an
	// extractor's work. The matcher and the preview parse lazily.
	Lazy bool
}

var defaultParser Parser

// Parse parses a message delivered from BUS with the default parser. A
// message without a sent-at header gets the time it was stored in the
// stream.
func Parse(m jetstream.Msg) (*Parsed, error) { return defaultParser.Parse(m) }

// ParseNATS parses a bus message given as its parts with the default
// parser.
func ParseNATS(subject string, h nats.Header, data []byte) (*Parsed, error) {
	return defaultParser.ParseAt(subject, h, data, time.Time{})
}

// ParseMessage parses a message in its serialized form (a file record)
// with the default parser.
func ParseMessage(m *Message) (*Parsed, error) { return defaultParser.ParseMessage(m) }

// Parse parses a message delivered from BUS. The stream timestamp stands in
// for a missing or unreadable sent-at header.
func (p *Parser) Parse(m jetstream.Msg) (*Parsed, error) {
	pd, err := p.ParseAt(m.Subject(), m.Headers(), m.Data(), time.Time{})
	if err == nil && pd.SentAt.IsZero() {
		// Only now: Metadata parses the reply subject, which costs.
		if md, err := m.Metadata(); err == nil {
			pd.SentAt = md.Timestamp
		}
	}
	return pd, err
}

// ParseNATS parses a bus message given as its parts; SentAt stays zero
// without a usable sent-at header.
func (p *Parser) ParseNATS(subject string, h nats.Header, data []byte) (*Parsed, error) {
	return p.ParseAt(subject, h, data, time.Time{})
}

// ParseMessage parses a message in its serialized form.
func (p *Parser) ParseMessage(m *Message) (*Parsed, error) {
	nm, err := m.NATSMsgLimits(p.Limits)
	if err != nil {
		return nil, err
	}
	return p.ParseAt(nm.Subject, nm.Header, nm.Data, time.Time{})
}

// ParseAt parses a bus message: subject bus.<topic>, its headers and body.
// received replaces a missing or unreadable sent-at (zero for none). The
// error is an *InvalidError when the message can never be parsed (not
// JSON, no id, too large, absurd headers, a bad subject): dead-letter it.
func (p *Parser) ParseAt(subject string, h nats.Header, data []byte, received time.Time) (*Parsed, error) {
	l := p.Limits.WithDefaults()
	topic, ok := strings.CutPrefix(subject, wire.BusPrefix)
	if !ok {
		return nil, invalidf("subject %q is not a bus subject (%s<topic>)", subject, wire.BusPrefix)
	}
	if err := CheckTopic(topic, l); err != nil {
		return nil, err
	}
	if len(h) > l.MaxHeaders {
		return nil, invalidf("%d headers exceed the limit of %d", len(h), l.MaxHeaders)
	}
	// One pass over the headers: the header map was just decoded, and
	// each lookup by name costs a hash and its cache misses again. The
	// errors keep their precedence: the id, the body's size, then the
	// first header over a limit.
	var id, schemaName, sentAt, severity string
	var headerErr error
	for k, vs := range h {
		if len(k) > l.MaxHeaderName {
			if headerErr == nil {
				headerErr = invalidf("header name of %d bytes exceeds the limit of %d bytes (%.40q…)", len(k), l.MaxHeaderName, k)
			}
			continue
		}
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		switch k {
		case wire.HeaderMsgID:
			id = v // checkID tells what is wrong with it first
		case HeaderSchema:
			schemaName = v
		case HeaderSeverity:
			severity = v
		case HeaderSentAt:
			sentAt = v
		}
		if len(v) > l.MaxHeaderValue && headerErr == nil {
			headerErr = invalidf("header %.60q: value of %d bytes exceeds the limit of %d bytes", k, len(v), l.MaxHeaderValue)
		}
	}
	if err := checkID(id, l); err != nil {
		if id == "" {
			return nil, invalidf("no message id (header %s)", wire.HeaderMsgID)
		}
		return nil, err
	}
	if len(data) > l.MaxBody {
		return nil, invalidf("body of %d bytes exceeds the limit of %d bytes", len(data), l.MaxBody)
	}
	if headerErr != nil {
		return nil, headerErr
	}

	// One allocation holds the result and the scratch space of the parse,
	// reused once the caller releases the result (Parsed.Release).
	st := statePool.Get().(*parseState)
	pd := &st.pd
	pd.state = st
	pd.ID, pd.Topic, pd.Schema, pd.Severity = id, topic, schemaName, SeverityInfo
	if severity != "" {
		pd.Severity = parseSeverity(severity)
	}
	reg := p.Registry
	if reg == nil {
		reg = DefaultRegistry
	}
	var sch *Schema
	if schemaName != "" {
		sch = reg.Lookup(schemaName)
	}
	// The lists of a known schema are its extractor's: the filter headers
	// are read for an unknown one, or when the extractor fails.
	headerLists := sch == nil
	if headerLists {
		pd.addFilterHeaders(h)
	}
	if t, ok := ParseSentAt(sentAt); ok {
		pd.SentAt = t
	} else {
		pd.SentAt = received
	}

	body, err := scanBody(data, st.members[:0], true)
	if err != nil {
		return nil, invalidf("body is not valid JSON: %v", err)
	}
	pd.Body = json.RawMessage(data)

	x := &st.x
	x.ID, x.Topic, x.Schema, x.Headers, x.Body = id, topic, pd.Schema, h, body
	x.arena = st.nested[:0]
	fromClass := false
	if sch == nil {
		Generic(x)
		pd.Extractor = ExtractorGeneric
	} else {
		pd.Extractor = sch.Class
		if pd.Extractor == "" {
			pd.Extractor = sch.Name
		}
		x.matchOnly = p.Lazy
		if p.Lazy {
			pd.pending = sch
		}
		if err := runSchema(sch, x); err != "" {
			pd.ExtractError = err
		} else {
			fromClass = true
		}
	}
	pd.Agent, pd.App, pd.Summary, pd.Text, pd.URL = x.Agent, x.App, x.Summary, x.Text, WebURL(x.URL)
	pd.PatchURL, pd.Deprecated = WebURL(x.PatchURL), x.Deprecated
	if x.Severity != 0 {
		pd.Severity = x.Severity
	}
	pd.header = h
	if pd.Text == "" {
		pd.textBody = x.TextBody.raw
	}
	if !fromClass && !headerLists {
		pd.addFilterHeaders(h)
	}
	for _, k := range filterKinds {
		list := pd.list(k.kind)
		if fromClass || len(*list) == 0 {
			*list = *x.list(k.kind)
		}
		*list = sortedUnique(*list)
	}
	return pd, nil
}

// addFilterHeaders adds the names the filter headers of h carry (the
// others, schema and severity included, name no kind: addFilterHeader
// leaves them).
func (p *Parsed) addFilterHeaders(h nats.Header) {
	for k, vs := range h {
		if len(vs) > 0 {
			p.addFilterHeader(k, vs[0])
		}
	}
}

// addFilterHeader adds the name a fedora_messaging_<kind>_<name> header
// carries to its list; other headers it leaves.
func (p *Parsed) addFilterHeader(k, v string) {
	kind, name := splitFilterHeader(k)
	if kind == kindNone || name == "" || !truthy(v) {
		return
	}
	list := p.list(kind)
	*list = append(*list, DecodeHeaderName(name))
}

// WebURL returns u when it is an http or https URL, else "": a URL from a
// bus message ends up in emails and in the web UI's links, where a
// javascript: or data: URL must never arrive.
func WebURL(u string) string {
	t := strings.TrimSpace(u)
	if len(t) > 8 && strings.EqualFold(t[:8], "https://") || len(t) > 7 && strings.EqualFold(t[:7], "http://") {
		return u
	}
	return ""
}

// ExtractorGeneric is Parsed.Extractor for a message of a schema fmn does
// not know.
const ExtractorGeneric = "generic"

// runSchema applies a known schema's extractor. A panic (a property that
// raises in Python, or a body shape nobody foresaw) leaves the base
// class's values: one odd message must not stop the consumer. It returns
// what went wrong, "" when nothing did.
func runSchema(s *Schema, x *Extraction) (failed string) {
	Base(x)
	x.App, x.Deprecated = s.App, s.Deprecated
	if s.Extract == nil {
		return ""
	}
	defer func() {
		if r := recover(); r != nil {
			Base(x)
			x.App, x.Deprecated = s.App, s.Deprecated
			failed = fmt.Sprintf("extractor of %s failed: %v", s.Name, r)
		}
	}()
	s.Extract(x)
	return ""
}

type parseState struct {
	pd      Parsed
	x       Extraction
	members [24]member
	// nested backs the indexes of nested objects (Extraction.object).
	nested [48]member
}

// statePool recycles parse states: at ~1 KB a message, they were a third
// of what the matcher allocated per bus message that matches nothing.
var statePool = sync.Pool{New: func() any { return new(parseState) }}

// Release gives p back to the parser for a later message. Call it once
// nothing will read p again (its fields may still be kept: strings and
// lists are not reused); a Parsed that was not made by a Parser, or is
// released twice, is left alone. Callers that never call it lose nothing
// but the reuse.
func (p *Parsed) Release() {
	st := p.state
	if st == nil || &st.pd != p {
		return
	}
	*st = parseState{}
	statePool.Put(st)
}

// parseSeverity maps fedora_messaging_severity to a level; anything but
// 10, 20, 30 or 40 means info.
func parseSeverity(v string) int {
	switch strings.TrimSpace(v) {
	case "10":
		return SeverityDebug
	case "30":
		return SeverityWarning
	case "40":
		return SeverityError
	}
	return SeverityInfo
}

// ParseSentAt reads a sent-at header: ISO 8601 with an offset as Python's
// isoformat() writes it (2024-05-01T12:00:00+00:00, with or without
// fractional seconds, Z accepted). A time without an offset is taken as
// UTC, which is what fedora-messaging meant before it wrote offsets.
func ParseSentAt(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 19 {
		return time.Time{}, false
	}
	if v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", v, time.UTC); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func truthy(v string) bool {
	switch strings.TrimSpace(v) {
	case "false", "False", "0", "":
		return false
	}
	return true
}

type kind uint8

const (
	kindNone kind = iota
	kindUser
	kindGroup
	kindRPM
	kindContainer
	kindModule
	kindFlatpak
)

var filterKinds = []struct {
	prefix string
	kind   kind
}{
	{"user_", kindUser},
	{"group_", kindGroup},
	{"rpm_", kindRPM},
	{"container_", kindContainer},
	{"module_", kindModule},
	{"flatpak_", kindFlatpak},
}

// splitFilterHeader splits fedora_messaging_<kind>_<name>.
func splitFilterHeader(k string) (kind, string) {
	rest, ok := strings.CutPrefix(k, FilterHeaderPrefix)
	if !ok {
		return kindNone, ""
	}
	for _, fk := range filterKinds {
		if name, ok := strings.CutPrefix(rest, fk.prefix); ok {
			return fk.kind, name
		}
	}
	return kindNone, ""
}

func filterKind(k string) kind {
	kd, _ := splitFilterHeader(k)
	return kd
}

// FilterHeader returns the header name that marks a message as being about
// name, for a kind among user, group, rpm, container, module, flatpak.
func FilterHeader(kind, name string) string { return FilterHeaderPrefix + kind + "_" + name }

func (p *Parsed) list(k kind) *[]string {
	switch k {
	case kindUser:
		return &p.Usernames
	case kindGroup:
		return &p.Groups
	case kindRPM:
		return &p.Packages
	case kindContainer:
		return &p.Containers
	case kindModule:
		return &p.Modules
	default:
		return &p.Flatpaks
	}
}

func (x *Extraction) list(k kind) *[]string {
	switch k {
	case kindUser:
		return &x.Usernames
	case kindGroup:
		return &x.Groups
	case kindRPM:
		return &x.Packages
	case kindContainer:
		return &x.Containers
	case kindModule:
		return &x.Modules
	default:
		return &x.Flatpaks
	}
}

func sortedUnique(s []string) []string {
	if len(s) < 2 {
		return s
	}
	slices.Sort(s)
	return slices.Compact(s)
}
