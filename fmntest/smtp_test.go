package fmntest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// send delivers one message to rcpts over STARTTLS (or implicit TLS) with
// a, returning the first error.
func send(s *SMTPServer, implicit bool, a sasl.Client, rcpts ...string) error {
	cfg := &tls.Config{RootCAs: s.CertPool}
	var c *smtp.Client
	var err error
	if implicit {
		c, err = smtp.DialTLS(s.Addr(), cfg)
	} else {
		c, err = smtp.DialStartTLS(s.Addr(), cfg)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if a != nil {
		if err := c.Auth(a); err != nil {
			return err
		}
	}
	return c.SendMail("from@example.org", rcpts, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
}

func TestSMTPServer(t *testing.T) {
	t.Parallel()
	const user, pass = "bot", "s3cret-pass"

	t.Run("RecordsMail", func(t *testing.T) {
		t.Parallel()
		s := StartSMTP(t, user, pass)
		if err := send(s, false, sasl.NewLoginClient(user, pass), "a@example.org", "b@example.org"); err != nil {
			t.Fatal(err)
		}
		m := s.Mails()
		if len(m) != 1 || m[0].From != "from@example.org" || !slices.Equal(m[0].To, []string{"a@example.org", "b@example.org"}) ||
			m[0].User != user || m[0].Mech != sasl.Login || !m[0].TLS || !strings.Contains(string(m[0].Data), "hello") {
			t.Errorf("mails %+v", m)
		}
		if ok, bad := s.Auths(); !slices.Equal(ok, []string{sasl.Login}) || bad != 0 {
			t.Errorf("auths %v, %d", ok, bad)
		}
		if c, ss := s.Connections(), s.Sessions(); c != 1 || ss != 2 {
			t.Errorf("%d connections, %d sessions; want 1 and 2", c, ss)
		}
	})

	t.Run("WrongPasswordEchoed", func(t *testing.T) {
		t.Parallel()
		s := StartSMTP(t, user, pass)
		err := send(s, false, sasl.NewPlainClient("", user, "wr0ng"))
		if err == nil || !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), user+"/wr0ng") {
			t.Errorf("AUTH with a wrong password: %v", err)
		}
		if err := send(s, false, nil, "a@example.org"); err == nil || !strings.Contains(err.Error(), "530") {
			t.Errorf("MAIL without AUTH: %v", err)
		}
		if ok, bad := s.Auths(); len(ok) != 0 || bad != 1 {
			t.Errorf("auths %v, %d", ok, bad)
		}
	})

	t.Run("Rejects", func(t *testing.T) {
		t.Parallel()
		s := StartSMTP(t, user, pass, sasl.Plain)
		s.Reject = func(rcpt string) *smtp.SMTPError {
			if rcpt == "func@example.org" {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "by func"}
			}
			return nil
		}
		s.RejectRcpt("map@example.org", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "by map"})
		auth := sasl.NewPlainClient("", user, pass)
		for rcpt, want := range map[string]int{"func@example.org": 550, "map@example.org": 451} {
			var e *smtp.SMTPError
			if err := send(s, false, auth, rcpt); !errors.As(err, &e) || e.Code != want || !strings.HasPrefix(e.Message, "by ") {
				t.Errorf("RCPT %s: %v, want %d", rcpt, err, want)
			}
		}
		s.RejectRcpt("map@example.org", nil)
		if err := send(s, false, auth, "map@example.org"); err != nil {
			t.Fatal(err)
		}
		if err := send(s, false, sasl.NewLoginClient(user, pass)); err == nil {
			t.Error("LOGIN accepted although only PLAIN is offered")
		}
		if m := s.Mails(); len(m) != 1 || m[0].To[0] != "map@example.org" {
			t.Errorf("mails %+v", m)
		}
	})

	t.Run("StopStart", func(t *testing.T) {
		t.Parallel()
		s := StartSMTPWith(t, user, pass, SMTPOptions{Implicit: true})
		auth := sasl.NewPlainClient("", user, pass)
		if err := send(s, true, auth, "a@example.org"); err != nil {
			t.Fatal(err)
		}
		s.Stop()
		if err := send(s, true, auth, "a@example.org"); err == nil {
			t.Fatal("sent to a stopped server")
		}
		s.Start(t)
		if err := send(s, true, auth, "a@example.org"); err != nil {
			t.Fatal(err)
		}
		if m := s.Mails(); len(m) != 2 || !m[1].TLS || m[1].Mech != sasl.Plain {
			t.Errorf("mails %+v", m)
		}
	})

	t.Run("CAFile", func(t *testing.T) {
		t.Parallel()
		s := StartSMTP(t, user, pass)
		pem, err := os.ReadFile(s.CAFile(t))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatal("CAFile holds no certificate")
		}
		s.CertPool = pool
		if err := send(s, false, sasl.NewPlainClient("", user, pass), "a@example.org"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLoginServer covers AUTH LOGIN with and without an initial response.
func TestLoginServer(t *testing.T) {
	t.Parallel()
	var got []string
	check := func(user, pass string) error { got = append(got, user+"/"+pass); return nil }

	l := &loginServer{check: check}
	for i, step := range []struct{ resp, challenge string }{{"", "Username:"}, {"u", "Password:"}, {"p", ""}} {
		c, done, err := l.Next([]byte(step.resp))
		if string(c) != step.challenge || done != (i == 2) || err != nil {
			t.Fatalf("step %d: %q %v %v", i, c, done, err)
		}
	}
	l = &loginServer{check: check}
	if c, _, _ := l.Next([]byte("v")); string(c) != "Password:" {
		t.Fatalf("after an initial response: %q", c)
	}
	if _, done, err := l.Next([]byte("q")); !done || err != nil {
		t.Fatal(done, err)
	}
	if _, _, err := l.Next(nil); err == nil {
		t.Error("a response after the end was taken")
	}
	if !slices.Equal(got, []string{"u/p", "v/q"}) {
		t.Errorf("checked %v", got)
	}
}
