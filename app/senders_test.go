package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
)

// The senders' configuration is read before anything connects, and every
// problem is said at once: a bad FMN_SMTP_URL, FMN_IRC_URL and Matrix
// setting give one error naming the three, even with NATS, PostgreSQL and
// Redis unreachable (the error is not theirs, and comes at once).
func TestSenderConfigurationErrorsTogether(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.NATSURL = "nats://127.0.0.1:1"
	cfg.DatabaseURL = "postgres://fmn@127.0.0.1:1/fmn"
	cfg.RedisURL = "redis://127.0.0.1:1/0"
	cfg.SMTPURL = "smtp://fmn:Sm7p-pa55word@relay.example.org?starttls=maybe"
	cfg.IRCURL = "ircs://fmn:1rc-pa55word@irc.example.org?sasl=weird"
	cfg.MatrixURL, cfg.MatrixToken = "https://matrix.example.org?timeout=never", "syt_matrix_token"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the settings pass config's checks; only the senders refuse them: %v", err)
	}
	want := []string{"FMN_SMTP_URL", "FMN_IRC_URL", "FMN_MATRIX_URL"}
	check := func(t *testing.T, msg string, elapsed time.Duration) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("error does not name %s: %s", w, msg)
			}
		}
		for _, no := range []string{"NATS", "PostgreSQL", "Redis", "Sm7p-pa55word", "1rc-pa55word", "syt_matrix_token"} {
			if strings.Contains(msg, no) {
				t.Errorf("error says %q: %s", no, msg)
			}
		}
		if elapsed > 2*time.Second {
			t.Errorf("the error took %s: something was connected first", elapsed)
		}
	}

	t.Run("RunSystem", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		err := app.RunSystem(context.Background(), cfg, []string{"consumer", "sender-email", "sender-irc", "sender-matrix", "api"},
			app.Options{Log: quietLog(t)})
		if err == nil {
			t.Fatal("the system started")
		}
		check(t, err.Error(), time.Since(start))
	})
	t.Run("serve", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		code, _, errs := runCLI(t, "", "serve", "--roles", "sender-email,sender-irc,sender-matrix", "--metrics-addr", "off",
			"--nats-url", cfg.NATSURL, "--smtp-url", cfg.SMTPURL, "--irc-url", cfg.IRCURL,
			"--matrix-url", cfg.MatrixURL, "--matrix-token", cfg.MatrixToken)
		if code != 1 || strings.Count(errs, "fmn serve:") != 1 {
			t.Errorf("exit %d, want 1 with one error:\n%s", code, errs)
		}
		check(t, errs, time.Since(start))
	})
	t.Run("unset", func(t *testing.T) {
		t.Parallel()
		c := cfg
		c.SMTPURL, c.IRCURL, c.MatrixURL, c.MatrixToken = "", "", "", ""
		err := app.RunSystem(context.Background(), c, []string{"sender-email", "sender-irc", "sender-matrix"}, app.Options{Log: quietLog(t)})
		if err == nil {
			t.Fatal("the system started")
		}
		check(t, err.Error(), 0)
	})
}
