package rulelog_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The helper of TestEnsureUserSurvivesSIGKILL is this test binary run
// again as an API process recording a new user: it stops before the
// commit of the user's batch, says so in a file, and waits to be killed.
const (
	envCrashNATS     = "FMN_CRASH_NATS_URL"
	envCrashDatabase = "FMN_CRASH_DATABASE_URL"
	envCrashMarker   = "FMN_CRASH_MARKER"
)

// TestEnsureUserHelperProcess is the process that
// TestEnsureUserSurvivesSIGKILL kills, not a test of its own.
func TestEnsureUserHelperProcess(t *testing.T) {
	t.Parallel()
	fmntest.RunProcess(t, runEnsureUserHelper)
}

func runEnsureUserHelper() error {
	ctx := context.Background()
	nc, err := nats.Connect(os.Getenv(envCrashNATS))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, os.Getenv(envCrashDatabase))
	if err != nil {
		return err
	}
	cmds, err := rulelog.NewCommands(ctx, js, pool, rulelog.CommandsConfig{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	// user.created and the first two default rules are staged on the
	// server (each answered); the commit, the third rule, is never sent.
	rulelog.SetBatchHook(cmds, func(seq int, err error) error {
		if err == nil && seq == 3 {
			if err := os.WriteFile(os.Getenv(envCrashMarker), []byte("staged\n"), 0o600); err != nil {
				return err
			}
			select {} // until SIGKILL
		}
		return err
	})
	return cmds.EnsureUser(ctx, "kim", rulelog.Meta{}, func(context.Context) ([]rules.Rule, error) {
		return threeDefaults("kim"), nil
	})
}

// TestEnsureUserSurvivesSIGKILL kills a real process between the messages
// of a new user's batch: nothing of it is stored, and the next request
// records the user with all their default rules, once.
func TestEnsureUserSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a process")
	}
	b := setup(t, setupOpts{})
	marker := filepath.Join(t.TempDir(), "staged")
	before := streamLastSeq(t, b)
	p := fmntest.StartProcess(t, "api", "TestEnsureUserHelperProcess",
		envCrashNATS+"="+b.nats.URL,
		envCrashDatabase+"="+b.pg.URL,
		envCrashMarker+"="+marker,
	)
	fmntest.Eventually(t, 60*time.Second, "the helper stages kim's batch", func() bool {
		if err := p.Exited(); err != nil {
			t.Fatal(err)
		}
		_, err := os.Stat(marker)
		return err == nil
	})
	p.Kill(t)

	if n := subjectEvents(t, b, "kim"); n != 0 || streamLastSeq(t, b) != before {
		t.Fatalf("after the kill, kim's subject holds %d events (stream at %d, was %d)", n, streamLastSeq(t, b), before)
	}
	if _, err := b.store.User(b.ctx, "kim"); !errors.Is(err, rulelog.ErrNotFound) {
		t.Fatalf("kim projected from a batch that was never committed: %v", err)
	}
	// The next request, in another process.
	if err := b.cmds.EnsureUser(b.ctx, "kim", rulelog.Meta{}, func(context.Context) ([]rules.Rule, error) {
		return threeDefaults("kim"), nil
	}); err != nil {
		t.Fatal(err)
	}
	checkRecordedOnce(t, b, "kim")
}
