package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// trialRun is what a fault tells the accounting.
type trialRun struct {
	faultEnd time.Time // when the system was whole again
	// A rule added during the trial (lateUser): messages first published
	// at or after lateAccepted + 1 s must reach it (the design's bound for
	// a rule change to reach matching); messages stored before lateStart
	// must not; those in between may go either way.
	lateStart, lateAccepted time.Time
}

type trial struct {
	name string
	what string
	cold bool
	// fault runs while the workload is published; it returns once the
	// system is whole again.
	fault func(ctx context.Context, s *system, p *publisher, tr *trialRun)
	// check replaces the workload (a trial about configuration).
	check func(ctx context.Context, h *harness) result
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// since is the time since the first publish, for notes.
func since(p *publisher) string {
	return fmt.Sprintf("%.1fs", time.Since(p.startTime()).Seconds())
}

// restartRole kills a role with -9, waits, and starts it again.
func restartRole(ctx context.Context, s *system, p *publisher, name string, down time.Duration) {
	r := s.role(name)
	if r.proc.exited() {
		s.note("%s had already exited before the kill", name)
	}
	at := since(p)
	r.proc.kill9()
	sleepCtx(ctx, down)
	if err := s.startRole(ctx, r); err != nil {
		s.note("restarting %s: %v", name, err)
		return
	}
	if err := r.proc.waitReady(ctx, 60*time.Second); err != nil {
		s.note("%s after restart: %v", name, err)
	}
	s.note("kill -9 of %s at %s, started again %s later, ready at %s", name, at, down, since(p))
}

func trials() []trial {
	return []trial{
		{name: "baseline", what: "no fault"},
		{name: "leader-kill", what: "kill -9 of the BUS stream leader node (meta leader when it is the same), restart after 10 s",
			fault: func(ctx context.Context, s *system, p *publisher, tr *trialRun) {
				p.waitProgress(ctx, 0.3)
				l := s.leaders(ctx)
				n := s.c.node(l.bus)
				if n == nil {
					n = s.c.node(l.meta)
				}
				if n == nil {
					s.note("no leader found to kill")
					return
				}
				at := since(p)
				n.proc.kill9()
				sleepCtx(ctx, 10*time.Second)
				err := s.c.restartNode(ctx, n)
				tr.faultEnd = time.Now()
				s.note("kill -9 of %s (%s) at %s, restarted at %s (err %v); leaders after: %s", n.name,
					l.of(n.name), at, since(p), err, s.leaders(ctx))
			}},
		{name: "node-sigstop", what: "SIGSTOP for 20 s of the node leading the consumers' durable (matcher), else n1",
			fault: func(ctx context.Context, s *system, p *publisher, tr *trialRun) {
				p.waitProgress(ctx, 0.3)
				l := s.leaders(ctx)
				n := s.c.node(l.matcher)
				if n == nil {
					n = s.c.nodes[0]
				}
				at := since(p)
				n.proc.signal(syscall.SIGSTOP)
				sleepCtx(ctx, 20*time.Second)
				n.proc.signal(syscall.SIGCONT)
				tr.faultEnd = time.Now()
				var conn []string
				for _, r := range s.roles {
					if s.c.nodes[r.node] == n {
						conn = append(conn, r.name)
					}
				}
				s.note("SIGSTOP of %s (%s; %s connect to it) at %s, SIGCONT at %s", n.name, l.of(n.name), strings.Join(conn, ", "), at, since(p))
			}},
		{name: "consumer-kill", what: "kill -9 of consumer-a, restart after 5 s",
			fault: func(ctx context.Context, s *system, p *publisher, tr *trialRun) {
				p.waitProgress(ctx, 0.3)
				restartRole(ctx, s, p, "consumer-a", 5*time.Second)
				tr.faultEnd = time.Now()
			}},
		{name: "sender-kill", what: "kill -9 of the email sender, restart after 5 s",
			fault: func(ctx context.Context, s *system, p *publisher, tr *trialRun) {
				p.waitProgress(ctx, 0.3)
				restartRole(ctx, s, p, "sender-email", 5*time.Second)
				tr.faultEnd = time.Now()
			}},
		{name: "smtp-down", what: "SMTP sink down for 30 s (connections refused)",
			fault: func(ctx context.Context, s *system, p *publisher, tr *trialRun) {
				p.waitProgress(ctx, 0.2)
				at := since(p)
				s.h.sink.stop()
				sleepCtx(ctx, 30*time.Second)
				err := s.h.sink.start()
				tr.faultEnd = time.Now()
				s.note("SMTP sink down at %s, up again at %s (err %v)", at, since(p), err)
			}},
		{name: "pg-restart", what: "PostgreSQL stopped (pg_ctl stop -m fast) for 10 s, then started",
			fault: func(ctx context.Context, s *system, p *publisher, tr *trialRun) {
				p.waitProgress(ctx, 0.3)
				at := since(p)
				err1 := s.pg.stop(ctx, "fast")
				sleepCtx(ctx, 10*time.Second)
				err2 := s.pg.start(ctx)
				tr.faultEnd = time.Now()
				s.note("PostgreSQL stopped at %s (err %v), started at %s (err %v)", at, err1, since(p), err2)
			}},
		{name: "redis-rule-change", what: "Redis down 15 s; a rule for " + lateUser + " is added 2 s into the outage",
			fault: func(ctx context.Context, s *system, p *publisher, tr *trialRun) {
				const outage = 15 * time.Second
				p.waitProgress(ctx, 0.15)
				at := since(p)
				down := time.Now()
				s.redis.proc.stop(5 * time.Second)
				sleepCtx(ctx, 2*time.Second)
				added := make(chan error, 1)
				tr.lateStart = time.Now()
				go func() { added <- s.addRule(ctx, lateUser, 1) }()
				var addErr error
				addDone := false
				select {
				case addErr = <-added:
					addDone = true
					tr.lateAccepted = time.Now()
				case <-time.After(time.Until(down.Add(outage))):
				}
				sleepCtx(ctx, time.Until(down.Add(outage)))
				err := s.redis.start(ctx)
				back := since(p)
				if !addDone {
					addErr = <-added
					tr.lateAccepted = time.Now()
				}
				tr.faultEnd = time.Now()
				s.note("Redis stopped at %s, started at %s (err %v); `fmn rules add %s` took %.1fs (err %v)%s",
					at, back, err, lateUser, tr.lateAccepted.Sub(tr.lateStart).Seconds(), addErr,
					map[bool]string{true: "", false: ", returned only after Redis was back"}[addDone])
			}},
		{name: "cold-start", what: "all six role processes started at the same instant against a fresh cluster", cold: true},
		{name: "dlq-replicas", what: "`fmn dlq list` without FMN_STREAM_REPLICAS against R3 streams must leave them R3",
			check: dlqReplicas},
	}
}

// dlqReplicas: a fresh cluster with fmn's five streams at replicas 3, then
// `fmn dlq list` as an operator would type it, without FMN_STREAM_REPLICAS.
func dlqReplicas(ctx context.Context, h *harness) result {
	res := result{name: "dlq-replicas", check: true}
	dir := filepath.Join(h.dir, "dlq-replicas")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.err = err
		return res
	}
	c, err := newCluster(ctx, h.procs, h.ports, h.natsBin, dir)
	defer func() {
		if c != nil {
			for _, n := range c.nodes {
				if n.proc != nil && !n.proc.exited() {
					n.proc.kill9()
				}
			}
		}
	}()
	if err != nil {
		res.err = err
		return res
	}
	nc, err := nats.Connect(c.urls(), nats.Name("fmn-chaos"))
	if err != nil {
		res.err = err
		return res
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// The deployment: a server (here the statistics projector, which needs
	// nothing but NATS and PostgreSQL; the senders need Redis too) creates
	// the streams with FMN_STREAM_REPLICAS=3.
	pg, err := newPG(ctx, h.pgTemplate, dir, h.ports)
	if pg != nil {
		defer func() {
			if err := pg.stop(context.WithoutCancel(ctx), "immediate"); err != nil {
				pg.kill()
			}
		}()
	}
	if err != nil {
		res.err = err
		return res
	}
	mport, err := h.ports.get()
	if err != nil {
		res.err = err
		return res
	}
	srv, err := h.procs.start("stats", filepath.Join(dir, "stats.log"),
		[]string{h.fmnBin, "serve", "--roles", "stats"},
		startOpts{dir: dir, ready: "running roles", env: append(baseEnv(),
			"FMN_NATS_URL="+c.nodes[1].url(), "FMN_STREAM_REPLICAS=3",
			"FMN_DATABASE_URL="+pg.dsn("fmn"), "FMN_DATA_DIR="+dir,
			fmt.Sprintf("FMN_METRICS_ADDR=127.0.0.1:%d", mport))})
	if err != nil {
		res.err = err
		return res
	}
	err = srv.waitReady(ctx, 60*time.Second)
	srv.stop(10 * time.Second)
	if err != nil {
		res.err = fmt.Errorf("fmn serve --roles stats with FMN_STREAM_REPLICAS=3: %w", err)
		return res
	}
	cfg := streams.Defaults()
	names := []string{cfg.Bus, cfg.Rules, cfg.Notify, cfg.DLQ, cfg.Events}
	before, err := replicasOf(ctx, js, names)
	if err != nil {
		res.err = err
		return res
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, h.fmnBin, "dlq", "list")
	cmd.Env = append(baseEnv(), "FMN_NATS_URL="+c.nodes[0].url())
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, cerr := runCmd(cmd)
	appendLog(filepath.Join(dir, "cli.log"), "fmn dlq list", out)
	time.Sleep(500 * time.Millisecond) // a scale-down is applied asynchronously
	after, err := replicasOf(ctx, js, names)
	if err != nil {
		res.err = err
		return res
	}
	var b, a []string
	for _, n := range names {
		b = append(b, fmt.Sprint(before[n]))
		a = append(a, fmt.Sprint(after[n]))
		if after[n] != before[n] {
			res.changed = append(res.changed, fmt.Sprintf("%s %d→%d", n, before[n], after[n]))
		}
	}
	res.notes = append(res.notes, fmt.Sprintf("replicas of %s: before %s, after %s; `fmn dlq list` %s: %s",
		strings.Join(names, ","), strings.Join(b, ","), strings.Join(a, ","), exitText(cerr), lastOf(strings.Join(strings.Fields(string(out)), " "), 200)))
	if len(res.changed) > 0 {
		slices.Sort(res.changed)
		res.notes = append(res.notes, "CHANGED: "+strings.Join(res.changed, ", "))
	}
	return res
}
