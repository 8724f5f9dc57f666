package config

import (
	"crypto/x509"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/nats-io/nkeys"
)

func TestNATSAuthSettings(t *testing.T) {
	t.Parallel()
	pub, seedFile := fmntest.NKeyUser(t)
	tf := fmntest.WriteTLSFiles(t, "fmn-api")
	cfg, err := load(t, nil, map[string]string{
		"FMN_NATS_URL":          "tls://nats-1.example.org:4222, tls://nats-2.example.org:4222,tls://nats-3.example.org:4222",
		"FMN_NATS_NKEY":         seedFile,
		"FMN_NATS_TLS_CA":       tf.CA,
		"FMN_NATS_TLS_CERT":     tf.ClientCert,
		"FMN_NATS_TLS_KEY":      tf.ClientKey,
		"FMN_NATS_INBOX_PREFIX": "_INBOX.api",
	})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.NATSAuth
	if a.NKeyFile != seedFile || a.TLSCA != tf.CA || a.TLSCert != tf.ClientCert || a.TLSKey != tf.ClientKey {
		t.Fatalf("settings not applied: %+v", a)
	}
	opts, err := a.NATSOptions()
	if err != nil || len(opts) != 3 || a.InboxPrefix != "_INBOX.api" {
		t.Fatalf("options: %d %v", len(opts), err)
	}
	seed, _ := os.ReadFile(seedFile)
	d := a.Describe()
	if !strings.Contains(d, pub) || !strings.Contains(d, "FMN_NATS_NKEY") || !strings.Contains(d, "FMN_NATS_TLS_CERT") ||
		strings.Contains(d, strings.TrimSpace(string(seed))) {
		t.Errorf("describe: %s", d)
	}
	if got := NATSURLs(cfg.NATSURL); len(got) != 3 || got[1] != "tls://nats-2.example.org:4222" {
		t.Errorf("urls: %q", got)
	}

	// The password, from a file, is a secret: never in -h, messages or
	// the description.
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cr3t-pa55\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = Defaults()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	st := Bind(fs, &cfg)
	env := map[string]string{"FMN_NATS_URL": "nats://127.0.0.1:4222", "FMN_NATS_USER": "fmn-api", "FMN_NATS_PASSWORD_FILE": pw}
	if err := st.Load(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.NATSAuth.User != "fmn-api" || cfg.NATSAuth.Password != "s3cr3t-pa55" {
		t.Fatalf("user and password: %q %q", cfg.NATSAuth.User, cfg.NATSAuth.Password)
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if f := fs.Lookup("nats-password"); f == nil || f.Value.String() != "" ||
		strings.Contains(help.String(), "s3cr3t") || strings.Contains(cfg.NATSAuth.Describe(), "s3cr3t") ||
		!strings.Contains(help.String(), "FMN_NATS_PASSWORD_FILE") {
		t.Errorf("the password shows: %q / %s", cfg.NATSAuth.Describe(), help.String())
	}
}

func TestBadNATSAuthSettingsNameTheSetting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	acc, _ := nkeys.CreateAccount()
	accSeed, _ := acc.Seed()
	_, userSeed := fmntest.NKeyUser(t)
	tf := fmntest.WriteTLSFiles(t, "fmn")
	expiredCert, expiredKey := tf.Sign(t, "expired", "fmn", x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Minute))
	garbage := "SUAGARBAGE-THIS-IS-SECRET"
	url := "nats://nats.example.org:4222"
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"missing creds", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_CREDS": filepath.Join(dir, "nope.creds")},
			[]string{"FMN_NATS_CREDS", "does not exist"}},
		{"garbage creds", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_CREDS": write("bad.creds", garbage)},
			[]string{"FMN_NATS_CREDS", "no user JWT"}},
		{"garbage nkey", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_NKEY": write("bad.nk", garbage)},
			[]string{"FMN_NATS_NKEY", "no nkey seed"}},
		{"account seed", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_NKEY": write("acc.nk", string(accSeed))},
			[]string{"FMN_NATS_NKEY", "not a user's"}},
		{"user without password", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_USER": "fmn"},
			[]string{"FMN_NATS_PASSWORD: must be set"}},
		{"password without user", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_PASSWORD": garbage},
			[]string{"FMN_NATS_USER: must be set"}},
		{"two ways", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_NKEY": userSeed, "FMN_NATS_USER": "fmn", "FMN_NATS_PASSWORD": garbage},
			[]string{"FMN_NATS_NKEY", "FMN_NATS_USER", "one way to authenticate"}},
		{"user in URL and setting", map[string]string{"FMN_NATS_URL": "nats://fmn:" + garbage + "@nats.example.org", "FMN_NATS_NKEY": userSeed},
			[]string{"FMN_NATS_URL (user in the URL)", "FMN_NATS_NKEY"}},
		{"certificate without key", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_TLS_CERT": tf.ClientCert},
			[]string{"FMN_NATS_TLS_KEY: must be set"}},
		{"key without certificate", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_TLS_KEY": tf.ClientKey},
			[]string{"FMN_NATS_TLS_CERT: must be set"}},
		{"certificate with another key", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_TLS_CERT": tf.ClientCert, "FMN_NATS_TLS_KEY": tf.ServerKey},
			[]string{"FMN_NATS_TLS_CERT", "private key does not match"}},
		{"expired certificate", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_TLS_CERT": expiredCert, "FMN_NATS_TLS_KEY": expiredKey},
			[]string{"FMN_NATS_TLS_CERT", "expired on"}},
		{"garbage CA", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_TLS_CA": write("ca.pem", garbage)},
			[]string{"FMN_NATS_TLS_CA", "no PEM certificate"}},
		{"key as CA", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_TLS_CA": tf.ClientKey},
			[]string{"FMN_NATS_TLS_CA", "no PEM certificate"}},
		{"embedded server", map[string]string{"FMN_NATS_NKEY": userSeed, "FMN_NATS_TLS_CA": tf.CA},
			[]string{"FMN_NATS_NKEY: applies to the NATS server of FMN_NATS_URL", "FMN_NATS_TLS_CA: applies"}},
		{"inbox prefix with a wildcard", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_INBOX_PREFIX": "_INBOX.*"},
			[]string{"FMN_NATS_INBOX_PREFIX: must be a subject"}},
		{"inbox prefix with a trailing dot", map[string]string{"FMN_NATS_URL": url, "FMN_NATS_INBOX_PREFIX": "_INBOX.api."},
			[]string{"FMN_NATS_INBOX_PREFIX: must be a subject"}},
		{"bad URL in a list", map[string]string{"FMN_NATS_URL": "nats://a:4222,http://b:4222"},
			[]string{"FMN_NATS_URL: scheme must be one of"}},
	} {
		_, err := load(t, nil, c.env)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "GARBAGE") || strings.Contains(err.Error(), string(accSeed)) {
			t.Errorf("%s: a secret shows in %q", c.name, err)
		}
	}
}

func TestRedactNATSURL(t *testing.T) {
	t.Parallel()
	got := RedactNATSURL("nats://fmn:hunter2@a:4222, nats://s3cr3ttoken@b:4222,nats://c:4222")
	if got != "nats://fmn:<secret>@a:4222,nats://<secret>@b:4222,nats://c:4222" {
		t.Errorf("redacted: %s", got)
	}
}

func TestDescribeNATS(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{NATSURL: "nats://a:4222"}, "no credentials"},
		{Config{NATSURL: "nats://fmn:hunter2@a:4222,nats://b:4222"}, "user fmn (in FMN_NATS_URL)"},
		{Config{NATSURL: "nats://s3cr3ttoken@a:4222"}, "token (in FMN_NATS_URL)"},
		{Config{NATSURL: "tls://a:4222", NATSAuth: NATSAuth{TLSCA: "/ca.pem"}}, "no credentials; TLS, CA FMN_NATS_TLS_CA=/ca.pem"},
		{Config{NATSURL: "tls://a:4222", NATSAuth: NATSAuth{User: "fmn", Password: "hunter2", TLSCert: "/c.pem", TLSKey: "/k.pem"}},
			"user fmn (FMN_NATS_USER); TLS, client certificate FMN_NATS_TLS_CERT=/c.pem"},
		{Config{NATSURL: "nats://a:4222", NATSAuth: NATSAuth{CredsFile: "/api.creds"}}, "credentials FMN_NATS_CREDS=/api.creds"},
	} {
		got := c.cfg.DescribeNATS()
		if got != c.want || strings.Contains(got, "hunter2") || strings.Contains(got, "s3cr3t") {
			t.Errorf("%+v: %q, want %q", c.cfg.NATSAuth, got, c.want)
		}
	}
}
