package streams_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/streams"
)

func TestEnsureIsIdempotentAndUpdates(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t) // runs Ensure once
	ctx := context.Background()
	cfg := n.Streams
	if err := streams.Ensure(ctx, n.JS, cfg, fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	cfg.BusMaxAge = 36 * time.Hour
	if err := streams.Ensure(ctx, n.JS, cfg, fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatalf("Ensure with a new max age: %v", err)
	}
	s, err := n.JS.Stream(ctx, "BUS")
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Config.MaxAge != 36*time.Hour || info.Config.Duplicates < 2*time.Minute {
		t.Errorf("BUS config: max age %s, duplicates %s", info.Config.MaxAge, info.Config.Duplicates)
	}
	for _, name := range []string{"RULES", "NOTIFY", "DLQ"} {
		if _, err := n.JS.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

func TestValidateNamesTheProblem(t *testing.T) {
	t.Parallel()
	cfg := streams.Defaults()
	cfg.Bus = "BUS.X"
	cfg.Replicas = 0
	cfg.Duplicates = time.Second
	if err := cfg.Validate(); err == nil {
		t.Fatal("invalid stream configuration accepted")
	}
}
