package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/cli/clitest"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/cli"
	"github.com/fmn-project/fmn/fmntest"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return clitest.Run(t, stdin, args...)
}

func TestCLIUsageAndErrors(t *testing.T) {
	t.Parallel()
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "fmn ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "", "help"); code != 0 || !containsAll(out, app.AllRoles) {
		t.Errorf("help does not name every role of %v: %d %q", app.AllRoles, code, out)
	}
	if code, _, errs := runCLI(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "serve", "--roles", "consumer,juggler"); code != 1 || !strings.Contains(errs, `unknown role "juggler"`) {
		t.Errorf("bad role: %d %q", code, errs)
	}
	code, _, errs := runCLI(t, "", "serve", "--roles", "api", "--database-url", "mysql://u:hunter2@db/x", "--log-level", "loud")
	if code != 1 || !strings.Contains(errs, "FMN_DATABASE_URL") || !strings.Contains(errs, "FMN_LOG_LEVEL") || strings.Contains(errs, "hunter2") {
		t.Errorf("bad configuration: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "publish", "x.json"); code != 1 || !strings.Contains(errs, "FMN_NATS_URL") {
		t.Errorf("publish without NATS: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "publish", "-h"); code != 0 || !strings.Contains(errs, "Examples:") {
		t.Errorf("publish -h: %d %q", code, errs)
	}
}

// TestCLIRulesPublishRebuild drives the operator commands against real
// services: add a rule, publish a message, rebuild the projection.
func TestCLIRulesPublishRebuild(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	pg := fmntest.StartPostgres(t)
	prefix := fmntest.RedisPrefix(t)
	common := []string{"--nats-url", n.URL, "--database-url", pg.URL, "--redis-url", fmntest.RedisURL(), "--redis-prefix", prefix}

	// The projector runs in a system of its own, as in production.
	sysCtx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		done <- cli.Main(sysCtx, append([]string{"serve", "--roles", "projector", "--metrics-addr", "127.0.0.1:0"}, common...), nil, &out, &errb)
	}()
	t.Cleanup(func() { cancel(); <-done })

	rule, err := os.ReadFile(filepath.Join("..", "testdata", "sample-rule.json"))
	if err != nil {
		t.Fatal(err)
	}
	var code int
	var out, errs string
	fmntest.Eventually(t, 10*time.Second, "rules add succeeds once the projector runs", func() bool {
		code, out, errs = runCLI(t, string(rule), append([]string{"rules", "add"}, append(common, "alice", "-")...)...)
		return code == 0
	})
	if !strings.Contains(out, "created rule") {
		t.Fatalf("rules add: %d %q %q", code, out, errs)
	}
	code, out, errs = runCLI(t, "", append([]string{"rules", "list"}, append(common, "alice")...)...)
	if code != 0 || !strings.Contains(out, "Everything about me") {
		t.Fatalf("rules list: %d %q %q", code, out, errs)
	}
	code, out, errs = runCLI(t, "", append([]string{"publish"}, append(common, filepath.Join("..", "testdata", "sample-message.json"))...)...)
	if code != 0 || !strings.Contains(out, "published 1") {
		t.Fatalf("publish: %d %q %q", code, out, errs)
	}
	code, out, errs = runCLI(t, "", append([]string{"replay", "rules", "--rebuild"}, common...)...)
	if code != 0 || !strings.Contains(out, "rebuilt up to sequence") {
		t.Fatalf("rebuild: %d %q %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "", append([]string{"rules", "list"}, append(common, "alice")...)...)
	if code != 0 || !strings.Contains(out, "Everything about me") {
		t.Fatalf("rules list after rebuild: %d %q", code, out)
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
