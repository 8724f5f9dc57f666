package email_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

const (
	relayUser = "notifier"
	relayPass = "c0rrect-Horse-battery"
	mailFrom  = "Fedora Notifications <notifications@fmn.example.org>"
)

// sample is a notification as the renderer makes it.
func sample(id, to string) *notification.Notification {
	return &notification.Notification{
		ID: id, MessageID: "msg-" + id, Topic: "org.fedoraproject.prod.bodhi.update.comment",
		Protocol: "email", Address: to, User: "alice", RuleID: 12, RuleIDs: []int64{12},
		App: "bodhi", Severity: 20, SentAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Summary: "Zoë commented on FEDORA-2024-1",
		Email: &notification.Email{
			Subject: "[bodhi] Zoë commented on FEDORA-2024-1 ✓ — “works for me”, a subject long enough to need folding",
			Body: "Zoë commented on an update: “works for me” — and this line is long enough that quoted-printable has to break it softly.\n" +
				"=== not an escape ===\n" +
				"https://bodhi.fedoraproject.org/updates/FEDORA-2024-1\n\n-- \nSent by fmn: https://fmn.example.org/rules/12",
			Headers: map[string]string{
				"Date":                        "Mon, 06 May 2024 07:08:09 +0000",
				"Message-ID":                  "<" + id + "@fmn.example.org>",
				"Auto-Submitted":              "auto-generated",
				"Precedence":                  "bulk",
				"List-Unsubscribe":            "<https://fmn.example.org/rules/12>",
				"X-Fedora-Messaging-Topic":    "org.fedoraproject.prod.bodhi.update.comment",
				"X-Fedora-Messaging-ID":       "msg-" + id,
				"X-Fedora-Messaging-App":      "bodhi",
				"X-Fedora-Messaging-Severity": "info",
				"X-Fedora-Messaging-Agent":    "Zoë",
			},
		},
	}
}

// config points at addr with the given URL user part ("" for none) and
// extra parameters, and trusts the test servers' certificate.
func config(t *testing.T, addr, scheme, userinfo, params string) email.Config {
	t.Helper()
	u := scheme + "://" + userinfo + addr
	if params != "" {
		u += "?" + params
	}
	cfg, err := email.NewConfig(u, mailFrom)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = fmntest.SMTPCertPool()
	cfg.LocalName = "fmn.test"
	return cfg
}

func newSender(t *testing.T, cfg email.Config, logger *slog.Logger) *email.Sender {
	t.Helper()
	s, err := email.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// parsed is a received message, decoded.
type parsed struct {
	header  mail.Header
	subject string
	body    string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	return parsed{header: m.Header, subject: subject, body: string(body)}
}

// crlf is text with the line ends SMTP uses.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestDeliveryThroughNATS(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
	s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
	out := senderstest.Start(t, n, s, senderstest.FastOptions(5), nil)

	const count = 5
	for i := range count {
		senderstest.Publish(t, n, email.Channel, sample(fmt.Sprint("n", i), fmt.Sprintf("user%d@example.org", i)))
	}
	fmntest.Eventually(t, 10*time.Second, "all mails at the relay", func() bool { return len(r.Mails()) == count })
	senderstest.Settled(t, n, email.Channel)

	mails := r.Mails()
	want := sample("n0", "user0@example.org")
	m := mails[0]
	if m.From != "notifications@fmn.example.org" || !slices.Equal(m.To, []string{"user0@example.org"}) {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	if !m.TLS || m.Mech != sasl.Plain {
		t.Errorf("sent with tls=%v auth=%q, want STARTTLS and PLAIN", m.TLS, m.Mech)
	}
	p := parse(t, m.Data)

	t.Run("Subject", func(t *testing.T) {
		if p.subject != want.Email.Subject {
			t.Errorf("subject\n got %q\nwant %q", p.subject, want.Email.Subject)
		}
		if raw := p.header.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
			t.Errorf("non-ASCII subject not RFC 2047 encoded: %q", raw)
		}
	})
	t.Run("Body", func(t *testing.T) {
		if p.body != crlf(want.Email.Body)+"\r\n" {
			t.Errorf("body\n got %q\nwant %q", p.body, crlf(want.Email.Body))
		}
		if !strings.HasSuffix(p.body, "\r\n-- \r\nSent by fmn: https://fmn.example.org/rules/12\r\n") {
			t.Errorf("footer lost: %q", p.body)
		}
	})
	t.Run("Addresses", func(t *testing.T) {
		from, err := p.header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Name != "Fedora Notifications" || from[0].Address != "notifications@fmn.example.org" {
			t.Errorf("From %v (%v)", from, err)
		}
		to, err := p.header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "user0@example.org" {
			t.Errorf("To %v (%v)", to, err)
		}
	})
	t.Run("Headers", func(t *testing.T) {
		dec := new(mime.WordDecoder)
		for k, v := range want.Email.Headers {
			got, err := dec.DecodeHeader(p.header.Get(k))
			if err != nil || got != v {
				t.Errorf("header %s = %q (%v), want %q", k, got, err, v)
			}
		}
		for k, v := range map[string]string{
			"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8",
			"Content-Transfer-Encoding": "quoted-printable",
		} {
			if got := p.header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
	})
	t.Run("WireFormat", func(t *testing.T) {
		for i, line := range strings.Split(string(m.Data), "\r\n") {
			if len(line) > 78 {
				t.Errorf("line %d is %d long: %q", i, len(line), line)
			}
			for _, c := range []byte(line) {
				if c >= 0x80 || c == '\n' || c == '\r' {
					t.Fatalf("line %d is not 7-bit clean: %q", i, line)
				}
			}
		}
	})
	t.Run("OneConnectionForAll", func(t *testing.T) {
		if got := r.Connections(); got != 1 {
			t.Errorf("%d connections for %d messages, want 1", got, count)
		}
		if ok, bad := r.Auths(); len(ok) != 1 || bad != 0 {
			t.Errorf("logins %v, failed %d; want one", ok, bad)
		}
		seen := map[string]bool{}
		for _, m := range mails {
			id := parse(t, m.Data).header.Get("Message-ID")
			if seen[id] {
				t.Errorf("%s received twice", id)
			}
			seen[id] = true
		}
		if out.Count(wire.Sent) != count || len(out.All()) != count {
			t.Errorf("outcomes %+v", out.All())
		}
	})
}

func TestAuthMechanisms(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		offered []string
		want    string
	}{
		{"PlainOnly", []string{sasl.Plain}, sasl.Plain},
		{"LoginOnly", []string{sasl.Login}, sasl.Login},
		{"BothPrefersPlain", []string{sasl.Login, sasl.Plain}, sasl.Plain},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{Mechs: c.offered})
			s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
			if err := s.Send(fmntest.Context(t), sample("a", "alice@example.org")); err != nil {
				t.Fatal(err)
			}
			if ok, _ := r.Auths(); !slices.Equal(ok, []string{c.want}) {
				t.Errorf("logged in with %v, want %s", ok, c.want)
			}
			if mails := r.Mails(); len(mails) != 1 || mails[0].Mech != c.want {
				t.Errorf("mails %+v", mails)
			}
		})
	}

	t.Run("NoCommonMechanism", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{Mechs: []string{"CRAM-MD5"}})
		s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
		err := s.Send(fmntest.Context(t), sample("a", "alice@example.org"))
		if err == nil || !strings.Contains(err.Error(), "offers AUTH CRAM-MD5") {
			t.Errorf("Send() = %v", err)
		}
	})
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	const wrong = "Wr0ng-Pa55word-4711"
	secrets := []string{
		wrong,
		base64.StdEncoding.EncodeToString([]byte(wrong)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + relayUser + "\x00" + wrong)),
	}
	noSecrets := func(t *testing.T, where, text string) {
		t.Helper()
		for _, s := range secrets {
			senderstest.NoSecret(t, s, where, text)
		}
	}

	for _, mech := range []string{sasl.Plain, sasl.Login} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			n := fmntest.StartNATS(t)
			r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{Mechs: []string{mech}})
			logger, logs := senderstest.Logger()
			cfg := config(t, r.Addr(), "smtp", relayUser+":"+wrong+"@", "")
			s := newSender(t, cfg, logger)

			err := s.Send(fmntest.Context(t), sample("direct", "alice@example.org"))
			if err == nil {
				t.Fatal("Send with a wrong password succeeded")
			}
			if senders.IsPermanent(err) {
				t.Errorf("a login failure is the relay's, not the message's: want transient, got %v", err)
			}
			if !strings.Contains(err.Error(), "535 5.7.8") || !strings.Contains(err.Error(), "AUTH "+mech) {
				t.Errorf("error does not say what failed: %v", err)
			}
			noSecrets(t, "Send error", err.Error())
			noSecrets(t, "Send error %+v", fmt.Sprintf("%+v %#v", err, err))

			out := senderstest.Start(t, n, s, senderstest.FastOptions(3), logger)
			senderstest.Publish(t, n, email.Channel, sample("queued", "alice@example.org"))
			dl := senderstest.WaitDeadLetters(t, n, email.Channel, 1)[0]
			senderstest.Settled(t, n, email.Channel)

			if mails := r.Mails(); len(mails) != 0 {
				t.Errorf("%d mails accepted with a wrong password", len(mails))
			}
			reason := dl.Header.Get(wire.HeaderReason)
			if !strings.HasPrefix(reason, "gave up after 3 attempts: AUTH "+mech) {
				t.Errorf("dead letter reason %q", reason)
			}
			noSecrets(t, "dead letter reason", reason)
			for _, o := range out.All() {
				noSecrets(t, "outcome reason", o.Reason)
			}
			noSecrets(t, "log", logs.String())
			noSecrets(t, "config", fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg))
			if !strings.Contains(logs.String(), relayUser+"/<secret>") {
				t.Errorf("log does not show the scrubbed reply; log:\n%s", logs)
			}
		})
	}
}

func TestRelayDownThenUp(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	// Take a free port and close it: connections are refused until the
	// relay starts on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newSender(t, config(t, addr, "smtp", relayUser+":"+relayPass+"@", ""), nil)
	out := senderstest.Start(t, n, s, senderstest.FastOptions(100), nil)

	const count = 3
	for i := range count {
		senderstest.Publish(t, n, email.Channel, sample(fmt.Sprint("n", i), "alice@example.org"))
	}
	// Three failures in a row (whichever notifications they were: a
	// retry may come before the next one) open the circuit, which then
	// holds the rest until the relay is back.
	fmntest.Eventually(t, 10*time.Second, "three failed attempts", func() bool {
		return out.Count(wire.Retry) >= count
	})

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %s taken in the meantime: %v", addr, err)
	}
	r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{Listener: ln})
	fmntest.Eventually(t, 10*time.Second, "all mails at the relay", func() bool { return len(r.Mails()) >= count })
	senderstest.Settled(t, n, email.Channel)

	got := map[string]int{}
	for _, m := range r.Mails() {
		got[parse(t, m.Data).header.Get("Message-ID")]++
	}
	for i := range count {
		if id := fmt.Sprintf("<n%d@fmn.example.org>", i); got[id] != 1 {
			t.Errorf("%s received %d times, want once", id, got[id])
		}
	}
	if len(got) != count {
		t.Errorf("received %v", got)
	}
	if dl := senderstest.DeadLetters(t, n, email.Channel); len(dl) != 0 {
		t.Errorf("%d dead letters", len(dl))
	}
	for _, o := range out.All() {
		if o.Result == wire.Retry && !strings.Contains(o.Reason, "connection refused") {
			t.Errorf("retry reason %q does not say the relay refused the connection", o.Reason)
		}
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()

	t.Run("550IsDeadLettered", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
		r.RejectRcpt("nobody@example.org", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox nobody@example.org does not exist"})
		s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
		out := senderstest.Start(t, n, s, senderstest.FastOptions(5), nil)
		senderstest.Publish(t, n, email.Channel, sample("bad", "nobody@example.org"))
		senderstest.Publish(t, n, email.Channel, sample("good", "alice@example.org"))

		dl := senderstest.WaitDeadLetters(t, n, email.Channel, 1)[0]
		fmntest.Eventually(t, 10*time.Second, "good one delivered", func() bool { return len(r.Mails()) == 1 })
		senderstest.Settled(t, n, email.Channel)
		want := "permanent failure: RCPT TO:<nobody@example.org>: refused with 550 5.1.1 Mailbox nobody@example.org does not exist"
		if got := dl.Header.Get(wire.HeaderReason); got != want {
			t.Errorf("reason\n got %q\nwant %q", got, want)
		}
		if dl.Header.Get(wire.HeaderDeliveries) != "1" || dl.Header.Get(wire.HeaderSourceMsgID) != "bad" {
			t.Errorf("dead letter headers %v", dl.Header)
		}
		if !strings.Contains(string(dl.Data), `"address":"nobody@example.org"`) {
			t.Errorf("dead letter is not the notification: %s", dl.Data)
		}
		if got := r.Mails()[0].To; !slices.Equal(got, []string{"alice@example.org"}) {
			t.Errorf("delivered to %v", got)
		}
		// The refusal was answered with RSET, not a new connection.
		if got := r.Connections(); got != 1 {
			t.Errorf("%d connections, want 1", got)
		}
		if out.Count(wire.Dead) != 1 || out.Count(wire.Sent) != 1 {
			t.Errorf("outcomes %+v", out.All())
		}
	})

	t.Run("4xxIsRetried", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
		r.RejectRcpt("alice@example.org", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"})
		s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
		out := senderstest.Start(t, n, s, senderstest.FastOptions(100), nil)
		senderstest.Publish(t, n, email.Channel, sample("later", "alice@example.org"))
		fmntest.Eventually(t, 10*time.Second, "two retries", func() bool { return out.Count(wire.Retry) >= 2 })
		r.RejectRcpt("alice@example.org", nil)
		fmntest.Eventually(t, 10*time.Second, "delivered", func() bool { return len(r.Mails()) == 1 })
		senderstest.Settled(t, n, email.Channel)
		if got := out.All()[0].Reason; got != "RCPT TO:<alice@example.org>: refused with 451 4.3.0 Try again later" {
			t.Errorf("retry reason %q", got)
		}
		if len(senderstest.DeadLetters(t, n, email.Channel)) != 0 {
			t.Error("a 4xx was dead-lettered")
		}
	})

	t.Run("BadNotificationsAreDeadLettered", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
		s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
		senderstest.Start(t, n, s, senderstest.FastOptions(5), nil)

		senderstest.PublishRaw(t, n, email.Channel, "", []byte(`{"id": "x", "email": `))
		noEmail := sample("no-email", "alice@example.org")
		noEmail.Email = nil
		senderstest.Publish(t, n, email.Channel, noEmail)
		senderstest.Publish(t, n, email.Channel, sample("bad-address", "alice at example.org"))
		senderstest.Publish(t, n, email.Channel, sample("good", "alice@example.org"))

		dls := senderstest.WaitDeadLetters(t, n, email.Channel, 3)
		fmntest.Eventually(t, 10*time.Second, "good one delivered", func() bool { return len(r.Mails()) == 1 })
		senderstest.Settled(t, n, email.Channel)
		wants := []string{
			"undecodable notification: unexpected end of JSON input",
			"permanent failure: notification no-email has no rendered email",
			`permanent failure: recipient "alice at example.org" is not an email address`,
		}
		for i, want := range wants {
			if got := dls[i].Header.Get(wire.HeaderReason); got != want {
				t.Errorf("dead letter %d: reason %q, want %q", i, got, want)
			}
		}
		if got := r.Mails()[0].To; !slices.Equal(got, []string{"alice@example.org"}) {
			t.Errorf("delivered to %v", got)
		}
	})
}

func TestTransportSecurity(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)

	t.Run("CredentialsNeverInClear", func(t *testing.T) {
		t.Parallel()
		// A relay without STARTTLS that would take AUTH in clear.
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{NoTLS: true, InsecureAuth: true})
		s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
		err := s.Send(ctx, sample("a", "alice@example.org"))
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send() = %v, want a STARTTLS failure", err)
		}
		if ok, bad := r.Auths(); len(ok)+bad != 0 {
			t.Errorf("credentials sent without TLS: %v, %d", ok, bad)
		}
		for _, params := range []string{"starttls=off", "starttls=opportunistic"} {
			_, err := email.NewConfig("smtp://u:p@127.0.0.1:25?"+params, "")
			if err == nil || !strings.Contains(err.Error(), "FMN_SMTP_URL") || !strings.Contains(err.Error(), "clear text") {
				t.Errorf("%s with credentials: %v", params, err)
			}
		}
	})

	t.Run("InsecureAuthOnRequest", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{NoTLS: true, InsecureAuth: true})
		s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", "starttls=off&insecure_auth=true"), nil)
		if err := s.Send(ctx, sample("a", "alice@example.org")); err != nil {
			t.Fatal(err)
		}
		if m := r.Mails(); len(m) != 1 || m[0].TLS || m[0].Mech != sasl.Plain {
			t.Errorf("mails %+v", m)
		}
	})

	t.Run("OpportunisticWithoutTLS", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, "", "", fmntest.SMTPOptions{NoTLS: true})
		s := newSender(t, config(t, r.Addr(), "smtp", "", ""), nil)
		if err := s.Send(ctx, sample("a", "alice@example.org")); err != nil {
			t.Fatal(err)
		}
		if m := r.Mails(); len(m) != 1 || m[0].TLS {
			t.Errorf("mails %+v", m)
		}
	})

	t.Run("OpportunisticUpgrades", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, "", "", fmntest.SMTPOptions{})
		s := newSender(t, config(t, r.Addr(), "smtp", "", ""), nil)
		for _, id := range []string{"a", "b"} {
			if err := s.Send(ctx, sample(id, "alice@example.org")); err != nil {
				t.Fatal(err)
			}
		}
		if m := r.Mails(); len(m) != 2 || !m[0].TLS || !m[1].TLS {
			t.Errorf("mails %+v", m)
		}
		// One connection to see STARTTLS offered, one for the session.
		if got := r.Connections(); got != 2 {
			t.Errorf("%d connections, want 2", got)
		}
	})

	t.Run("ImplicitTLS", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{Implicit: true})
		s := newSender(t, config(t, r.Addr(), "smtps", relayUser+":"+relayPass+"@", ""), nil)
		if err := s.Send(ctx, sample("a", "alice@example.org")); err != nil {
			t.Fatal(err)
		}
		if m := r.Mails(); len(m) != 1 || !m[0].TLS || m[0].Mech != sasl.Plain {
			t.Errorf("mails %+v", m)
		}
	})

	t.Run("UntrustedCertificate", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
		cfg := config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", "")
		cfg.RootCAs = nil
		s := newSender(t, cfg, nil)
		err := s.Send(ctx, sample("a", "alice@example.org"))
		if err == nil || senders.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Send() = %v, want a transient certificate error", err)
		}
		if ok, bad := r.Auths(); len(ok)+bad != 0 {
			t.Errorf("credentials sent to an unverified relay")
		}
	})
}

func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)

	for _, c := range []struct {
		name      string
		idleCheck time.Duration
		log       string
	}{
		// The relay's drop shows when MAIL FROM fails.
		{"ReconnectsAfterFailedMailFrom", time.Hour, "reused connection failed, reconnecting"},
		// The relay's drop shows in the NOOP before reuse.
		{"ReconnectsAfterFailedNoop", time.Nanosecond, "idle connection failed NOOP, reconnecting"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
			cfg := config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", "")
			cfg.IdleCheck = c.idleCheck
			logger, logs := senderstest.Logger()
			s := newSender(t, cfg, logger)
			for _, id := range []string{"a", "b"} {
				if err := s.Send(ctx, sample(id, "alice@example.org")); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.Connections(); got != 1 {
				t.Errorf("%d connections for two messages, want 1", got)
			}
			r.DropConnections()
			if err := s.Send(ctx, sample("c", "alice@example.org")); err != nil {
				t.Fatalf("Send after the relay dropped the connection: %v", err)
			}
			if got := len(r.Mails()); got != 3 {
				t.Errorf("%d mails, want 3", got)
			}
			if got := r.Connections(); got != 2 {
				t.Errorf("%d connections, want 2", got)
			}
			if !strings.Contains(logs.String(), c.log) {
				t.Errorf("log lacks %q:\n%s", c.log, logs)
			}
		})
	}

	t.Run("Closed", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, "", "", fmntest.SMTPOptions{})
		s := newSender(t, config(t, r.Addr(), "smtp", "", ""), nil)
		if err := s.Send(ctx, sample("a", "alice@example.org")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, sample("b", "alice@example.org")); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("Send after Close: %v", err)
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		r := fmntest.StartSMTPWith(t, "", "", fmntest.SMTPOptions{})
		s := newSender(t, config(t, r.Addr(), "smtp", "", ""), nil)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Send(cctx, sample("a", "alice@example.org")); err == nil || senders.IsPermanent(err) {
			t.Errorf("Send with a cancelled context: %v", err)
		}
		if err := s.Send(ctx, sample("b", "alice@example.org")); err != nil {
			t.Errorf("Send after a cancelled one: %v", err)
		}
	})
}
