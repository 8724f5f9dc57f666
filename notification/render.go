package notification

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// Site says who sends the notifications, for footers and links.
type Site struct {
	// Name is shown in footers, e.g. "fmn".
	Name string
	// PublicURL is where users reach the UI, e.g.
	// "https://notifications.example.org"; rule links are PublicURL/rules/<id>.
	PublicURL string
}

// RuleURL returns the link to rule id in the UI.
func (s Site) RuleURL(id int64) string {
	return strings.TrimRight(s.PublicURL, "/") + "/rules/" + strconv.FormatInt(id, 10)
}

// ID returns the notification id for a bus message sent to one address over
// one protocol: 32 lowercase hex characters (128 bits of SHA-256), the same
// for the same inputs on every instance, usable as a Nats-Msg-Id and in a
// Message-ID. The fields are length-prefixed, so no two different triples
// hash the same input.
func ID(messageID, protocol, address string) string {
	// Each string after its length, hashed at once from the stack when
	// it fits (the matcher computes one per notification).
	var stack [256]byte
	in := stack[:0]
	for _, s := range [...]string{messageID, protocol, address} {
		in = binary.AppendUvarint(in, uint64(len(s)))
		in = append(in, s...)
	}
	sum := sha256.Sum256(in)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

// Header names of a rendered email. Message-ID keeps RFC 5322's spelling,
// which Go's canonical MIME form ("Message-Id") would change.
const (
	HeaderDate            = "Date"
	HeaderMessageID       = "Message-ID"
	HeaderAutoSubmitted   = "Auto-Submitted"
	HeaderPrecedence      = "Precedence"
	HeaderListUnsubscribe = "List-Unsubscribe"
	HeaderTopic           = "X-Fedora-Messaging-Topic"
	HeaderBusMessageID    = "X-Fedora-Messaging-ID"
	HeaderApp             = "X-Fedora-Messaging-App"
	HeaderSeverity        = "X-Fedora-Messaging-Severity"
	HeaderRule            = "X-Fedora-Messaging-Rule"
)

// maxHeaderLen caps, in characters, the header values that come from the
// bus (subject, topic, app, message id). Longer ones are cut with "…".
const maxHeaderLen = 255

// Render builds the notification of bus message p for user's destination
// dest, produced by the rules ruleIDs (sorted and deduplicated into RuleIDs;
// RuleID, the one the footer links, is the lowest). now is the time of
// rendering; it also stands in for a missing sent-at. A severity of 0
// (unset) is info.
//
// Email: Subject "[<app>] <summary>" ("<summary>" without app); body
// "<text>\n<url>\n\n-- \nSent by <site>: <public url>/rules/<id>\n", where
// the "\n<url>" line is left out when there is no URL and the summary stands
// in for an empty text. Every header value is one line without control
// characters (see oneLine), so nothing from the bus can add a header.
// Non-ASCII values are left for the sender to encode (RFC 2047); the body
// uses "\n" line ends, also for the sender to convert.
//
// Other protocols (IRC, Matrix): Line "[<app>] <summary> <url>", without the
// prefix when there is no app and without the trailing space when there is
// no URL, on one line: line breaks become spaces, other control characters
// (such as IRC formatting codes) are dropped.
func Render(p *bus.Parsed, user string, dest rules.Destination, ruleIDs []int64, site Site, now time.Time) *Notification {
	return Prepare(p, site, now).Render(user, dest, ruleIDs)
}

// Prepared is a bus message readied for rendering (see Render): what its
// notifications share is worked out once, however many destinations it
// goes to. It is not safe for concurrent use.
type Prepared struct {
	p    *bus.Parsed
	site Site
	now  time.Time

	sentAt                     time.Time
	severity                   int
	ptext, psummary, purl      string
	summary, link, title       string
	email                      bool // the email parts below are worked out
	text, subject, patchURL    string
	date, domain, topic, busID string
	app                        string
	meta                       Meta
	// rules is the site's rules page, which rule links extend; siteName
	// the site's name for footers.
	rules, siteName string
	// js are the encoded parts AppendJSON shares between notifications.
	js jsonParts
}

// emailHeaders is how many headers a rendered email has at most: its map
// is made that large at once, not grown past a small map's 8 slots.
const emailHeaders = 10

// Prepare readies p for rendering its notifications with Render, at now.
func Prepare(p *bus.Parsed, site Site, now time.Time) *Prepared {
	p.Display() // a lazy parse left the texts for now
	pr := &Prepared{p: p, site: site, now: now, sentAt: p.SentAt, severity: p.Severity}
	if pr.sentAt.IsZero() {
		pr.sentAt = now
	}
	if pr.severity == 0 {
		pr.severity = bus.SeverityInfo // a missing severity header means info
	}
	// Bounded so one huge message cannot make a notification too large to
	// store (NATS' payload limit) or to read.
	pr.ptext = clip(p.DisplayText(), MaxText, "\n[… message truncated]")
	pr.psummary = clip(p.Summary, MaxSummary, "…")
	pr.purl = clip(p.URL, MaxURL, "")
	pr.summary = strings.TrimSpace(oneLine(pr.psummary))
	pr.link = strings.TrimSpace(oneLine(pr.purl))
	pr.title = pr.summary
	if app := strings.TrimSpace(oneLine(p.App)); app != "" {
		pr.title = "[" + app + "] " + pr.summary
	}
	return pr
}

// prepareEmail works out the parts only emails have.
func (pr *Prepared) prepareEmail() {
	if pr.email {
		return
	}
	pr.email = true
	p := pr.p
	pr.rules = oneLine(strings.TrimRight(pr.site.PublicURL, "/") + "/rules")
	pr.siteName = oneLine(pr.site.Name)
	pr.text = bodyText(pr.ptext)
	if strings.TrimSpace(pr.text) == "" {
		pr.text = pr.summary
	}
	pr.subject = headerValue(pr.title)
	pr.date = pr.sentAt.Format(time.RFC1123Z)
	pr.domain = messageIDDomain(pr.site.PublicURL)
	pr.topic, pr.busID, pr.app = headerValue(p.Topic), headerValue(p.ID), headerValue(p.App)
	pr.meta = *newMeta(p)
	if u := strings.TrimSpace(p.PatchURL); u != "" && len(u) <= MaxURL {
		pr.patchURL = u
	}
}

// Render builds the notification of the prepared message for user's
// destination dest, produced by the rules ruleIDs, as Render does.
func (pr *Prepared) Render(user string, dest rules.Destination, ruleIDs []int64) *Notification {
	p := pr.p
	ids := slices.Clone(ruleIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var ruleID int64
	if len(ids) > 0 {
		ruleID = ids[0]
	}
	// An email's notification, metadata and email are one allocation.
	var n *Notification
	var e *emailNote
	if dest.Protocol == rules.ProtocolEmail {
		e = new(emailNote)
		n = &e.n
	} else {
		n = new(Notification)
	}
	*n = Notification{
		ID:        ID(p.ID, dest.Protocol, dest.Address),
		MessageID: p.ID,
		Topic:     p.Topic,
		Protocol:  dest.Protocol,
		Address:   dest.Address,
		User:      user,
		RuleID:    ruleID,
		RuleIDs:   ids,
		App:       p.App,
		Severity:  pr.severity,
		SentAt:    pr.sentAt,
		Summary:   pr.psummary,
		Text:      pr.ptext,
		URL:       pr.purl,
		CreatedAt: pr.now,
	}

	if dest.Protocol != rules.ProtocolEmail {
		n.Line = pr.line()
		return n
	}

	pr.prepareEmail()
	// The rule's link, its number and List-Unsubscribe are one string:
	// "<" + link + ">", link = rules page + "/" + number (oneLine leaves
	// the number and the slash as they are).
	var unsub string
	if len(ids) > 0 {
		var num [20]byte
		unsub = "<" + pr.rules + "/" + string(strconv.AppendInt(num[:0], ruleID, 10)) + ">"
	} else {
		unsub = "<" + pr.rules + ">"
	}
	ruleURL := unsub[1 : len(unsub)-1]
	const sentBy = SignatureSeparator + "Sent by "
	var body strings.Builder
	body.Grow(len(pr.text) + 1 + len(pr.link) + len(sentBy) + len(pr.siteName) + 2 + len(ruleURL) + 1)
	body.WriteString(pr.text)
	if pr.link != "" {
		body.WriteString("\n")
		body.WriteString(pr.link)
	}
	body.WriteString(sentBy)
	body.WriteString(pr.siteName)
	body.WriteString(": ")
	body.WriteString(ruleURL)
	body.WriteString("\n")

	headers := make(map[string]string, emailHeaders)
	headers[HeaderDate] = pr.date
	headers[HeaderMessageID] = "<" + n.ID + "@" + pr.domain + ">"
	headers[HeaderAutoSubmitted] = "auto-generated"
	headers[HeaderPrecedence] = "bulk"
	headers[HeaderListUnsubscribe] = unsub
	headers[HeaderTopic] = pr.topic
	headers[HeaderBusMessageID] = pr.busID
	headers[HeaderSeverity] = bus.SeverityName(pr.severity)
	if len(ids) > 0 {
		headers[HeaderRule] = ruleURL[len(pr.rules)+1:]
	}
	if pr.app != "" {
		headers[HeaderApp] = pr.app
	}
	e.meta = pr.meta // each notification its own (the lists are shared, read-only)
	n.Meta = &e.meta
	e.email = Email{
		Subject:  pr.subject,
		Body:     body.String(),
		Headers:  headers,
		PatchURL: pr.patchURL,
	}
	n.Email = &e.email
	return n
}

// emailNote holds an email notification with its metadata and email.
type emailNote struct {
	n     Notification
	meta  Meta
	email Email
}

// oneLine makes s safe for a single line: invalid UTF-8 becomes U+FFFD; a
// line break (CRLF, LF, CR, U+2028, U+2029) or a tab becomes a space; other
// control characters (IRC formatting codes, escape sequences) are dropped.
func oneLine(s string) string {
	if isPlainLine(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}

// isPlainLine reports whether s is printable ASCII, the common case, which
// oneLine returns as is.
func isPlainLine(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// headerValue is oneLine, trimmed and cut to maxHeaderLen characters.
func headerValue(s string) string {
	s = strings.TrimSpace(oneLine(s))
	if utf8.RuneCountInString(s) <= maxHeaderLen {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:maxHeaderLen-1]), " ") + "…"
}

// Limits of the rendered fields, in bytes.
const (
	MaxText    = 32 << 10
	MaxSummary = 2 << 10
	MaxURL     = 2 << 10
)

// clip cuts s to at most max bytes on a UTF-8 boundary, then appends more.
func clip(s string, max int, more string) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// bodyText normalises the text of a message for an email body: "\n" line
// ends, valid UTF-8, and no control characters other than newline and tab.
func bodyText(s string) string {
	if isPlainText(s) {
		return s
	}
	return normaliseBodyText(s)
}

// normaliseBodyText is bodyText's three passes, for any text.
func normaliseBodyText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r' || r == '\u2028' || r == '\u2029':
			return '\n'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}

// isPlainText reports whether s is printable ASCII, newlines and tabs,
// the common case, which bodyText returns as is.
func isPlainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// messageIDDomain returns the right-hand side of a Message-ID: the host of
// the public URL, or "localhost" when it has none usable.
func messageIDDomain(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return "localhost"
	}
	host := u.Hostname()
	if host == "" {
		return "localhost"
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]" // an IPv6 literal
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return "localhost"
		}
	}
	return host
}
