package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	cfg := Defaults()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	st := Bind(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, st.Load(fs, func(k string) string { return env[k] })
}

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATSURL != "" || cfg.Streams.Bus != "BUS" || cfg.Streams.Storage != jetstream.FileStorage {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, []string{"--redis-prefix", "flag:", "--bus-max-age", "36h"}, map[string]string{
		"FMN_REDIS_PREFIX":    "env:",
		"FMN_NATS_URL":        "nats://127.0.0.1:4222",
		"FMN_ADMIN_GROUPS":    "sysadmin-main, fmn-admins",
		"FMN_NOTIFY_MAX_AGE":  "3d",
		"FMN_STREAM_REPLICAS": "3",
		"FMN_STREAM_STORAGE":  "memory",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RedisPrefix != "flag:" {
		t.Errorf("a flag must win over the environment: %q", cfg.RedisPrefix)
	}
	if cfg.NATSURL != "nats://127.0.0.1:4222" || cfg.Streams.Replicas != 3 || cfg.Streams.Storage != jetstream.MemoryStorage {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.Streams.BusMaxAge != 36*time.Hour || cfg.Streams.NotifyMaxAge != 72*time.Hour {
		t.Errorf("ages: %s %s", cfg.Streams.BusMaxAge, cfg.Streams.NotifyMaxAge)
	}
	if strings.Join(cfg.AdminGroups, "|") != "sysadmin-main|fmn-admins" {
		t.Errorf("admin groups: %q", cfg.AdminGroups)
	}
}

func TestStreamAllowDownscale(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Streams.AllowDownscale {
		t.Error("lowering replicas must be off by default")
	}
	cfg, err = load(t, nil, map[string]string{"FMN_STREAM_ALLOW_DOWNSCALE": "true"})
	if err != nil || !cfg.Streams.AllowDownscale {
		t.Errorf("FMN_STREAM_ALLOW_DOWNSCALE=true: %v, %v", cfg.Streams.AllowDownscale, err)
	}
	cfg, err = load(t, []string{"--stream-allow-downscale"}, nil)
	if err != nil || !cfg.Streams.AllowDownscale {
		t.Errorf("--stream-allow-downscale: %v, %v", cfg.Streams.AllowDownscale, err)
	}
	cfg, err = load(t, []string{"--stream-allow-downscale=false"}, map[string]string{"FMN_STREAM_ALLOW_DOWNSCALE": "true"})
	if err != nil || cfg.Streams.AllowDownscale {
		t.Errorf("a flag must win over the environment: %v, %v", cfg.Streams.AllowDownscale, err)
	}
	_, err = load(t, nil, map[string]string{"FMN_STREAM_ALLOW_DOWNSCALE": "maybe"})
	if err == nil || !strings.Contains(err.Error(), "FMN_STREAM_ALLOW_DOWNSCALE") {
		t.Errorf("a bad value must name the setting: %v", err)
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "smtp")
	if err := os.WriteFile(path, []byte("smtp://bot:hunter2@mail.example.org:587\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, nil, map[string]string{"FMN_SMTP_URL_FILE": path})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTPURL != "smtp://bot:hunter2@mail.example.org:587" {
		t.Errorf("SMTP URL from file: %q", cfg.SMTPURL)
	}
	_, err = load(t, nil, map[string]string{"FMN_SMTP_URL_FILE": filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "FMN_SMTP_URL_FILE") {
		t.Errorf("a missing secret file must name the setting: %v", err)
	}
}

func TestBadConfigurationNamesEverySetting(t *testing.T) {
	t.Parallel()
	_, err := load(t, nil, map[string]string{
		"FMN_DATABASE_URL":    "mysql://root:topsecret@db/fmn",
		"FMN_SMTP_URL":        "http://user:topsecret@mail",
		"FMN_LOG_LEVEL":       "loud",
		"FMN_STREAM_REPLICAS": "many",
		"FMN_OIDC_ISSUER":     "https://id.example.org",
		"FMN_MATRIX_URL":      "https://matrix.example.org",
		"FMN_STREAM_STORAGE":  "tape",
		"FMN_BUS_MAX_AGE":     "forever",
	})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	msg := err.Error()
	for _, want := range []string{"FMN_STREAM_REPLICAS", "FMN_STREAM_STORAGE", "FMN_BUS_MAX_AGE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
	// The parse errors come first; fix them and validation reports the rest.
	_, err = load(t, nil, map[string]string{
		"FMN_DATABASE_URL": "mysql://root:topsecret@db/fmn",
		"FMN_SMTP_URL":     "http://user:topsecret@mail",
		"FMN_LOG_LEVEL":    "loud",
		"FMN_OIDC_ISSUER":  "https://id.example.org",
		"FMN_MATRIX_URL":   "https://matrix.example.org",
	})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	msg = err.Error()
	for _, want := range []string{"FMN_DATABASE_URL", "FMN_SMTP_URL", "FMN_LOG_LEVEL", "FMN_OIDC_CLIENT_ID", "FMN_MATRIX_TOKEN"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "topsecret") {
		t.Errorf("a secret leaked into the error:\n%s", msg)
	}
}

func TestAuthSettings(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OIDCClientSecret != "" || cfg.AuthNegativeCache != 30*time.Second || cfg.AuthFailureBurst != 10 || cfg.AuthFailureRate != 6 || len(cfg.TrustedProxies) != 0 {
		t.Errorf("defaults: %q %s %d %d %q", cfg.OIDCClientSecret, cfg.AuthNegativeCache, cfg.AuthFailureBurst, cfg.AuthFailureRate, cfg.TrustedProxies)
	}
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("s3cr3t-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = load(t, nil, map[string]string{
		"FMN_OIDC_CLIENT_SECRET_FILE": path, "FMN_AUTH_NEGATIVE_CACHE": "1m", "FMN_AUTH_FAILURE_BURST": "0",
		"FMN_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1, ::1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OIDCClientSecret != "s3cr3t-value" || cfg.AuthNegativeCache != time.Minute || cfg.AuthFailureBurst != 0 || len(cfg.TrustedProxies) != 3 {
		t.Errorf("from the environment: %+v", cfg)
	}
	// The secret is never shown as a flag's value (-h prints defaults).
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c := Defaults()
	c.OIDCClientSecret = "s3cr3t-value"
	Bind(fs, &c)
	if f := fs.Lookup("oidc-client-secret"); f == nil || f.Value.String() != "" || !strings.Contains(f.Usage, "FMN_OIDC_CLIENT_SECRET_FILE") {
		t.Errorf("flag oidc-client-secret: %+v", f)
	}
	_, err = load(t, nil, map[string]string{
		"FMN_AUTH_NEGATIVE_CACHE": "1h", "FMN_AUTH_FAILURE_BURST": "-1", "FMN_TRUSTED_PROXIES": "proxy.example.org",
	})
	for _, want := range []string{"FMN_AUTH_NEGATIVE_CACHE", "FMN_AUTH_FAILURE_BURST", "FMN_TRUSTED_PROXIES"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if _, err = load(t, nil, map[string]string{"FMN_AUTH_FAILURE_RATE": "0"}); err == nil || !strings.Contains(err.Error(), "FMN_AUTH_FAILURE_RATE") {
		t.Errorf("rate 0: %v", err)
	}
}

func TestPreviewLimits(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PreviewMaxConcurrent != 8 || cfg.PreviewMaxPerUser != 2 {
		t.Errorf("defaults: %d in all, %d per user", cfg.PreviewMaxConcurrent, cfg.PreviewMaxPerUser)
	}
	cfg, err = load(t, []string{"--preview-max-per-user", "3"}, map[string]string{"FMN_PREVIEW_MAX_CONCURRENT": "20", "FMN_PREVIEW_MAX_PER_USER": "1"})
	if err != nil || cfg.PreviewMaxConcurrent != 20 || cfg.PreviewMaxPerUser != 3 {
		t.Errorf("settings: %d in all, %d per user, %v", cfg.PreviewMaxConcurrent, cfg.PreviewMaxPerUser, err)
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"FMN_PREVIEW_MAX_CONCURRENT": "0"}, "FMN_PREVIEW_MAX_CONCURRENT"},
		{map[string]string{"FMN_PREVIEW_MAX_PER_USER": "0"}, "FMN_PREVIEW_MAX_PER_USER"},
		{map[string]string{"FMN_PREVIEW_MAX_CONCURRENT": "4", "FMN_PREVIEW_MAX_PER_USER": "5"}, "FMN_PREVIEW_MAX_PER_USER"},
	} {
		if _, err := load(t, nil, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error naming %s, got %v", c.env, c.want, err)
		}
	}
}

func TestMetricsAndWorkerSettings(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, map[string]string{"FMN_METRICS_ADDR": ":9464", "FMN_SENDER_EMAIL_WORKERS": "8", "FMN_CONSUMER_WORKERS": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsAddr != ":9464" || cfg.SenderEmailWorkers != 8 || cfg.ConsumerWorkers != 3 {
		t.Errorf("metrics %q, workers %d, consumer workers %d", cfg.MetricsAddr, cfg.SenderEmailWorkers, cfg.ConsumerWorkers)
	}
	if d := Defaults(); d.MetricsAddr != "" || d.SenderEmailWorkers != 4 || d.ConsumerWorkers != 0 {
		t.Errorf("defaults: metrics %q, workers %d, consumer workers %d", d.MetricsAddr, d.SenderEmailWorkers, d.ConsumerWorkers)
	}
	if _, err := load(t, []string{"--metrics-addr", "off"}, nil); err != nil {
		t.Errorf("off: %v", err)
	}
	_, err = load(t, nil, map[string]string{"FMN_METRICS_ADDR": "9464", "FMN_SENDER_EMAIL_WORKERS": "0", "FMN_CONSUMER_WORKERS": "-1"})
	for _, want := range []string{"FMN_METRICS_ADDR", "FMN_SENDER_EMAIL_WORKERS", "FMN_CONSUMER_WORKERS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

// A command binds the groups of settings it uses: it lists and reads only
// those, and a setting of another group in the environment is none of its
// business, even a bad one.
func TestBindGroups(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	st := Bind(fs, &cfg, Connection)
	for _, name := range []string{"nats-url", "nats-creds", "nats-inbox-prefix", "stream-bus", "log-level"} {
		if fs.Lookup(name) == nil {
			t.Errorf("Connection lacks --%s", name)
		}
	}
	for _, name := range []string{"smtp-url", "irc-url", "database-url", "redis-url", "nats-port", "stream-replicas", "http-addr"} {
		if fs.Lookup(name) != nil {
			t.Errorf("Connection binds --%s", name)
		}
	}
	if err := fs.Parse([]string{"--stream-bus", "MYBUS"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FMN_NATS_URL": "nats://nats.example.org:4222", "FMN_SMTP_URL": "gopher://x", "FMN_LOG_LEVEL": "debug"}
	if err := st.Load(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.NATSURL != "nats://nats.example.org:4222" || cfg.Streams.Bus != "MYBUS" || cfg.LogLevel != "debug" || cfg.SMTPURL != "" {
		t.Errorf("loaded %+v", cfg)
	}

	all := flag.NewFlagSet("all", flag.ContinueOnError)
	c := Defaults()
	Bind(all, &c)
	n := 0
	all.VisitAll(func(*flag.Flag) { n++ })
	every := flag.NewFlagSet("every", flag.ContinueOnError)
	Bind(every, &c, All)
	m := 0
	every.VisitAll(func(*flag.Flag) { m++ })
	if n != m || n < 50 {
		t.Errorf("Bind without groups binds %d settings, with All %d", n, m)
	}
}
