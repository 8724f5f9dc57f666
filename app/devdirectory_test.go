package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
)

// `fmn dev` without FMN_FASJSON_URL serves its login users' accounts, so
// they can choose their own destinations at once.
func TestDevServesTheLoginUsersAccounts(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	pg := fmntest.StartPostgres(t)
	cfg := config.Defaults()
	cfg.NATSURL, cfg.DatabaseURL = n.URL, pg.URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	cfg.HTTPAddr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.RunSystem(ctx, cfg, []string{"projector", "api"}, app.Options{Dev: true, Started: func(s *app.System) { started <- s }})
	}()
	t.Cleanup(func() { cancel(); <-done }) //nolint:errcheck // stopped by cancel: how it ended is not under test
	var sys *app.System
	select {
	case sys = <-started:
	case err := <-done:
		t.Fatalf("fmn dev did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("fmn dev did not start within 20s")
	}
	if sys.Directory == nil {
		t.Fatal("no account service in fmn dev")
	}
	dests, err := sys.Directory.Destinations(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []rules.Destination{{Protocol: "email", Address: "alice@example.org"}, {Protocol: "irc", Address: "alice"}, {Protocol: "matrix", Address: "@alice:fedora.im"}} {
		if !slices.Contains(dests, want) {
			t.Errorf("alice's destinations %v lack %v", dests, want)
		}
	}
}
