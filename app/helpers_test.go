package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/fmn-project/fmn/cli/clitest"

	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// ops is what the system tests that drive commands too run on: real NATS,
// PostgreSQL and Redis, a rule projector, and the flags that point the
// CLI at them.
type ops struct {
	ctx   context.Context
	nats  *fmntest.NATS
	pg    *fmntest.Postgres
	cmds  *rulelog.Commands
	flags []string
	cfg   config.Config
	s     *clitest.Ops
}

// setupOps prepares the services (clitest.Start) under the tests' short
// field names.
func setupOps(t *testing.T, projector bool) *ops {
	t.Helper()
	s := clitest.Start(t, projector)
	return &ops{s: s, ctx: s.Ctx, nats: s.NATS, pg: s.PG, cmds: s.Cmds, flags: s.Flags, cfg: s.Cfg}
}

// run runs fmn with the test's flags after the command words.
func (o *ops) run(t *testing.T, stdin string, words []string, extra ...string) (int, string, string) {
	t.Helper()
	return o.s.Run(t, stdin, words, extra...)
}

func mailRule(name string, tr rules.TrackingRule, f rules.Filters, dests ...rules.Destination) rules.Rule {
	return rules.Rule{Name: name, TrackingRule: tr, GenerationRules: []rules.GenerationRule{{Destinations: dests, Filters: f}}}
}

var relatedEvents = rules.TrackingRule{Name: rules.TrackRelatedEvents, Params: json.RawMessage("null")}

// quietLog logs only with go test -v.
func quietLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// runCLI runs fmn's command line, as the roles' tests drive it.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return clitest.Run(t, stdin, args...)
}
