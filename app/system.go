package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"sync"

	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/svccache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/rueidis"
)

// process is what the roles of one RunSystem share: the connections, the
// operational side (metrics, readiness), the senders' configurations and
// the work that runs until the process stops.
type process struct {
	cfg  config.Config
	opts Options
	log  *slog.Logger
	env  *Env
	sys  *System
	reg  *prometheus.Registry
	ops  *roleOps
	site notification.Site

	// senders are the sender roles' configurations, built before any
	// connection (buildSenders).
	senders senderConfigs
	// senderOpts are the options every sender starts from (needSenders),
	// senderMetrics their metrics.
	senderOpts    senders.Options
	senderMetrics *senderMetrics

	// wake is woken by Redis when the rules version changes; svcInv
	// carries Redis' invalidations of the service cache.
	wake   <-chan struct{}
	svcInv *svccache.Invalidations
	// deliveryWake is woken by Redis when the rules version changes, for
	// the users' delivery settings (needDeliverySettings).
	deliveryWake <-chan struct{}
	// lags are the projections whose lag the metrics export.
	lags []lagItem

	// run runs a role's work until the process stops; an error stops
	// every role.
	run func(name string, fn func(context.Context) error)
	// stops are called when the roles have stopped, last first.
	stops []func()
}

// RunSystem runs the given roles until ctx ends or one of them fails.
// The senders' configuration is read first, every problem reported at
// once, before anything is connected.
func RunSystem(ctx context.Context, cfg config.Config, roleNames []string, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	selected, needs, err := selectRoles(roleNames)
	if err != nil {
		return err
	}
	sc, err := buildSenders(cfg, roleNames, opts.Dev)
	if err != nil {
		return err
	}
	if slices.Contains(roleNames, roleAMQPPublisher) {
		if err := amqpPublisherConfig(cfg).Validate(); err != nil {
			return err
		}
	}
	env := &Env{Cfg: cfg, Log: log}
	defer env.Close()
	p := &process{cfg: cfg, opts: opts, log: log, env: env, sys: &System{Env: env}, senders: sc,
		site: notification.Site{Name: cfg.SiteName, PublicURL: cfg.PublicURL}}

	// The metrics and health endpoint of every role listens first, so
	// that liveness answers while the roles set up (readiness says
	// "starting" until they run).
	p.reg = prometheus.NewRegistry()
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.ops = newRoleOps(env, p.reg)
	if addr := cfg.MetricsAddr; addr != "" && addr != "off" {
		a, err := p.ops.serve(addr, log)
		if err != nil {
			return err
		}
		p.sys.MetricsAddr = a
	}
	if err := p.connect(ctx, needs); err != nil {
		return err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	p.run = func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				log.Error("role failed", "role", name, "err", err)
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	defer func() {
		for i := len(p.stops) - 1; i >= 0; i-- {
			p.stops[i]()
		}
	}()
	if needs&needDirectory != 0 {
		if err := p.startDirectory(ctx); err != nil {
			return err
		}
	}
	if needs&needSenders != 0 {
		if err := p.startSenders(ctx); err != nil {
			return err
		}
	}
	for _, r := range selected {
		if err := r.start(ctx, p); err != nil {
			return err
		}
	}
	if len(p.lags) > 0 {
		p.reg.MustRegister(&projectionLag{env: env, items: p.lags})
	}
	p.ops.started()
	if opts.Out != nil {
		printBanner(opts.Out, opts.Command, env, p.sys, roleNames)
	}
	if opts.Started != nil {
		opts.Started(p.sys)
	}
	<-ctx.Done()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// connect connects NATS (creating or reconciling the streams), and
// PostgreSQL and Redis when a role needs them, and adds their readiness
// checks.
func (p *process) connect(ctx context.Context, needs needs) error {
	env, cfg := p.env, p.cfg
	if err := env.ConnectNATS(ctx, EnsureStreams); err != nil {
		return err
	}
	if needs&needDB != 0 {
		if err := env.ConnectDB(ctx, p.opts.Dev); err != nil {
			return err
		}
		if err := Migrate(ctx, env.DB); err != nil {
			return err
		}
	}
	if needs&needRedis != 0 {
		ropt, err := rueidis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("FMN_REDIS_URL: %s", redact.Text(err.Error(), redact.URLSecrets(cfg.RedisURL)...))
		}
		p.wake = rulelog.NotifyVersion(&ropt, cfg.RedisPrefix)
		if needs&needDeliverySettings != 0 {
			p.deliveryWake = rulelog.NotifyVersion(&ropt, cfg.RedisPrefix)
		}
		p.svcInv = svccache.Hook(&ropt)
		client, err := rueidis.NewClient(ropt)
		if err != nil {
			return fmt.Errorf("FMN_REDIS_URL: cannot reach Redis at %s: %v (start it with scripts/services.sh redis)", redact.URL(cfg.RedisURL), err)
		}
		env.OnClose(client.Close)
		p.sys.Redis = client
	}
	p.ops.add(p.ops.natsCheck())
	p.reg.MustRegister(&streamSize{env: env, streams: []string{cfg.Streams.DLQ}})
	if env.DB != nil {
		p.ops.add(p.ops.postgresCheck())
	}
	return nil
}

// startDirectory builds the view of FASJSON and dist-git the consumer and
// the API share; `fmn dev` without FASJSON and without its own login
// provider serves the development users' accounts.
func (p *process) startDirectory(ctx context.Context) error {
	if p.opts.Dev && p.cfg.FASJSONURL == "" && p.cfg.OIDCIssuer == "" {
		u, err := startDevDirectory(p.env, p.log)
		if err != nil {
			return err
		}
		p.cfg.FASJSONURL, p.env.Cfg.FASJSONURL = u, u
	}
	dir, err := NewDirectory(ctx, p.cfg, p.sys.Redis, p.svcInv, p.log.With("component", "directory"))
	if err != nil {
		return err
	}
	p.sys.Directory = dir
	return nil
}

func printBanner(w io.Writer, command string, env *Env, sys *System, roles []string) {
	name := "fmn"
	if command != "" {
		name += " " + command
	}
	fmt.Fprintf(w, "%s is running roles %v (version %s)\n", name, roles, Version)
	if env.Embedded != nil {
		fmt.Fprintf(w, "  NATS (embedded):  %s   (FMN_NATS_URL=%s fmn publish FILE)\n", env.Embedded.URL(), env.Embedded.URL())
	}
	if sys.HTTPAddr != "" {
		fmt.Fprintf(w, "  HTTP:             http://%s  (web UI; /api/docs, /healthz/ready, /metrics)\n", sys.HTTPAddr)
	}
	if sys.MetricsAddr != "" {
		fmt.Fprintf(w, "  Metrics, health:  http://%s  (/metrics, /healthz/live, /healthz/ready of every role)\n", sys.MetricsAddr)
	}
	if sys.DevOIDC != nil {
		printDevLogin(w, sys.DevOIDC, env.Cfg.AdminGroups)
	}
	if sys.MailDir != "" {
		abs, _ := filepath.Abs(sys.MailDir)
		fmt.Fprintf(w, "  Mail (dev sink):  %s\n", abs)
	}
	if env.Cfg.DatabaseURL != "" && env.DB != nil {
		u, _ := url.Parse(env.Cfg.DatabaseURL)
		if u != nil {
			fmt.Fprintf(w, "  PostgreSQL:       %s%s\n", u.Host, u.Path)
		}
	}
}
