package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/wire"
)

// role is one `fmn serve --roles R` process and the node it talks to.
type role struct {
	name  string // consumer-a
	roles string // consumer
	node  int    // index into the cluster's nodes
	port  int    // FMN_HTTP_ADDR (the api role)
	mport int    // FMN_METRICS_ADDR
	proc  *proc
	log   string
	// restarts by the harness (a trial's fault), not counted as exits
	starts int
}

// The deployment of issue 15: two consumers on different nodes, the
// projector, the statistics, one email sender and the API, each its own
// process. The projector starts first and creates the streams.
func roleSet() []*role {
	return []*role{
		{name: "projector", roles: "projector", node: 2},
		{name: "consumer-a", roles: "consumer", node: 0},
		{name: "consumer-b", roles: "consumer", node: 1},
		{name: "stats", roles: "stats", node: 0},
		{name: "sender-email", roles: "sender-email", node: 1},
		{name: "api", roles: "api", node: 2},
	}
}

// system is everything one trial runs on.
type system struct {
	h     *harness
	dir   string
	c     *cluster
	pg    *pgInstance
	redis *redisInstance
	roles []*role
	nc    *nats.Conn
	js    jetstream.JetStream

	pub *publisher // the trial's workload, once it started

	mu    sync.Mutex
	notes []string
}

// dead says whether a role's process ended without the harness asking.
func (s *system) dead(name string) bool {
	r := s.role(name)
	return r != nil && r.proc != nil && r.proc.exited() && !r.proc.wasIntended()
}

// clock is a time relative to the first publish of the workload.
func (s *system) clock(t time.Time) string {
	if s.pub == nil || s.pub.startTime().IsZero() || t.Before(s.pub.startTime()) {
		return fmt.Sprintf("%.1fs after it started, before the workload", t.Sub(s.h.trialStart).Seconds())
	}
	return fmt.Sprintf("at %.1fs of the workload", t.Sub(s.pub.startTime()).Seconds())
}

// waitProjection waits until the rules projection has applied every event
// of RULES, and says how long that took.
func (s *system) waitProjection(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var last uint64
	var done int64
	var err error
	for {
		err = func() error {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			st, err := s.js.Stream(cctx, "RULES")
			if err != nil {
				return err
			}
			info, err := st.Info(cctx)
			if err != nil {
				return err
			}
			last = info.State.LastSeq
			c, err := pgx.Connect(cctx, s.pg.dsn("fmn"))
			if err != nil {
				return err
			}
			defer c.Close(cctx)
			return c.QueryRow(cctx, `SELECT coalesce(max(last_seq),0) FROM projection_state WHERE name = 'rules'`).Scan(&done)
		}()
		if err == nil && uint64(done) >= last {
			return time.Since(start), nil
		}
		if s.dead("projector") {
			return time.Since(start), errors.New("the projector is not running")
		}
		if ctx.Err() != nil || time.Since(start) > timeout {
			if err != nil {
				return time.Since(start), fmt.Errorf("not caught up after %s: %v", timeout, err)
			}
			return time.Since(start), fmt.Errorf("at sequence %d of %d after %s", done, last, timeout)
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

func (s *system) note(format string, args ...any) {
	s.mu.Lock()
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *system) role(name string) *role {
	for _, r := range s.roles {
		if r.name == name {
			return r
		}
	}
	return nil
}

// baseEnv is the harness's environment without any FMN_* setting, so that
// nothing of the caller's configuration leaks into the trial.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FMN_") {
			env = append(env, kv)
		}
	}
	return env
}

// fmnEnv is the configuration of an fmn process talking to node.
func (s *system) fmnEnv(node int, replicas bool) []string {
	env := append(baseEnv(),
		"FMN_NATS_URL="+s.c.nodes[node].url(),
		"FMN_DATABASE_URL="+s.pg.dsn("fmn"),
		"FMN_REDIS_URL="+s.redis.url(),
		"FMN_SMTP_URL=smtp://"+s.h.sink.addr+"?starttls=off",
		"FMN_MAIL_FROM=fmn-chaos@example.org",
		"FMN_PUBLIC_URL=http://fmn.example.org",
		"FMN_DATA_DIR="+filepath.Join(s.dir, "data"),
		"FMN_LOG_LEVEL=info",
	)
	if replicas {
		env = append(env, "FMN_STREAM_REPLICAS=3")
	}
	return env
}

func (s *system) startRole(ctx context.Context, r *role) error {
	env := s.fmnEnv(r.node, true)
	// Each process its own ports: the API's HTTP address, and the metrics
	// and health address every role serves (FMN_METRICS_ADDR; older
	// builds ignore it).
	for _, p := range []*int{&r.port, &r.mport} {
		if *p == 0 {
			v, err := s.h.ports.get()
			if err != nil {
				return err
			}
			*p = v
		}
	}
	env = append(env, fmt.Sprintf("FMN_HTTP_ADDR=127.0.0.1:%d", r.port), fmt.Sprintf("FMN_METRICS_ADDR=127.0.0.1:%d", r.mport))
	r.log = filepath.Join(s.dir, r.name+".log")
	// `fmn serve` prints its banner ("fmn … is running roles […]") on
	// standard output once every role runs.
	p, err := s.h.procs.start(r.name, r.log, []string{s.h.fmnBin, "serve", "--roles", r.roles},
		startOpts{dir: s.dir, env: env, ready: "running roles"})
	if err != nil {
		return err
	}
	r.proc = p
	r.starts++
	return nil
}

// startSystem brings up a fresh cluster, PostgreSQL, Redis and the roles.
// cold starts every role at the same instant against the fresh cluster;
// otherwise they start one after the other, each once the previous is
// ready, as an operator would (or a supervisor with ordering).
func (h *harness) startSystem(ctx context.Context, name string, cold bool) (*system, error) {
	dir := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	s := &system{h: h, dir: dir}
	var err error
	if s.c, err = newCluster(ctx, h.procs, h.ports, h.natsBin, dir); err != nil {
		return s, err
	}
	if s.pg, err = newPG(ctx, h.pgTemplate, dir, h.ports); err != nil {
		return s, err
	}
	if s.redis, err = newRedis(ctx, h.procs, h.ports, dir); err != nil {
		return s, err
	}
	if s.nc, err = nats.Connect(s.c.urls(), nats.Name("fmn-chaos"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.NoCallbacksAfterClientClose()); err != nil {
		return s, err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return s, err
	}
	s.roles = roleSet()
	if cold {
		for _, r := range s.roles {
			if err := s.startRole(ctx, r); err != nil {
				return s, err
			}
		}
		for _, r := range s.roles {
			if err := r.proc.waitReady(ctx, 60*time.Second); err != nil && !r.proc.exited() {
				s.note("cold start: %v", err)
			}
		}
		return s, nil
	}
	for _, r := range s.roles {
		var err error
		for attempt := 1; attempt <= 2; attempt++ {
			if err = s.startRole(ctx, r); err != nil {
				return s, err
			}
			if err = r.proc.waitReady(ctx, 60*time.Second); err == nil {
				break
			}
			r.proc.kill9()
			if ctx.Err() != nil {
				return s, ctx.Err()
			}
			s.note("start of %s failed once (%v); started again", r.name, err)
		}
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// addRule runs `fmn rules add USER FILE` against node.
func (s *system) addRule(ctx context.Context, user string, node int) error {
	f := filepath.Join(s.dir, "rule-"+user+".json")
	if err := os.WriteFile(f, ruleJSON(user), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.h.fmnBin, "rules", "add", user, f)
	cmd.Env = s.fmnEnv(node, true)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := runCmd(cmd)
	appendLog(filepath.Join(s.dir, "cli.log"), "fmn rules add "+user, out)
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(lastOf(string(out), 300)))
	}
	return nil
}

func appendLog(path, what string, b []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "==== %s %s\n%s\n", time.Now().Format("15:04:05.000"), what, b)
}

func lastOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// stop ends every process of the system and removes nothing (the
// harness removes its whole directory at the end).
func (s *system) stop() {
	if s.nc != nil {
		s.nc.Close()
	}
	for _, r := range s.roles {
		if r.proc != nil && !r.proc.exited() {
			r.proc.markIntended()
			r.proc.signal(syscall.SIGCONT)
			r.proc.signal(syscall.SIGKILL)
		}
	}
	for _, r := range s.roles {
		if r.proc != nil {
			<-r.proc.done
		}
	}
	if s.redis != nil && s.redis.proc != nil && !s.redis.proc.exited() {
		s.redis.proc.kill9()
	}
	if s.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := s.pg.stop(ctx, "immediate"); err != nil {
			s.pg.kill()
		}
		cancel()
	}
	if s.c != nil {
		for _, n := range s.c.nodes {
			if n.proc != nil && !n.proc.exited() {
				n.proc.kill9()
			}
		}
	}
}

// exits lists the role processes that ended without the harness asking.
func (s *system) exits() []string {
	var out []string
	for _, r := range s.roles {
		if r.proc != nil && r.proc.exited() && !r.proc.wasIntended() {
			out = append(out, fmt.Sprintf("%s EXITED %s: %s", r.name, s.clock(r.proc.exitAt), lastLines(r.log, 1)))
		}
	}
	return out
}

// notifyCount is the number of notifications in NOTIFY for channel: what
// the consumers generated, each once (the stream drops duplicates by
// Nats-Msg-Id).
func (s *system) notifyCount(ctx context.Context, channel string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, "NOTIFY")
	if err != nil {
		return 0, err
	}
	subj := wire.NotifySubject(channel)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, err
	}
	return info.State.Subjects[subj], nil
}

// statsCounted reads the statistics projection: notifications generated
// per rule (rule_generated, which users see as generated_last_week) and
// per channel (generated_stats),
// and the delivery attempts that succeeded (delivery_stats, result sent).
func (s *system) statsCounted(ctx context.Context) (perRule, perChannel, sent int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.pg.dsn("fmn"))
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close(ctx)
	if err := c.QueryRow(ctx, `SELECT coalesce(sum(count),0)::bigint FROM rule_generated`).Scan(&perRule); err != nil {
		return 0, 0, 0, err
	}
	if err := c.QueryRow(ctx, `SELECT coalesce(sum(count),0)::bigint FROM generated_stats WHERE dimension = 'channel' AND key = 'email'`).Scan(&perChannel); err != nil {
		return 0, 0, 0, err
	}
	err = c.QueryRow(ctx, `SELECT coalesce(sum(count),0)::bigint FROM delivery_stats WHERE channel = 'email' AND result = 'sent'`).Scan(&sent)
	return perRule, perChannel, sent, err
}

// replicas reads the replicas of every stream.
func replicasOf(ctx context.Context, js jetstream.JetStream, names []string) (map[string]int, error) {
	out := map[string]int{}
	var errs []error
	for _, n := range names {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := js.Stream(cctx, n)
		if err == nil {
			var info *jetstream.StreamInfo
			info, err = st.Info(cctx)
			if err == nil {
				out[n] = info.Config.Replicas
			}
		}
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return out, errors.Join(errs...)
}

// leaders names the nodes leading the meta group, the streams BUS and
// NOTIFY and their consumers "matcher" and "sender-email".
type leaders struct{ meta, bus, notify, matcher, sender string }

func (s *system) leaders(ctx context.Context) leaders {
	l := leaders{meta: s.c.metaLeader()}
	get := func(stream, consumer string, into *string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := s.js.Stream(cctx, stream)
		if err != nil {
			return
		}
		if consumer == "" {
			if info, err := st.Info(cctx); err == nil && info.Cluster != nil {
				*into = info.Cluster.Leader
			}
			return
		}
		if c, err := st.Consumer(cctx, consumer); err == nil {
			if info := c.CachedInfo(); info != nil && info.Cluster != nil {
				*into = info.Cluster.Leader
			}
		}
	}
	get("BUS", "", &l.bus)
	get("NOTIFY", "", &l.notify)
	get("BUS", "matcher", &l.matcher)
	get("NOTIFY", "sender-email", &l.sender)
	return l
}

// of says what node leads.
func (l leaders) of(node string) string {
	var out []string
	for _, x := range []struct{ name, leader string }{
		{"meta", l.meta}, {"BUS", l.bus}, {"NOTIFY", l.notify},
		{"consumer matcher", l.matcher}, {"consumer sender-email", l.sender},
	} {
		if x.leader == node {
			out = append(out, x.name)
		}
	}
	if len(out) == 0 {
		return "leads nothing"
	}
	return "leader of " + strings.Join(out, ", ")
}

func (l leaders) String() string {
	return fmt.Sprintf("meta %s, BUS %s, NOTIFY %s, matcher %s, sender-email %s", l.meta, l.bus, l.notify, l.matcher, l.sender)
}
