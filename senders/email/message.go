package email

import (
	"bytes"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fmn-project/fmn/notification"
)

// reserved are the headers the sender writes itself; the same names in
// Email.Headers are ignored (compared case-insensitively).
var reserved = map[string]bool{
	"from": true, "sender": true, "to": true, "cc": true, "bcc": true,
	"subject": true, "date": true, "message-id": true, "mime-version": true,
	"content-type": true, "content-transfer-encoding": true,
}

// recipient checks the notification's address: a bare addr-spec.
func recipient(address string) (string, error) {
	a, err := mail.ParseAddress(address)
	if err != nil || a.Address != address {
		return "", fmt.Errorf("recipient %q is not an email address", address)
	}
	return a.Address, nil
}

// compose renders the whole message: headers (non-ASCII ones as RFC 2047
// encoded words, long ones folded; the rendered ones, then the metadata
// headers of n.Meta) and the body as quoted-printable UTF-8,
// which passes any relay, 8BITMIME or not. It returns the names of headers
// from Email.Headers that were dropped because they are not valid header
// names.
func compose(from mail.Address, to string, n *notification.Notification, now time.Time) (msg []byte, dropped []string, err error) {
	e := n.Email
	if !utf8.ValidString(e.Subject) || !utf8.ValidString(e.Body) {
		return nil, nil, errors.New("the rendered email is not valid UTF-8")
	}
	var b bytes.Buffer
	given := make(map[string]string, len(e.Headers))
	for k, v := range e.Headers {
		given[strings.ToLower(k)] = v
	}

	date := given["date"]
	if date == "" {
		date = now.Format(time.RFC1123Z)
	}
	msgID := given["message-id"]
	if msgID == "" {
		msgID = messageID(n.ID, from.Address, now)
	}
	writeHeader(&b, "From", addressWords(from)...)
	writeHeader(&b, "To", addressWords(mail.Address{Address: to})...)
	writeHeader(&b, "Subject", textWords("Subject", e.Subject)...)
	writeHeader(&b, "Date", textWords("Date", date)...)
	writeHeader(&b, "Message-ID", textWords("Message-ID", msgID)...)

	names := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		switch {
		case reserved[strings.ToLower(k)]:
		case !validHeaderName(k):
			dropped = append(dropped, k)
		default:
			writeHeader(&b, k, textWords(k, e.Headers[k])...)
		}
	}
	// The metadata headers, for filtering: repeated headers, one name each.
	for _, h := range n.Meta.Headers() {
		writeHeader(&b, h.Name, textWords(h.Name, h.Value)...)
	}
	writeHeader(&b, "MIME-Version", "1.0")
	writeHeader(&b, "Content-Type", "text/plain;", "charset=utf-8")
	writeHeader(&b, "Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(e.Body)); err != nil {
		return nil, nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), dropped, nil
}

// messageID is used only when the renderer gave none: stable per
// notification, so a resend is recognisable.
func messageID(id, from string, now time.Time) string {
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = from[i+1:]
	}
	local := strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			return r
		}
		return '-'
	}, id)
	if local == "" {
		local = fmt.Sprintf("fmn.%d", now.UnixNano())
	}
	return "<" + local + "@" + domain + ">"
}

// maxLine is the longest header line written, where a value allows: RFC
// 2047 limits lines with encoded words to 76 characters.
const maxLine = 76

// textWords splits an unstructured header value into the words that
// writeHeader folds between: the value's own words when it is plain ASCII,
// else RFC 2047 encoded words, the first one short enough to share a line
// with the header's name.
func textWords(name, v string) []string {
	v = oneLine(v)
	if plain(v) {
		return strings.Split(v, " ")
	}
	return encodedWords(v, maxLine-len(name)-len(": "))
}

// addressWords is a mailbox: the display name encoded when not ASCII.
func addressWords(a mail.Address) []string {
	if plain(a.Name) {
		return strings.Split(a.String(), " ")
	}
	return append(encodedWords(oneLine(a.Name), maxLine-len("From: ")), "<"+a.Address+">")
}

// plain reports a value that needs no encoding: printable ASCII and
// spaces, and nothing a decoder could take for an encoded word.
func plain(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return !strings.Contains(v, "=?")
}

// encodedWords encodes v as "Q" encoded words of at most 75 characters,
// the first at most first, never splitting a character between words.
func encodedWords(v string, first int) []string {
	const prefix, suffix, maxWord = "=?utf-8?q?", "?=", 75
	limit := min(max(first, len(prefix)+len(suffix)+12), maxWord)
	var words []string
	var w strings.Builder
	w.WriteString(prefix)
	for _, r := range v {
		enc := qEncode(r)
		if w.Len()+len(enc)+len(suffix) > limit && w.Len() > len(prefix) {
			w.WriteString(suffix)
			words = append(words, w.String())
			w.Reset()
			w.WriteString(prefix)
			limit = maxWord
		}
		w.WriteString(enc)
	}
	w.WriteString(suffix)
	return append(words, w.String())
}

// qEncode is one character in RFC 2047 "Q" encoding, limited to what is
// safe in every header context, phrases included.
func qEncode(r rune) string {
	switch {
	case r == ' ':
		return "_"
	case r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!*+-/", r)):
		return string(r)
	}
	var buf [utf8.UTFMax]byte
	var out strings.Builder
	for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
		fmt.Fprintf(&out, "=%02X", c)
	}
	return out.String()
}

// oneLine removes line breaks, which would otherwise start new headers.
func oneLine(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// validHeaderName is RFC 5322's field-name: printable ASCII but colon.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 33 || k[i] > 126 || k[i] == ':' {
			return false
		}
	}
	return true
}

// writeHeader writes "Name: word word…", folding between words so that
// lines stay within maxLine; a single longer word stays whole.
func writeHeader(b *bytes.Buffer, name string, words ...string) {
	b.WriteString(name)
	b.WriteString(":")
	col := len(name) + 1
	for i, word := range words {
		if i > 0 && word != "" && col+1+len(word) > maxLine {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteString(" ")
		b.WriteString(word)
		col += 1 + len(word)
	}
	b.WriteString("\r\n")
}
