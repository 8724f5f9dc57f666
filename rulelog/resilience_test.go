package rulelog_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
)

// Started while NATS is away (a node restarting as the process starts),
// the projector retries setting up instead of failing.
func TestProjectorStartsDuringANATSOutage(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noProjector: true})
	p := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{})
	b.nats.Stop()
	started := make(chan error, 1)
	go func() { started <- p.Start(b.ctx) }()
	// Longer than a JetStream API request waits (5s).
	select {
	case err := <-started:
		t.Fatalf("projector Start during the outage: %v", err)
	case <-time.After(7 * time.Second):
	}
	b.nats.Start(t)
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("projector Start: %v", err)
		}
	case <-time.After(fmntest.Scaled(30 * time.Second)):
		t.Fatal("projector Start did not return after NATS came back")
	}
	t.Cleanup(p.Stop)
	sr, err := b.cmds.Create(b.ctx, "alice", rule("alice", "after the outage"), rulelog.Meta{})
	if err != nil {
		t.Fatalf("create a rule: %v", err)
	}
	waitProjected(t, b, b.pg.Pool, sr.Version)
}

// A durable consumer deleted under a running projector (an operator, or
// an R1 consumer lost with its node) is set up again from the projection's
// last sequence: the projection goes on, without applying anything twice.
func TestProjectorResumesAfterItsConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	first, err := b.cmds.Create(b.ctx, "alice", rule("alice", "before"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	waitProjected(t, b, b.pg.Pool, first.Version)
	if err := b.nats.JS.DeleteConsumer(b.ctx, b.nats.Streams.Rules, "projector"); err != nil {
		t.Fatal(err)
	}
	// Appended right after: the projector may still be setting up again
	// (then the command answers that the projection lags).
	if _, err := b.cmds.Create(b.ctx, "alice", rule("alice", "meanwhile"), rulelog.Meta{}); err != nil && !errors.Is(err, rulelog.ErrProjectionLagging) {
		t.Fatal(err)
	}
	waitProjected(t, b, b.pg.Pool, streamLastSeq(t, b))
	if s := b.proj.Stats(); s.Applied != 2 {
		t.Errorf("applied %d events, want 2", s.Applied)
	}
	if n := count(t, b.ctx, b.pg.Pool, "SELECT count(*) FROM rules"); n != 2 {
		t.Errorf("%d rules projected, want 2", n)
	}
}
