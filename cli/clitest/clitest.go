// Package clitest is the harness of the tests that drive fmn's command
// line against real services (NATS, PostgreSQL, Redis): the cli package's
// own tests and app's system tests share it.
package clitest

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/cli"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/senders"
)

// Ops is what the tests run commands against: real NATS, PostgreSQL and
// Redis, the rule commands, and the flags and configuration that point
// the command line and a system at them.
type Ops struct {
	Ctx   context.Context
	NATS  *fmntest.NATS
	PG    *fmntest.Postgres
	Cmds  *rulelog.Commands
	Flags []string
	Cfg   config.Config
}

// Start prepares the services; with projector, a rule projector runs
// (without Redis: tests that run the consumer let the system's projector
// do it, as the consumer follows the version the projector puts in Redis).
func Start(t *testing.T, projector bool) *Ops {
	t.Helper()
	o := &Ops{Ctx: fmntest.Context(t), NATS: fmntest.StartNATS(t), PG: fmntest.StartPostgres(t)}
	prefix := fmntest.RedisPrefix(t)
	o.Flags = []string{"--nats-url", o.NATS.URL, "--database-url", o.PG.URL, "--redis-url", fmntest.RedisURL(), "--redis-prefix", prefix}
	o.Cfg = config.Defaults()
	o.Cfg.NATSURL, o.Cfg.DatabaseURL, o.Cfg.RedisURL, o.Cfg.RedisPrefix = o.NATS.URL, o.PG.URL, fmntest.RedisURL(), prefix
	o.Cfg.HTTPAddr = "127.0.0.1:0"
	if projector {
		p := rulelog.NewProjector(o.NATS.JS, o.PG.Pool, rulelog.ProjectorConfig{Stream: o.NATS.Streams.Rules})
		if err := p.Start(o.Ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
	}
	cmds, err := rulelog.NewCommands(o.Ctx, o.NATS.JS, o.PG.Pool, rulelog.CommandsConfig{Stream: o.NATS.Streams.Rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	o.Cmds = cmds
	return o
}

// Run runs fmn's command line with args and stdin: exit code, standard
// output, standard error.
func Run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// Run runs fmn with the command words, then o's flags, then extra.
func (o *Ops) Run(t *testing.T, stdin string, words []string, extra ...string) (int, string, string) {
	t.Helper()
	args := append(slices.Clone(words), o.Flags...)
	return Run(t, stdin, append(args, extra...)...)
}

// SystemStarted runs roles as one system on o's services, mailing through
// smtpSrv, hands the running System to sysc and stops it at the test's end
// (failing the test if it ended with an error).
func (o *Ops) SystemStarted(t *testing.T, log *slog.Logger, smtpSrv *fmntest.SMTPServer, so *senders.Options, sysc chan<- *app.System, roles ...string) {
	t.Helper()
	cfg := o.Cfg
	cfg.SMTPURL = smtpSrv.URL() + "?ca_file=" + smtpSrv.CAFile(t)
	cfg.MailFrom = "notifications@example.org"
	ctx, cancel := context.WithCancel(o.Ctx)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- app.RunSystem(ctx, cfg, roles, app.Options{Log: log, SenderOptions: so,
			Started: func(s *app.System) { sysc <- s; close(started) }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("system did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("system did not start within 20s")
	}
}
