package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/cli"
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
}

// setupOps prepares the services; with projector, a rule projector runs
// (without Redis: tests that run the consumer let the system's projector
// do it, as the consumer follows the version the projector puts in Redis).
func setupOps(t *testing.T, projector bool) *ops {
	t.Helper()
	o := &ops{ctx: fmntest.Context(t), nats: fmntest.StartNATS(t), pg: fmntest.StartPostgres(t)}
	prefix := fmntest.RedisPrefix(t)
	o.flags = []string{"--nats-url", o.nats.URL, "--database-url", o.pg.URL, "--redis-url", fmntest.RedisURL(), "--redis-prefix", prefix}
	o.cfg = config.Defaults()
	o.cfg.NATSURL, o.cfg.DatabaseURL, o.cfg.RedisURL, o.cfg.RedisPrefix = o.nats.URL, o.pg.URL, fmntest.RedisURL(), prefix
	o.cfg.HTTPAddr = "127.0.0.1:0"
	if projector {
		p := rulelog.NewProjector(o.nats.JS, o.pg.Pool, rulelog.ProjectorConfig{Stream: o.nats.Streams.Rules})
		if err := p.Start(o.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
	}
	cmds, err := rulelog.NewCommands(o.ctx, o.nats.JS, o.pg.Pool, rulelog.CommandsConfig{Stream: o.nats.Streams.Rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	o.cmds = cmds
	return o
}

// run runs fmn with the test's flags after the command words.
func (o *ops) run(t *testing.T, stdin string, words []string, extra ...string) (int, string, string) {
	t.Helper()
	args := append(slices.Clone(words), o.flags...)
	return runCLI(t, stdin, append(args, extra...)...)
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
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}
