package redact_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/internal/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want, token string }{
		{"smtp://bot:hunter2@mail.example.org:587", "smtp://bot:<secret>@mail.example.org:587", ""},
		{"amqp://fmn:p%40ss:w0rd@broker.example:5671/vh", "amqp://fmn:<secret>@broker.example:5671/vh", ""},
		{"smtps://notifier%40example.org:pw@mail.example.org", "smtps://notifier%40example.org:<secret>@mail.example.org", ""},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", ""},
		{"nats://s3cr3ttoken@b:4222", "nats://s3cr3ttoken@b:4222", "nats://<secret>@b:4222"},
		{"nats://fmn:hunter2@a:4222", "nats://fmn:<secret>@a:4222", "nats://fmn:<secret>@a:4222"},
		{"::bad", redact.Unparsable, redact.Unparsable},
	} {
		if got := redact.URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		want := c.token
		if want == "" {
			want = c.want
		}
		if got := redact.TokenURL(c.in); got != want {
			t.Errorf("TokenURL(%q) = %q, want %q", c.in, got, want)
		}
	}
	u := &url.URL{Scheme: "irc", Host: "[::1]:6667", User: url.UserPassword("fmn", "pw")}
	if got := redact.Of(u); got != "irc://fmn:<secret>@[::1]:6667" {
		t.Errorf("Of = %q", got)
	}
	if u.User.String() != "fmn:pw" {
		t.Error("Of changed its argument")
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	raw := "amqp://fmn:p%40ss:w0rd@broker.example:5671/vh"
	err := redact.Error(errors.New(`dial "amqp://fmn:p%40ss:w0rd@broker.example:5671/vh": password p@ss:w0rd refused`), redact.URLSecrets(raw)...)
	if s := err.Error(); strings.Contains(s, "w0rd") || !strings.Contains(s, "fmn:<secret>@broker.example") {
		t.Errorf("Error = %q", s)
	}
	if errors.Unwrap(err) != nil {
		t.Error("the redacted error wraps the original")
	}
	// A connection string quoted by a driver, whose password nobody named.
	s := redact.Text(`failed to connect to "postgres://fmn:s3cret@db:5432/fmn": refused`)
	if strings.Contains(s, "s3cret") || !strings.Contains(s, "postgres://fmn:<secret>@db:5432/fmn") {
		t.Errorf("Text = %q", s)
	}
	// An unparsable URL: the whole user part is hidden.
	if got := redact.URLSecrets("amqp://us er:pa%ss@host"); len(got) != 1 || got[0] != "us er:pa%ss" {
		t.Errorf("URLSecrets = %q", got)
	}
	if got := redact.Text("plain text", "", "x y"); got != "plain text" {
		t.Errorf("Text = %q", got)
	}
}
