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

func TestTokenEncoding(t *testing.T) {
	t.Parallel()
	for _, user := range []string{"alice", "bob.smith", "x*y>z", "", "ünïcode", "with space", "%41"} {
		tok := streams.EncodeToken(user)
		for _, c := range tok {
			if c == '.' || c == '*' || c == '>' || c == ' ' || c > 127 {
				t.Errorf("token %q of %q holds %q", tok, user, c)
			}
		}
		back, err := streams.DecodeToken(tok)
		if err != nil || back != user {
			t.Errorf("DecodeToken(%q) = %q, %v; want %q", tok, back, err, user)
		}
	}
	if streams.RulesUserSubject("alice") != "rules.user.alice" {
		t.Errorf("subject of alice: %s", streams.RulesUserSubject("alice"))
	}
}
