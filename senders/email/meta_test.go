package email_test

import (
	"fmt"
	"mime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/senderstest"
)

// TestMetadataHeadersThroughRelay renders hostile metadata (line breaks
// that try to add headers, non-ASCII, commas and spaces, a name far too
// long, hundreds of packages), publishes it on NOTIFY and reads what the
// SMTP peer received: one header per name, nothing injected, non-ASCII as
// RFC 2047 encoded words, every line within RFC 5322's limit, at most 10
// packages and their full number.
func TestMetadataHeadersThroughRelay(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
	s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
	senderstest.Start(t, n, s, senderstest.FastOptions(2), nil)

	long := strings.Repeat("ž", 300)
	p := &bus.Parsed{
		ID: "hostile-1", Topic: "org.fedoraproject.prod.test.thing", App: "test", Summary: "s",
		Agent:     "mallory\r\nBcc: victim@example.org",
		Usernames: []string{"eve\nX-Evil: 1", "Zoë Ünïcødé", "last, first", "with  spaces", "=?utf-8?q?fake?=", long, "\x00\x1b"},
		Groups:    []string{"a group with a rather long name that goes on and on and on past the line limit"},
		// The longest plain name kept whole: one word, it cannot fold.
		Containers: []string{strings.Repeat("c", notification.MaxMetaName)},
	}
	for i := range 300 {
		p.Packages = append(p.Packages, fmt.Sprintf("pkg-%03d", i))
	}
	rn := notification.Render(p, "alice", rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@example.org"}, []int64{1},
		notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}, time.Now())
	senderstest.Publish(t, n, email.Channel, rn)
	fmntest.Eventually(t, 10*time.Second, "the mail at the relay", func() bool { return len(r.Mails()) == 1 })
	raw := string(r.Mails()[0].Data)
	m := parse(t, r.Mails()[0].Data)

	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	t.Logf("headers as received:\n%s", head)
	for i, line := range strings.Split(head, "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d long", i, len(line))
		}
		if len(line) > 78 && strings.ContainsAny(line[1:], " \t") && !strings.HasPrefix(line, "X-Fedora-Messaging-Container:") {
			t.Errorf("line %d is %d long and could have been folded: %q", i, len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 || c < 0x20 && c != '\t' {
				t.Errorf("line %d is not 7-bit clean: %q", i, line)
				break
			}
		}
	}
	for _, name := range []string{"Bcc", "X-Evil"} {
		if _, ok := m.header[name]; ok {
			t.Errorf("a name injected header %s:\n%s", name, head)
		}
	}
	if to := m.header["To"]; len(to) != 1 || to[0] != "<alice@example.org>" {
		t.Errorf("To %q", to)
	}

	dec := new(mime.WordDecoder)
	values := func(name string) []string {
		var out []string
		for _, v := range m.header[name] {
			s, err := dec.DecodeHeader(v)
			if err != nil {
				t.Errorf("%s: %q: %v", name, v, err)
			}
			out = append(out, s)
		}
		return out
	}
	wantUsers := []string{"=?utf-8?q?fake?=", "Zoë Ünïcødé", "eve X-Evil: 1", "last, first", "with  spaces", strings.Repeat("ž", notification.MaxMetaName-1) + "…"}
	for name, want := range map[string][]string{
		"X-Fedora-Messaging-Agent":         {"mallory Bcc: victim@example.org"},
		"X-Fedora-Messaging-Username":      wantUsers,
		"X-Fedora-Messaging-Num-Usernames": {"6"},
		"X-Fedora-Messaging-Group":         p.Groups,
		"X-Fedora-Messaging-Package":       p.Packages[:10],
		"X-Fedora-Messaging-Container":     p.Containers,
		"X-Fedora-Messaging-Num-Packages":  {"300"},
	} {
		if got := values(name); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
	// A value that only looks like an encoded word is encoded, so that it
	// decodes to itself; plain names go as they are, for exact filters.
	if !slices.Contains(m.header["X-Fedora-Messaging-Package"], "pkg-000") || !slices.Contains(m.header["X-Fedora-Messaging-Username"], "last, first") {
		t.Errorf("plain names were encoded:\n%s", head)
	}
}
