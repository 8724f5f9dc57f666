package cli_test

import (
	"strings"
	"testing"
)

// TestCommandHelp: `fmn CMD -h` lists the settings the command uses, and
// no other, with an example; one row per command family.
func TestCommandHelp(t *testing.T) {
	t.Parallel()
	// Settings only the roles use: no operator's command lists them.
	roleOnly := []string{"-smtp-url", "-mail-from", "-irc-url", "-matrix-url", "-matrix-token", "-http-addr", "-oidc-issuer",
		"-cors-origins", "-consumer-in-flight", "-sender-email-workers", "-metrics-addr", "-preview-max-concurrent", "-sse-max-per-user", "-max-rules-per-user"}
	for _, c := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"dev"}, []string{"-nats-url", "-nats-port", "-data-dir", "-database-url", "-redis-url", "-smtp-url", "-irc-url", "-matrix-url", "-http-addr", "-stream-replicas", "-amqp-url", "-amqp-topic-prefix"}, []string{"-amqp-queue", "-roles"}},
		{[]string{"serve"}, []string{"-roles", "-nats-url", "-smtp-url", "-metrics-addr", "-consumer-ack-wait", "-amqp-url", "-amqp-exchange", "-amqp-topic-prefix"}, []string{"-amqp-queue"}},
		{[]string{"bridge", "amqp"}, []string{"-amqp-url", "-amqp-queue", "-bindings", "-nats-url", "-nats-port", "-stream-replicas"}, append([]string{"-database-url", "-redis-url", "-amqp-topic-prefix"}, roleOnly...)},
		{[]string{"publish"}, []string{"-nats-url", "-nats-creds", "-nats-tls-ca", "-stream-bus", "-log-level", "-q"}, append([]string{"-database-url", "-redis-url", "-amqp-url", "-nats-port", "-data-dir", "-stream-replicas"}, roleOnly...)},
		{[]string{"inspect"}, []string{"-json"}, []string{"-nats-url", "-log-level"}},
		{[]string{"rules", "add"}, []string{"-nats-url", "-database-url", "-stream-rules"}, append([]string{"-redis-url", "-amqp-url"}, roleOnly...)},
		{[]string{"replay", "bus"}, []string{"-nats-url", "-database-url", "-redis-url", "-distgit-url", "-public-url", "-explain"}, append([]string{"-amqp-url"}, roleOnly...)},
		{[]string{"replay", "notify"}, []string{"-nats-url", "-channel", "-stream-notify"}, append([]string{"-database-url", "-redis-url"}, roleOnly...)},
		{[]string{"replay", "rules"}, []string{"-nats-url", "-database-url", "-redis-url", "-rebuild"}, append([]string{"-distgit-url"}, roleOnly...)},
		{[]string{"replay", "stats"}, []string{"-nats-url", "-database-url", "-stats-retention", "-rebuild"}, append([]string{"-redis-url"}, roleOnly...)},
		{[]string{"dlq", "list"}, []string{"-nats-url", "-stream-dlq", "-channel"}, append([]string{"-database-url", "-redis-url"}, roleOnly...)},
		{[]string{"stats"}, []string{"-database-url", "-nats-url", "-stats-retention", "-since"}, append([]string{"-redis-url"}, roleOnly...)},
		{[]string{"migrate"}, []string{"-database-url", "-log-level"}, append([]string{"-nats-url", "-redis-url"}, roleOnly...)},
		{[]string{"import", "fmn3"}, []string{"-from", "-dry-run", "-nats-url", "-database-url", "-stream-rules"}, append([]string{"-redis-url", "-amqp-url", "-stream-replicas"}, roleOnly...)},
	} {
		name := strings.Join(c.args, " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, _, help := runCLI(t, "", append(c.args, "-h")...)
			if code != 0 || !strings.Contains(help, "Examples:\n  ") || !strings.Contains(help, "fmn "+name) {
				t.Fatalf("exit %d, want 0 and examples:\n%s", code, help)
			}
			flags := map[string]bool{}
			for _, line := range strings.Split(help, "\n") {
				if f, ok := strings.CutPrefix(line, "  -"); ok {
					f, _, _ = strings.Cut(f, " ")
					f, _, _ = strings.Cut(f, "\t")
					flags["-"+f] = true
				}
			}
			for _, w := range c.want {
				if !flags[w] {
					t.Errorf("does not list %s:\n%s", w, help)
				}
			}
			for _, n := range c.not {
				if flags[n] {
					t.Errorf("lists %s, which it does not use", n)
				}
			}
		})
	}
}

// A flag of a setting a command does not use is accepted and ignored, as
// when every command took every setting: scripts pass one set of flags to
// every command.
func TestUnusedSettingFlagsAccepted(t *testing.T) {
	t.Parallel()
	code, _, errs := runCLI(t, "", "publish", "--database-url", "postgres://db.example.org/fmn", "--smtp-url", "gopher://not-checked", "--stream-allow-downscale", "x.json")
	if code != 1 || !strings.Contains(errs, "FMN_NATS_URL: must be set") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// fmn import fmn3 says what it needs before it connects to anything.
func TestImportFMN3Usage(t *testing.T) {
	t.Parallel()
	if code, _, errs := runCLI(t, "", "import"); code != 2 || !strings.Contains(errs, "fmn import fmn3 --from") {
		t.Errorf("fmn import: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "", "import", "fmn3", "--nats-url", "nats://127.0.0.1:1"); code != 1 || !strings.Contains(errs, "--from: the FMN v3 database's URL is required") {
		t.Errorf("fmn import fmn3 without --from: exit %d: %s", code, errs)
	}
}
