package notification_test

import (
	"bufio"
	"maps"
	"net/mail"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

const msgID = "5a1b1e4e-0c5e-4a5e-9b1a-2f7c0e6d1a11"

var (
	site  = notification.Site{Name: "fmn", PublicURL: "https://notifications.example.org/"}
	now   = time.Date(2024, 3, 5, 13, 30, 0, 0, time.UTC)
	sent  = time.Date(2024, 3, 5, 14, 7, 9, 0, time.FixedZone("CET", 3600))
	email = rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@example.org"}
	irc   = rules.Destination{Protocol: rules.ProtocolIRC, Address: "alice"}
	mx    = rules.Destination{Protocol: rules.ProtocolMatrix, Address: "@alice:fedora.im"}
)

// comment is a typical bus message, to be varied by the tests.
func comment() *bus.Parsed {
	return &bus.Parsed{
		ID:       msgID,
		Topic:    "org.fedoraproject.prod.bodhi.update.comment",
		Severity: bus.SeverityInfo,
		SentAt:   sent,
		Agent:    "bob",
		App:      "bodhi",
		Summary:  "bob commented on FEDORA-2024-abc",
		Text:     "Works for me.\nKarma +1",
		URL:      "https://bodhi.fedoraproject.org/updates/FEDORA-2024-abc",
	}
}

func TestRenderEmail(t *testing.T) {
	t.Parallel()

	const footer = "\n\n-- \nSent by fmn: https://notifications.example.org/rules/12\n"
	baseHeaders := map[string]string{
		"Date":                        "Tue, 05 Mar 2024 14:07:09 +0100",
		"Message-ID":                  "<99af8f7c1398a719cf8a3561fa207a3b@notifications.example.org>",
		"Auto-Submitted":              "auto-generated",
		"Precedence":                  "bulk",
		"List-Unsubscribe":            "<https://notifications.example.org/rules/12>",
		"X-Fedora-Messaging-Topic":    "org.fedoraproject.prod.bodhi.update.comment",
		"X-Fedora-Messaging-ID":       msgID,
		"X-Fedora-Messaging-App":      "bodhi",
		"X-Fedora-Messaging-Severity": "info",
		"X-Fedora-Messaging-Rule":     "12",
	}
	with := func(changes map[string]string) map[string]string {
		h := maps.Clone(baseHeaders)
		for k, v := range changes {
			if v == "" {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}

	tests := []struct {
		name    string
		mod     func(p *bus.Parsed)
		want    notification.Email
		sentAt  time.Time
		wantSev int
	}{
		{
			name: "full message",
			mod:  func(*bus.Parsed) {},
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "Works for me.\nKarma +1\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: baseHeaders,
			},
		},
		{
			name: "no app: no subject prefix, no app header",
			mod:  func(p *bus.Parsed) { p.App = "" },
			want: notification.Email{
				Subject: "bob commented on FEDORA-2024-abc",
				Body:    "Works for me.\nKarma +1\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: with(map[string]string{"X-Fedora-Messaging-App": ""}),
			},
		},
		{
			name: "no url: no url line",
			mod:  func(p *bus.Parsed) { p.URL = "" },
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "Works for me.\nKarma +1" + footer,
				Headers: baseHeaders,
			},
		},
		{
			name: "no text: the summary stands in",
			mod:  func(p *bus.Parsed) { p.Text = " \n" },
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "bob commented on FEDORA-2024-abc\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: baseHeaders,
			},
		},
		{
			name: "text with CRLF and control characters",
			mod:  func(p *bus.Parsed) { p.Text = "line 1\r\nline 2\rline 3\x00\x1b[31m\tend" },
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "line 1\nline 2\nline 3[31m\tend\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: baseHeaders,
			},
		},
		{
			name:   "no sent-at: Date is now",
			mod:    func(p *bus.Parsed) { p.SentAt = time.Time{} },
			sentAt: now,
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "Works for me.\nKarma +1\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: with(map[string]string{"Date": "Tue, 05 Mar 2024 13:30:00 +0000"}),
			},
		},
		{
			name:    "error severity",
			mod:     func(p *bus.Parsed) { p.Severity = bus.SeverityError },
			wantSev: bus.SeverityError,
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "Works for me.\nKarma +1\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: with(map[string]string{"X-Fedora-Messaging-Severity": "error"}),
			},
		},
		{
			name: "unset severity is info",
			mod:  func(p *bus.Parsed) { p.Severity = 0 },
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "Works for me.\nKarma +1\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: baseHeaders,
			},
		},
		{
			name: "multi-line summary",
			mod:  func(p *bus.Parsed) { p.Summary = "bob commented\r\non FEDORA-2024-abc\n" },
			want: notification.Email{
				Subject: "[bodhi] bob commented on FEDORA-2024-abc",
				Body:    "Works for me.\nKarma +1\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: baseHeaders,
			},
		},
		{
			name: "long subject is cut",
			mod:  func(p *bus.Parsed) { p.Summary = strings.Repeat("é", 300) },
			want: notification.Email{
				Subject: "[bodhi] " + strings.Repeat("é", 246) + "…",
				Body:    "Works for me.\nKarma +1\nhttps://bodhi.fedoraproject.org/updates/FEDORA-2024-abc" + footer,
				Headers: baseHeaders,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := comment()
			tt.mod(p)
			n := notification.Render(p, "alice", email, []int64{42, 12, 42}, site, now)

			if n.Email == nil || n.Line != "" {
				t.Fatalf("Render gave Email %v and Line %q, want only Email", n.Email, n.Line)
			}
			if n.Email.Subject != tt.want.Subject {
				t.Errorf("Subject = %q\n          want %q", n.Email.Subject, tt.want.Subject)
			}
			if n.Email.Body != tt.want.Body {
				t.Errorf("Body = %q\n       want %q", n.Email.Body, tt.want.Body)
			}
			if !reflect.DeepEqual(n.Email.Headers, tt.want.Headers) {
				t.Errorf("Headers = %v\n          want %v", n.Email.Headers, tt.want.Headers)
			}

			wantSent, wantSev := sent, bus.SeverityInfo
			if !tt.sentAt.IsZero() {
				wantSent = tt.sentAt
			}
			if tt.wantSev != 0 {
				wantSev = tt.wantSev
			}
			if !n.SentAt.Equal(wantSent) || n.Severity != wantSev {
				t.Errorf("SentAt, Severity = %v, %d; want %v, %d", n.SentAt, n.Severity, wantSent, wantSev)
			}
		})
	}
}

func TestRenderFields(t *testing.T) {
	t.Parallel()

	p := comment()
	ruleIDs := []int64{42, 12, 42}
	n := notification.Render(p, "alice", email, ruleIDs, site, now)
	want := &notification.Notification{
		ID:        "99af8f7c1398a719cf8a3561fa207a3b",
		MessageID: msgID,
		Topic:     "org.fedoraproject.prod.bodhi.update.comment",
		Protocol:  "email",
		Address:   "alice@example.org",
		User:      "alice",
		RuleID:    12,
		RuleIDs:   []int64{12, 42},
		App:       "bodhi",
		Severity:  bus.SeverityInfo,
		SentAt:    sent,
		Summary:   "bob commented on FEDORA-2024-abc",
		Text:      "Works for me.\nKarma +1",
		URL:       "https://bodhi.fedoraproject.org/updates/FEDORA-2024-abc",
		CreatedAt: now,
		Meta:      &notification.Meta{Agent: "bob"},
		Email:     n.Email, // checked by TestRenderEmail
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("Render =\n%+v\nwant\n%+v", n, want)
	}
	if !slices.Equal(ruleIDs, []int64{42, 12, 42}) {
		t.Errorf("Render changed the caller's rule ids: %v", ruleIDs)
	}
}

func TestRenderLine(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		dest rules.Destination
		mod  func(p *bus.Parsed)
		want string
	}{
		{"irc full", irc, func(*bus.Parsed) {},
			"[bodhi] bob commented on FEDORA-2024-abc https://bodhi.fedoraproject.org/updates/FEDORA-2024-abc"},
		{"matrix full", mx, func(*bus.Parsed) {},
			"[bodhi] bob commented on FEDORA-2024-abc https://bodhi.fedoraproject.org/updates/FEDORA-2024-abc"},
		{"no app", irc, func(p *bus.Parsed) { p.App = "" },
			"bob commented on FEDORA-2024-abc https://bodhi.fedoraproject.org/updates/FEDORA-2024-abc"},
		{"no url: no trailing space", irc, func(p *bus.Parsed) { p.URL = "" },
			"[bodhi] bob commented on FEDORA-2024-abc"},
		{"no app, no url", mx, func(p *bus.Parsed) { p.App, p.URL = "", "" },
			"bob commented on FEDORA-2024-abc"},
		{"newlines in the summary become spaces", mx, func(p *bus.Parsed) { p.Summary = "bob commented\non\r\nFEDORA-2024-abc\r" },
			"[bodhi] bob commented on FEDORA-2024-abc https://bodhi.fedoraproject.org/updates/FEDORA-2024-abc"},
		{"IRC formatting codes are neutralised", irc, func(p *bus.Parsed) { p.Summary = "\x02bold\x02 \x0304red" },
			"[bodhi] bold 04red https://bodhi.fedoraproject.org/updates/FEDORA-2024-abc"},
		{"hostile url stays on the line", irc, func(p *bus.Parsed) { p.URL = "https://x.example/\r\nPRIVMSG #fedora :spam" },
			"[bodhi] bob commented on FEDORA-2024-abc https://x.example/ PRIVMSG #fedora :spam"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := comment()
			tt.mod(p)
			n := notification.Render(p, "alice", tt.dest, []int64{7}, site, now)
			if n.Line != tt.want {
				t.Errorf("Line = %q\n       want %q", n.Line, tt.want)
			}
			if n.Email != nil {
				t.Errorf("Email = %+v, want none for %s", n.Email, tt.dest.Protocol)
			}
			if n.Protocol != tt.dest.Protocol || n.Address != tt.dest.Address || n.RuleID != 7 {
				t.Errorf("Protocol, Address, RuleID = %q, %q, %d", n.Protocol, n.Address, n.RuleID)
			}
		})
	}
}

// TestRenderEmailHeaderInjection writes the rendered headers as an email
// would and parses them back: a hostile summary, app or message id must not
// add a header.
func TestRenderEmailHeaderInjection(t *testing.T) {
	t.Parallel()

	p := comment()
	p.Summary = "Hi\r\nBcc: eve@example.org"
	p.App = "bodhi\nX-Evil: 1"
	p.ID = "id\r\n\r\nbody injected"
	p.Text = "Hello\r\n.\r\nMAIL FROM:<eve@example.org>"
	n := notification.Render(p, "alice", email, []int64{12}, site, now)

	var msg strings.Builder
	msg.WriteString("Subject: " + n.Email.Subject + "\r\n")
	for _, k := range slices.Sorted(maps.Keys(n.Email.Headers)) {
		msg.WriteString(k + ": " + n.Email.Headers[k] + "\r\n")
	}
	msg.WriteString("\r\n" + n.Email.Body)

	m, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(msg.String())))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Subject"); got != "[bodhi X-Evil: 1] Hi Bcc: eve@example.org" {
		t.Errorf("Subject = %q", got)
	}
	if _, ok := m.Header["Bcc"]; ok {
		t.Error("the summary injected a Bcc header")
	}
	if _, ok := m.Header["X-Evil"]; ok {
		t.Error("the app injected a header")
	}
	if got := m.Header.Get("X-Fedora-Messaging-Id"); got != "id  body injected" {
		t.Errorf("X-Fedora-Messaging-ID = %q", got)
	}
	if len(m.Header) != len(n.Email.Headers)+1 {
		t.Errorf("parsed %d headers, rendered %d and Subject", len(m.Header), len(n.Email.Headers))
	}
	for k, v := range n.Email.Headers {
		if strings.ContainsAny(v, "\r\n") {
			t.Errorf("header %s has a line break: %q", k, v)
		}
	}
	if strings.Contains(n.Email.Body, "\r") {
		t.Errorf("body keeps a CR: %q", n.Email.Body)
	}
}

func TestRenderWithoutRuleIDs(t *testing.T) {
	t.Parallel()

	n := notification.Render(comment(), "alice", email, nil, site, now)
	if n.RuleID != 0 || len(n.RuleIDs) != 0 {
		t.Errorf("RuleID, RuleIDs = %d, %v", n.RuleID, n.RuleIDs)
	}
	if _, ok := n.Email.Headers["X-Fedora-Messaging-Rule"]; ok {
		t.Error("a Rule header without a rule")
	}
	if got := n.Email.Headers["List-Unsubscribe"]; got != "<https://notifications.example.org/rules>" {
		t.Errorf("List-Unsubscribe = %q", got)
	}
}

func TestMessageIDDomain(t *testing.T) {
	t.Parallel()

	tests := []struct {
		publicURL string
		want      string
	}{
		{"https://notifications.example.org", "@notifications.example.org>"},
		{"http://localhost:8080/fmn", "@localhost>"},
		{"http://127.0.0.1:8080", "@127.0.0.1>"},
		{"http://[::1]:8080", "@[::1]>"},
		{"", "@localhost>"},
		{"not a url", "@localhost>"},
	}
	for _, tt := range tests {
		t.Run(tt.publicURL, func(t *testing.T) {
			t.Parallel()
			n := notification.Render(comment(), "alice", email, []int64{1}, notification.Site{Name: "fmn", PublicURL: tt.publicURL}, now)
			if got := n.Email.Headers["Message-ID"]; !strings.HasSuffix(got, tt.want) || !strings.HasPrefix(got, "<"+n.ID) {
				t.Errorf("Message-ID = %q, want <%s%s", got, n.ID, tt.want)
			}
		})
	}
}

func TestID(t *testing.T) {
	t.Parallel()

	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	// Pinned: the id is the Nats-Msg-Id on NOTIFY, so a change would let a
	// redelivery across an upgrade publish duplicates.
	if got := notification.ID(msgID, "email", "alice@example.org"); got != "99af8f7c1398a719cf8a3561fa207a3b" {
		t.Errorf("ID = %q", got)
	}
	if got := notification.ID(msgID, "irc", "alice"); got != "6e6ee507da5b48ab92d43b7d0cfb95f6" {
		t.Errorf("ID = %q", got)
	}
	// Longer than the stack buffer the hash input is built in.
	long := strings.Repeat("a", 300) + "@example.org"
	if got := notification.ID("2019-xxxxxxxxxx", "email", long); got != "ae32482b7ffa9c07f9060500702fb1e0" {
		t.Errorf("ID of a long address = %q", got)
	}
	ids := map[string]bool{}
	for _, in := range [][3]string{
		{msgID, "email", "alice@example.org"},
		{msgID, "email", "bob@example.org"},
		{msgID, "irc", "alice@example.org"},
		{"other", "email", "alice@example.org"},
		{"ab", "c", "d"},
		{"a", "bc", "d"},
		{"a", "b", "cd"},
		{"", "", ""},
	} {
		id := notification.ID(in[0], in[1], in[2])
		if !hex32.MatchString(id) {
			t.Errorf("ID%q = %q, want 32 hex characters", in, id)
		}
		if ids[id] {
			t.Errorf("ID%q = %q collides", in, id)
		}
		ids[id] = true
	}
}

func TestSiteRuleURL(t *testing.T) {
	t.Parallel()

	for _, u := range []string{"https://n.example.org", "https://n.example.org/", "https://n.example.org//"} {
		if got := (notification.Site{PublicURL: u}).RuleURL(12); got != "https://n.example.org/rules/12" {
			t.Errorf("RuleURL with %q = %q", u, got)
		}
	}
}

func TestRenderClipsHugeFields(t *testing.T) {
	p := &bus.Parsed{ID: "id-1", Topic: "org.example.prod.app.x", Summary: strings.Repeat("s", 10_000),
		Text: strings.Repeat("é<&>", 200_000), URL: "https://example.org/" + strings.Repeat("u", 5000)}
	n := notification.Render(p, "alice", rules.Destination{Protocol: "email", Address: "alice@example.org"}, []int64{1},
		notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}, time.Unix(0, 0))
	if len(n.Text) > notification.MaxText+64 || len(n.Email.Body) > notification.MaxText+notification.MaxURL+512 || len(n.Summary) > notification.MaxSummary+8 {
		t.Fatalf("not clipped: text %d, body %d, summary %d", len(n.Text), len(n.Email.Body), len(n.Summary))
	}
	if !utf8.ValidString(n.Text) || !strings.HasSuffix(n.Text, "[… message truncated]") {
		t.Errorf("clipped text is not valid UTF-8 or lacks the note: …%q", n.Text[len(n.Text)-40:])
	}
}
