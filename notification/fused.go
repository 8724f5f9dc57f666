package notification

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// The matcher renders a message for each of its destinations and encodes
// each notification at once: building a Notification (with an email's
// headers map) only to encode it cost as much as the rest of the match.
// AppendJSON writes the encoding directly. Most of a notification's JSON is
// the same for every destination of a message (the message's fields, the
// email's subject, body text, meta and most headers): those parts are
// encoded once per message, and a notification adds only its id, its
// destination, its user and its rule. The bytes are those of
// AppendMarshal(dst, pr.Render(...)); fused_test.go checks it on every
// corpus message and hostile strings.

// jsonParts are a prepared message's JSON parts shared by its
// notifications, each a run of encoded fields in appendNotification's
// order, held in two buffers (one for every notification, one for
// emails) and cut by offsets.
type jsonParts struct {
	// fast is false when the fast encoder does not apply (see
	// AppendMarshal): AppendJSON then encodes Render's result.
	fast bool
	// buf holds, up to msgEnd, what follows "id": message_id and topic, up
	// to the protocol's value; and then what follows rule_ids: app,
	// severity, sent_at, summary, text, url and created_at.
	buf    []byte
	msgEnd int
	// line, once made (on the first notification that is not an email),
	// ends such a notification.
	line []byte

	// email says ebuf is made. It holds meta, the email's subject and its
	// body up to the rule's link's number, after the rules page (up to
	// bodyEnd); the rest of the body and the headers up to
	// List-Unsubscribe's rule number (up to unsubAt); the rest of
	// List-Unsubscribe up to Message-ID's id (up to idAt); the rest of
	// Message-ID up to the Rule header (up to ruleAt); and the rest.
	email                          bool
	ebuf                           []byte
	bodyEnd, unsubAt, idAt, ruleAt int

	// box and ebox are the pool's boxes of buf and ebuf (Release).
	box, ebox *[]byte
}

// appendInner appends s encoded as a JSON string without its quotes: what
// a part of a longer string adds to its encoding. Every part is cut next to
// ASCII, so the parts encode as the whole would.
func appendInner(b []byte, s string) []byte {
	start := len(b)
	b = appendJSONString(b, s)
	copy(b[start:], b[start+1:len(b)-1])
	return b[:len(b)-2]
}

// partsPool recycles the parts' buffers (Prepared.Release): a notified
// message's parts are a few KB, most of what encoding its notifications
// allocates. The boxes go back with their buffers, as the API's
// encodeBuffers do, so a release allocates nothing.
var partsPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledParts bounds the buffers kept: a huge message's are left to
// the GC.
const maxPooledParts = 64 << 10

// getBuf returns a pooled box whose buffer is empty with room for size
// bytes.
func getBuf(size int) *[]byte {
	bp := partsPool.Get().(*[]byte)
	if cap(*bp) < size {
		*bp = make([]byte, 0, size)
	}
	return bp
}

// putBuf gives the box back holding b, what its buffer grew into.
func putBuf(bp *[]byte, b []byte) {
	if bp != nil && cap(b) <= maxPooledParts {
		*bp = b[:0]
		partsPool.Put(bp)
	}
}

// Release gives pr's buffers back for the next message's. Call it once
// nothing will encode with pr again: what AppendJSON returned is the
// caller's and stays valid.
func (pr *Prepared) Release() {
	putBuf(pr.js.box, pr.js.buf)
	putBuf(pr.js.ebox, pr.js.ebuf)
	pr.js = jsonParts{}
}

func (pr *Prepared) jsonParts() *jsonParts {
	j := &pr.js
	if j.buf != nil {
		return j
	}
	j.fast = fastEncoding && jsonTime(pr.sentAt) && jsonTime(pr.now)
	p := pr.p
	size := len(p.ID) + len(p.Topic) + len(p.App) + len(pr.psummary) + len(pr.ptext) + len(pr.purl)
	j.box = getBuf(size + size/4 + 256)
	b := append(*j.box, `,"message_id":`...)
	b = appendJSONString(b, p.ID)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, p.Topic)
	b = append(b, `,"protocol":`...)
	j.msgEnd = len(b)

	// Render's values of these fields, encoded as appendNotification does.
	b = appendMessageFields(b, &Notification{App: p.App, Severity: pr.severity, SentAt: pr.sentAt,
		Summary: pr.psummary, Text: pr.ptext, URL: pr.purl, CreatedAt: pr.now})
	j.buf = b
	return j
}

// line is a notification's one line for IRC and Matrix (see Render).
func (pr *Prepared) line() string {
	return strings.TrimSpace(pr.title + " " + pr.link)
}

// emailParts makes the email's shared parts (see jsonParts).
func (pr *Prepared) emailParts(j *jsonParts) {
	if j.email {
		return
	}
	j.email = true
	pr.prepareEmail()
	m := &pr.meta
	size := len(pr.subject) + len(pr.text) + len(pr.link) + len(pr.siteName) + 2*len(pr.rules) + len(pr.date) + len(pr.domain) +
		len(pr.app) + len(pr.busID) + len(pr.topic) + len(pr.patchURL) + len(m.Agent)
	for _, l := range [...][]string{m.Usernames, m.Groups, m.Packages, m.Containers, m.Modules, m.Flatpaks} {
		size += 40 + 3*len(l)
		for _, s := range l {
			size += len(s)
		}
	}
	j.ebox = getBuf(size + size/4 + 512)
	b := appendMeta(*j.ebox, m)
	b = append(b, `,"email":{"subject":`...)
	b = appendJSONString(b, pr.subject)
	// The body: text, link, signature, and the rule's link, whose
	// number (and the slash before it) the notification adds.
	b = append(b, `,"body":"`...)
	b = appendInner(b, pr.text)
	if pr.link != "" {
		b = appendInner(b, "\n"+pr.link)
	}
	b = appendInner(b, SignatureSeparator+"Sent by "+pr.siteName+": "+pr.rules)
	j.bodyEnd = len(b)

	b = appendInner(b, "\n")
	b = append(b, `","headers":{"Auto-Submitted":"auto-generated","Date":`...)
	b = appendJSONString(b, pr.date)
	b = append(b, `,"List-Unsubscribe":"`...)
	b = appendInner(b, "<"+pr.rules)
	j.unsubAt = len(b)

	b = appendInner(b, ">")
	b = append(b, `","Message-ID":"`...)
	b = appendInner(b, "<")
	j.idAt = len(b)

	b = appendInner(b, "@"+pr.domain+">")
	b = append(b, `","Precedence":"bulk"`...)
	if pr.app != "" {
		b = append(b, `,"X-Fedora-Messaging-App":`...)
		b = appendJSONString(b, pr.app)
	}
	b = append(b, `,"X-Fedora-Messaging-ID":`...)
	b = appendJSONString(b, pr.busID)
	j.ruleAt = len(b)

	b = append(b, `,"X-Fedora-Messaging-Severity":`...)
	b = appendJSONString(b, bus.SeverityName(pr.severity))
	b = append(b, `,"X-Fedora-Messaging-Topic":`...)
	b = appendJSONString(b, pr.topic)
	b = append(b, '}')
	if pr.patchURL != "" {
		b = append(b, `,"patch_url":`...)
		b = appendJSONString(b, pr.patchURL)
	}
	b = append(b, "}}"...)
	j.ebuf = b
}

// AppendJSON appends the JSON of the notification Render(user, dest,
// ruleIDs) would build, as AppendMarshal encodes it, and returns the
// notification's id with it; an error is AppendMarshal's (a time JSON
// cannot hold).
func (pr *Prepared) AppendJSON(dst []byte, user string, dest rules.Destination, ruleIDs []int64) (string, []byte, error) {
	j := pr.jsonParts()
	if !j.fast {
		n := pr.Render(user, dest, ruleIDs)
		b, err := AppendMarshal(dst, n)
		return n.ID, b, err
	}
	// The rule ids sorted and without repeats, as Render keeps them; nil
	// stays nil (encoded null).
	var buf [8]int64
	ids := ruleIDs
	if ids != nil {
		ids = append(buf[:0], ruleIDs...)
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	var ruleID int64
	if len(ids) > 0 {
		ruleID = ids[0]
	}
	id := ID(pr.p.ID, dest.Protocol, dest.Address)

	b := dst
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, j.buf[:j.msgEnd]...)
	b = appendJSONString(b, dest.Protocol)
	b = append(b, `,"address":`...)
	b = appendJSONString(b, dest.Address)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, user)
	b = appendRuleIDs(b, ruleID, ids)
	b = append(b, j.buf[j.msgEnd:]...)
	if dest.Protocol != rules.ProtocolEmail {
		if j.line == nil {
			if line := pr.line(); line != "" {
				j.line = append(j.line, `,"line":`...)
				j.line = appendJSONString(j.line, line)
			}
			j.line = append(j.line, '}')
		}
		return id, append(b, j.line...), nil
	}
	pr.emailParts(j)
	// The rule's number: "/<n>" after the rules page in the body and in
	// List-Unsubscribe, and the Rule header; none without a rule.
	var num [24]byte
	slashNum := num[:0]
	if len(ids) > 0 {
		slashNum = strconv.AppendInt(append(slashNum, '/'), ruleID, 10)
	}
	e := j.ebuf
	b = append(b, e[:j.bodyEnd]...)
	b = append(b, slashNum...)
	b = append(b, e[j.bodyEnd:j.unsubAt]...)
	b = append(b, slashNum...)
	b = append(b, e[j.unsubAt:j.idAt]...)
	b = append(b, id...) // hexadecimal: nothing to escape
	b = append(b, e[j.idAt:j.ruleAt]...)
	if len(ids) > 0 {
		b = append(b, `,"X-Fedora-Messaging-Rule":"`...)
		b = append(b, slashNum[1:]...)
		b = append(b, '"')
	}
	return id, append(b, e[j.ruleAt:]...), nil
}
