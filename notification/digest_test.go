package notification

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func heldFor(protocol string, i int) *Notification {
	n := &Notification{
		ID: fmt.Sprint("n", i), MessageID: fmt.Sprint("msg-", i), Protocol: protocol, Address: "a", User: "alice",
		RuleIDs: []int64{int64(i%2 + 1)}, App: "koji", Severity: 20, Summary: fmt.Sprint("build ", i),
		Text: fmt.Sprint("text ", i), URL: fmt.Sprint("https://koji.example.org/", i),
	}
	if protocol == "email" {
		n.Email = &Email{Subject: "s", Body: "b"}
		n.Meta = &Meta{Agent: "zoe", Packages: []string{fmt.Sprint("p", i%12)}}
	} else {
		n.Line = fmt.Sprint("[koji] build ", i, " https://koji.example.org/", i)
	}
	return n
}

func TestDigestEmail(t *testing.T) {
	var hs []*Notification
	for i := range 15 {
		hs = append(hs, heldFor("email", i))
	}
	hs[3].Meta.Agent = "bob"
	d := Digest("dg", hs, Site{Name: "fmn", PublicURL: "https://fmn.example.org/"}, time.Unix(0, 0))
	e := d.Email
	if e.Subject != "[fmn] 15 notifications" || e.Headers[HeaderDigest] != "15" ||
		e.Headers[HeaderMessageID] != "<digest.dg@fmn.example.org>" {
		t.Errorf("subject %q headers %v", e.Subject, e.Headers)
	}
	if !strings.HasPrefix(e.Body, "15 notifications:\n\n1. [koji] build 0\n2. [koji] build 1\n") ||
		!strings.Contains(e.Body, "\n\n15. [koji] build 14\n\ntext 14\nhttps://koji.example.org/14\nID: msg-14\n") ||
		!strings.HasSuffix(e.Body, SignatureSeparator+"Sent by fmn: https://fmn.example.org/rules\n") {
		t.Errorf("body:\n%s", e.Body)
	}
	// Two agents: none; 12 packages: the first 10 and their count.
	if m := d.Meta; m.Agent != "" || len(m.Packages) != MaxMetaNames || m.NumPackages != 12 {
		t.Errorf("meta %+v", m)
	}
	if len(d.RuleIDs) != 2 || d.Protocol != "email" || d.User != "alice" {
		t.Errorf("digest %+v", d)
	}
	if one := Digest("x", hs[:1], Site{Name: "fmn"}, time.Now()); one.Email.Subject != "[fmn] 1 notification" {
		t.Errorf("subject of one: %q", one.Email.Subject)
	}
}

// TestDigestEmailCap: past MaxDigestBody the rest are listed by id, each
// still traceable.
func TestDigestEmailCap(t *testing.T) {
	var hs []*Notification
	big := strings.Repeat("x", 100_000)
	for i := range 8 {
		n := heldFor("email", i)
		n.Text = big
		hs = append(hs, n)
	}
	body := Digest("dg", hs, Site{Name: "fmn", PublicURL: "https://fmn.example.org"}, time.Now()).Email.Body
	if len(body) > MaxDigestBody+200_000 {
		t.Errorf("body of %d bytes", len(body))
	}
	if !strings.Contains(body, "too long to show the other 3 notifications; find them at https://fmn.example.org/ by their ids:\n\n6. ID: msg-5\n7. ID: msg-6\n8. ID: msg-7\n") {
		t.Errorf("no list of the rest:\n%s", body[len(body)-500:])
	}
	for i := range 8 {
		if !strings.Contains(body, fmt.Sprintf("ID: msg-%d\n", i)) {
			t.Errorf("msg-%d not traceable", i)
		}
	}
}

func TestDigestLines(t *testing.T) {
	var hs []*Notification
	for i := range MaxDigestLines + 5 {
		hs = append(hs, heldFor("irc", i))
	}
	site := Site{Name: "fmn", PublicURL: "https://fmn.example.org"}
	lines := strings.Split(Digest("dg", hs, site, time.Now()).Line, "\n")
	if len(lines) != MaxDigestLines || lines[0] != "[koji] build 0 https://koji.example.org/0" ||
		lines[MaxDigestLines-1] != "… and 6 more: https://fmn.example.org/" {
		t.Errorf("lines %q", lines)
	}
	short := Digest("dg", hs[:3], site, time.Now())
	if short.Line != "[koji] build 0 https://koji.example.org/0\n[koji] build 1 https://koji.example.org/1\n[koji] build 2 https://koji.example.org/2" || short.Email != nil {
		t.Errorf("short digest %+v", short)
	}
}
