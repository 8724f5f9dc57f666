package email

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
)

func TestCompose(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	from := mail.Address{Name: "Benachrichtigungsdienst für Ünïcødé-Fans", Address: "fmn@example.org"}
	build := func(t *testing.T, e *notification.Email) (*mail.Message, string) {
		t.Helper()
		n := &notification.Notification{ID: "n-1", Address: "alice@example.org", Email: e}
		msg, dropped, err := compose(from, "alice@example.org", n, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(dropped) > 0 {
			t.Logf("dropped %v", dropped)
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("%v\n%s", err, msg)
		}
		for i, line := range strings.Split(string(msg), "\r\n") {
			if strings.TrimSpace(line) == "" && line != "" {
				t.Errorf("line %d is only white space", i)
			}
		}
		return m, string(msg)
	}
	dec := new(mime.WordDecoder)

	t.Run("HeaderInjection", func(t *testing.T) {
		t.Parallel()
		m, raw := build(t, &notification.Email{Subject: "hi\r\nBcc: victim@example.org", Headers: map[string]string{
			"X-Evil": "a\nBcc: victim@example.org",
		}})
		if strings.Contains(raw, "\r\nBcc:") || m.Header.Get("Bcc") != "" {
			t.Errorf("a line break in a value made a header:\n%s", raw)
		}
		if got := m.Header.Get("Subject"); got != "hi Bcc: victim@example.org" {
			t.Errorf("subject %q", got)
		}
	})

	t.Run("ReservedAndInvalidNames", func(t *testing.T) {
		t.Parallel()
		m, _ := build(t, &notification.Email{Subject: "s", Headers: map[string]string{
			"to": "mallory@example.org", "Content-Type": "text/html", "Bad Name": "x", "Bad:Name": "y",
		}})
		if got := m.Header["To"]; len(got) != 1 || got[0] != "<alice@example.org>" {
			t.Errorf("To %v", got)
		}
		if got := m.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", got)
		}
		n := &notification.Notification{ID: "n-1", Email: &notification.Email{Headers: map[string]string{"Bad Name": "x", "Ok": "y"}}}
		if _, dropped, _ := composeSimple(n); len(dropped) != 1 || dropped[0] != "Bad Name" {
			t.Errorf("dropped %v", dropped)
		}
	})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		m, _ := build(t, &notification.Email{Subject: "s"})
		if got := m.Header.Get("Message-ID"); got != "<n-1@example.org>" {
			t.Errorf("Message-ID %q", got)
		}
		if got, err := m.Header.Date(); err != nil || !got.Equal(now) {
			t.Errorf("Date %v (%v)", got, err)
		}
	})

	t.Run("LongAndNonASCII", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("word ", 40) + "end"
		subject := strings.Repeat("Grüße aus Köln ✓ ", 8)
		m, raw := build(t, &notification.Email{Subject: subject, Headers: map[string]string{
			"X-Long": long, "X-Fedora-Messaging-Agent": "Zoë",
		}})
		for i, line := range strings.Split(raw, "\r\n") {
			if len(line) > maxLine {
				t.Errorf("line %d is %d long: %q", i, len(line), line)
			}
		}
		for name, want := range map[string]string{"Subject": subject, "X-Long": long, "X-Fedora-Messaging-Agent": "Zoë"} {
			got, err := dec.DecodeHeader(m.Header.Get(name))
			if err != nil || got != want {
				t.Errorf("%s\n got %q (%v)\nwant %q", name, got, err, want)
			}
		}
		addrs, err := m.Header.AddressList("From")
		if err != nil || len(addrs) != 1 || addrs[0].Name != from.Name || addrs[0].Address != from.Address {
			t.Errorf("From %v (%v)", addrs, err)
		}
	})

	t.Run("LooksEncodedButIsNot", func(t *testing.T) {
		t.Parallel()
		const s = "=?utf-8?q?not_encoded?="
		m, _ := build(t, &notification.Email{Subject: s})
		if got, _ := dec.DecodeHeader(m.Header.Get("Subject")); got != s {
			t.Errorf("subject %q", got)
		}
	})

	t.Run("BodyEndsWithNewline", func(t *testing.T) {
		t.Parallel()
		m, raw := build(t, &notification.Email{Subject: "s", Body: "line\n"})
		body, _ := io.ReadAll(m.Body)
		if string(body) != "line\r\n" {
			t.Errorf("body %q\n%s", body, raw)
		}
	})

	t.Run("MetadataHeaders", func(t *testing.T) {
		t.Parallel()
		n := &notification.Notification{ID: "n-1", Email: &notification.Email{Subject: "s"}}
		msg, _, err := composeSimple(n)
		if err != nil || strings.Contains(string(msg), "X-Fedora-Messaging-Num-Packages") {
			t.Errorf("a notification without Meta (from before it) got metadata headers (%v):\n%s", err, msg)
		}
		n.Meta = &notification.Meta{Agent: "Zoë", Packages: []string{"a", "b\r\nBcc: x@example.org"}, NumPackages: 12}
		msg, _, err = composeSimple(n)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		h := parsed.Header
		if got, _ := dec.DecodeHeader(h.Get("X-Fedora-Messaging-Agent")); got != "Zoë" {
			t.Errorf("agent %q", got)
		}
		if got := h["X-Fedora-Messaging-Package"]; len(got) != 2 || got[0] != "a" || got[1] != "b Bcc: x@example.org" || h.Get("Bcc") != "" {
			t.Errorf("packages %q, Bcc %q", got, h.Get("Bcc"))
		}
		if got := h.Get("X-Fedora-Messaging-Num-Packages"); got != "12" {
			t.Errorf("Num-Packages %q", got)
		}
	})

	t.Run("InvalidUTF8", func(t *testing.T) {
		t.Parallel()
		n := &notification.Notification{ID: "x", Email: &notification.Email{Subject: "\xff"}}
		if _, _, err := composeSimple(n); err == nil {
			t.Error("invalid UTF-8 accepted")
		}
	})
}

// composeSimple composes with fixed arguments for the cases that only look at
// the result's metadata.
func composeSimple(n *notification.Notification) ([]byte, []string, error) {
	return compose(mail.Address{Address: "fmn@example.org"}, "alice@example.org", n, time.Now())
}

func TestClassify(t *testing.T) {
	t.Parallel()
	reply := func(code int) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "text"}
	}
	cases := []struct {
		err        error
		perMessage bool
		permanent  bool
		text       string
	}{
		{reply(550), true, true, "RCPT: refused with 550 5.0.0 text"},
		{reply(554), true, true, "RCPT: refused with 554 5.0.0 text"},
		{reply(451), true, false, "RCPT: refused with 451 4.0.0 text"},
		{reply(535), false, false, "RCPT: refused with 535 5.0.0 text"},
		{&smtp.SMTPError{Code: 550, Message: "multi\nline"}, true, true, "RCPT: refused with 550 multi line"},
		{errors.New("EOF"), true, false, "RCPT: EOF"},
	}
	for _, c := range cases {
		err := classify("RCPT", c.err, c.perMessage)
		if senders.IsPermanent(err) != c.permanent || err.Error() != c.text {
			t.Errorf("classify(%v, %v) = %q permanent=%v; want %q permanent=%v", c.err, c.perMessage, err, senders.IsPermanent(err), c.text, c.permanent)
		}
		var se *smtp.SMTPError
		if errors.As(c.err, &se) && !errors.As(err, &se) {
			t.Errorf("the SMTP reply is not reachable in %v", err)
		}
	}
}

func TestLoginClient(t *testing.T) {
	t.Parallel()
	for _, challenges := range [][]string{
		{"Username:", "Password:"},
		{"User Name\x00", "password"},
		{"", ""},
	} {
		c := &loginClient{user: "u", pass: "p"}
		if mech, ir, err := c.Start(); mech != "LOGIN" || ir != nil || err != nil {
			t.Fatalf("Start() = %q %q %v", mech, ir, err)
		}
		var got []string
		for _, ch := range challenges {
			resp, err := c.Next([]byte(ch))
			if err != nil {
				t.Fatalf("%q: %v", challenges, err)
			}
			got = append(got, string(resp))
		}
		if strings.Join(got, ",") != "u,p" {
			t.Errorf("%q: answered %v", challenges, got)
		}
		if _, err := c.Next([]byte("more?")); err == nil {
			t.Errorf("%q: a third challenge was answered", challenges)
		}
	}
}
