package email_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/senderstest"
)

const pw = "pa55-W0rd-9137"

func TestNewConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url, from string
		check     func(c email.Config) bool
		str       string
	}{
		{"", "", func(c email.Config) bool {
			return c.Host == "localhost" && c.Port == 25 && c.StartTLS == email.StartTLSOpportunistic && c.From.Address == "fmn@localhost"
		}, "smtp://localhost:25?starttls=opportunistic"},
		{"smtp://127.0.0.1:2525", "fmn@example.org", func(c email.Config) bool {
			return c.Port == 2525 && c.Username == "" && c.From.Address == "fmn@example.org"
		}, "smtp://127.0.0.1:2525?starttls=opportunistic"},
		{"smtp://notifier:" + pw + "@mail.example.org", "Fedora Notifications <notifications@fedoraproject.org>", func(c email.Config) bool {
			return c.Port == 25 && c.StartTLS == email.StartTLSRequired && c.Username == "notifier" &&
				string(c.Password) == pw && c.TLSServerName == "mail.example.org" && c.From.Name == "Fedora Notifications"
		}, "smtp://notifier:<secret>@mail.example.org:25?starttls=required"},
		{"smtps://notifier@example.org:" + pw + "@mail.example.org", "", func(c email.Config) bool {
			return c.ImplicitTLS && c.Port == 465 && c.Username == "notifier@example.org" && string(c.Password) == pw
		}, "smtps://notifier%40example.org:<secret>@mail.example.org:465"},
		{"smtp://u:" + pw + "@[::1]:587?starttls=off&insecure_auth=true&tls_server_name=relay&helo=fmn.example.org&timeout=5s&dial_timeout=2s", "", func(c email.Config) bool {
			return c.Host == "::1" && c.Port == 587 && c.StartTLS == email.StartTLSOff && c.InsecureAuth &&
				c.TLSServerName == "relay" && c.LocalName == "fmn.example.org" && c.CommandTimeout == 5*time.Second && c.DialTimeout == 2*time.Second
		}, "smtp://u:<secret>@[::1]:587?insecure_auth=true&starttls=off&tls_server_name=relay"},
	}
	for _, c := range cases {
		cfg, err := email.NewConfig(c.url, c.from)
		if err != nil {
			t.Errorf("NewConfig(%q): %v", c.url, err)
			continue
		}
		if !c.check(cfg) {
			t.Errorf("NewConfig(%q) = %#v", c.url, cfg)
		}
		if got := cfg.String(); got != c.str {
			t.Errorf("String()\n got %s\nwant %s", got, c.str)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ url, from, want string }{
		{"http://mail.example.org", "", "FMN_SMTP_URL: scheme must be smtp or smtps"},
		{"smtp://u:" + pw + "@mail.example.org:99999", "", "FMN_SMTP_URL: port must be 1 to 65535"},
		{"smtp://u:" + pw + "@mail.example.org:x", "", "FMN_SMTP_URL: not a URL"},
		{"smtp://u:" + pw + "@mail.example.org/path", "", "FMN_SMTP_URL: must be smtp://user:pass@host:port, without a path"},
		{"smtp://mail.example.org?starttls=maybe", "", "FMN_SMTP_URL: parameter starttls must be required, opportunistic or off"},
		{"smtp://mail.example.org?startls=off", "", `FMN_SMTP_URL: unknown parameter "startls"`},
		{"smtp://mail.example.org?timeout=soon", "", "FMN_SMTP_URL: parameter timeout must be a positive duration"},
		{"smtp://mail.example.org?ca_file=/nonexistent/ca.pem", "", "FMN_SMTP_URL: ca_file"},
		{"smtp://u:" + pw + "@mail.example.org?starttls=off", "", "FMN_SMTP_URL: with credentials, starttls=off could send the password in clear text"},
		{"smtp://:" + pw + "@mail.example.org", "", "FMN_SMTP_URL: a password needs a user name"},
		{"smtp://mail.example.org", "not an address", "FMN_MAIL_FROM: \"not an address\" is not an email address"},
	}
	for _, c := range cases {
		_, err := email.NewConfig(c.url, c.from)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewConfig(%q, %q) = %v, want %q", c.url, c.from, err, c.want)
			continue
		}
		senderstest.NoSecret(t, pw, "config error", err.Error())
	}

	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := email.NewConfig("smtp://mail.example.org?ca_file="+notPEM, ""); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("ca_file without certificates: %v", err)
	}
	if _, err := email.New(email.Config{Port: -1}, nil); err == nil || !strings.Contains(err.Error(), "FMN_SMTP_URL") {
		t.Errorf("New with a bad port: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	cfg, err := email.NewConfig("smtps://notifier:"+pw+"@mail.example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	text := slog.New(slog.NewTextHandler(&logs, nil))
	js := slog.New(slog.NewJSONHandler(&logs, nil))
	text.Info("config", "smtp", cfg, "password", cfg.Password)
	js.Info("config", "smtp", cfg, "password", cfg.Password)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for where, s := range map[string]string{
		"fmt":                        fmt.Sprintf("%v %+v %#v %s %q %x", cfg, cfg, cfg, cfg.Password, cfg.Password, cfg.Password),
		"fmt of the struct's fields": fmt.Sprintf("%v %+v %#v", struct{ P email.Secret }{cfg.Password}, struct{ P email.Secret }{cfg.Password}, struct{ P email.Secret }{cfg.Password}),
		"slog":                       logs.String(),
		"json":                       string(raw),
	} {
		senderstest.NoSecret(t, pw, where, s)
		if !strings.Contains(s, "secret") {
			t.Errorf("%s does not say secret: %s", where, s)
		}
	}
}
