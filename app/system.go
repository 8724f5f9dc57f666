package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/devoidc"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/irc"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/senders/matrix"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/svccache"
	"github.com/fmn-project/fmn/ui"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/rueidis"
)

// Options tune RunSystem.
type Options struct {
	// Dev creates the database when missing and runs a local mail sink
	// when FMN_SMTP_URL is empty.
	Dev bool
	Log *slog.Logger
	// Out receives the start banner (the addresses to use).
	Out io.Writer
	// Command names the command in the banner ("dev", "serve").
	Command string
	// Started, when set, is called once every role runs.
	Started func(*System)
	// SenderOptions override the senders' retry settings (tests).
	SenderOptions *senders.Options
}

// System is a running set of roles, as tests see it.
type System struct {
	Env      *Env
	Redis    rueidis.Client
	Matcher  *consumer.Matcher
	Consumer *consumer.Consumer
	// Directory answers about accounts and dist-git ownership through the
	// shared service cache (nil when FASJSON and dist-git are not set).
	Directory *directory.Directory
	HTTPAddr  string
	// MetricsAddr is where /metrics and /healthz/* of every role listen
	// (FMN_METRICS_ADDR; empty when off).
	MetricsAddr string
	MailDir     string
	// DevOIDC is `fmn dev`'s login provider, when FMN_OIDC_ISSUER is empty.
	DevOIDC *devoidc.Provider
	// PreviewNC is the api role's NATS connection for rule previews, apart
	// from Env.NC, which every other role uses.
	PreviewNC *nats.Conn
}

// RunSystem runs the given roles until ctx ends or one of them fails.
func RunSystem(ctx context.Context, cfg config.Config, roles []string, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	has := func(r string) bool { return slices.Contains(roles, r) }
	env := &Env{Cfg: cfg, Log: log}
	defer env.Close()
	sys := &System{Env: env}

	// The metrics and health endpoint of every role listens first, so
	// that liveness answers while the roles set up (readiness says
	// "starting" until they run).
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rops := newRoleOps(env, reg)
	if addr := cfg.MetricsAddr; addr != "" && addr != "off" {
		a, err := rops.serve(addr, log)
		if err != nil {
			return err
		}
		sys.MetricsAddr = a
	}

	if err := env.ConnectNATS(ctx, EnsureStreams); err != nil {
		return err
	}
	if has("projector") || has("consumer") || has("stats") || has("api") {
		if err := env.ConnectDB(ctx, opts.Dev); err != nil {
			return err
		}
		if err := Migrate(ctx, env.DB); err != nil {
			return err
		}
	}
	var wake <-chan struct{}
	var svcInv *svccache.Invalidations
	if has("projector") || has("consumer") || has("api") {
		ropt, err := rueidis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("FMN_REDIS_URL: %s", redact.Text(err.Error(), redact.URLSecrets(cfg.RedisURL)...))
		}
		wake = rulelog.NotifyVersion(&ropt, cfg.RedisPrefix)
		svcInv = svccache.Hook(&ropt)
		client, err := rueidis.NewClient(ropt)
		if err != nil {
			return fmt.Errorf("FMN_REDIS_URL: cannot reach Redis at %s: %v (start it with scripts/services.sh redis)", redact.URL(cfg.RedisURL), err)
		}
		env.closers = append(env.closers, client.Close)
		sys.Redis = client
	}
	site := notification.Site{Name: cfg.SiteName, PublicURL: cfg.PublicURL}
	rops.add(rops.natsCheck())
	reg.MustRegister(&streamSize{env: env, streams: []string{cfg.Streams.DLQ}})
	if env.DB != nil {
		rops.add(rops.postgresCheck())
	}
	var lags []lagItem

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				log.Error("role failed", "role", name, "err", err)
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	if opts.Dev && cfg.FASJSONURL == "" && cfg.OIDCIssuer == "" && (has("consumer") || has("api")) {
		u, err := startDevDirectory(env, log)
		if err != nil {
			return err
		}
		cfg.FASJSONURL, env.Cfg.FASJSONURL = u, u
	}
	if has("consumer") || has("api") {
		dir, err := newDirectory(ctx, cfg, sys.Redis, svcInv, log.With("component", "directory"))
		if err != nil {
			return err
		}
		sys.Directory = dir
	}

	if has("projector") {
		p := rulelog.NewProjector(env.JS, env.DB, rulelog.ProjectorConfig{
			Stream: cfg.Streams.Rules, Redis: sys.Redis, RedisPrefix: cfg.RedisPrefix, Logger: log.With("role", "projector"),
		})
		if err := p.Start(ctx); err != nil {
			return fmt.Errorf("projector: %w", err)
		}
		defer p.Stop()
		rops.consumer(cfg.Streams.Rules, "projector", false)
		lag := &api.LagCheck{Stream: streamLastSeq(env, cfg.Streams.Rules), Projected: rulelog.NewStore(env.DB).Projected}
		rops.add(api.Check{Name: "rules-projection", Fn: lag.Check})
		lags = append(lags, lagItem{projection: "rules", stream: cfg.Streams.Rules})
		registerProjectorMetrics(reg, p)
	}
	if has("consumer") {
		reader := rulelog.NewReader(env.DB, sys.Redis, cfg.RedisPrefix)
		m := consumer.NewMatcher(reader, lookups(sys.Directory), site, log.With("role", "consumer"))
		if err := followOwnership(ctx, env, m, sys.Directory, run, log.With("role", "consumer")); err != nil {
			return fmt.Errorf("consumer: %w", err)
		}
		// The projector's progress notes bring rule changes to matching
		// without Redis (see Matcher.RunSync).
		sub, err := rulelog.FollowProgress(env.NC, rulelog.DefaultProgressSubject, m.Noted)
		if err != nil {
			return fmt.Errorf("consumer: follow the rules projection: %w", err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := m.Sync(ctx); err != nil {
			return fmt.Errorf("consumer: %w", err)
		}
		c := consumer.New(env.NC, cfg.Streams, m, consumer.Config{
			AckWait: cfg.ConsumerAckWait, MaxAckPending: cfg.ConsumerMaxAckPending, InFlight: cfg.ConsumerInFlight,
		}, log.With("role", "consumer"))
		sys.Matcher, sys.Consumer = m, c
		registerConsumerMetrics(reg, c, m)
		rops.consumer(cfg.Streams.Bus, c.ConsumerConfig().Durable, false)
		run("consumer-sync", func(ctx context.Context) error { m.RunSync(ctx, wake, 500*time.Millisecond); return nil })
		run("consumer", c.Run)
	}
	if has("stats") {
		sp := stats.NewProjector(env.JS, env.DB, cfg.Streams, log.With("role", "stats"))
		sp.Retention = cfg.StatsRetention
		run("stats", sp.Run)
		rops.consumer(cfg.Streams.Notify, sp.Durable, false)
		rops.consumer(cfg.Streams.Events, sp.Durable+"-deliveries", false)
		lags = append(lags, lagItem{projection: stats.ProjectionName, stream: cfg.Streams.Notify},
			lagItem{projection: stats.DeliveriesProjectionName, stream: cfg.Streams.Events})
	}
	if len(lags) > 0 {
		reg.MustRegister(&projectionLag{env: env, items: lags})
	}
	var smetrics *senderMetrics
	if slices.ContainsFunc(roles, func(r string) bool { return strings.HasPrefix(r, "sender-") }) {
		// Every sender reports its delivery outcomes to EVENTS, for the
		// statistics.
		so, err := withOutcomeEvents(env, opts.SenderOptions, log.With("role", "delivery-events"))
		if err != nil {
			return fmt.Errorf("delivery outcome events: %w", err)
		}
		// A redelivery after a lost ack is not sent again.
		if so.SentLog == nil {
			so.SentLog = senders.NewKVSentLog(env.JS, senders.KVSentLogConfig{Replicas: cfg.Streams.Replicas})
		}
		opts.SenderOptions = so
		smetrics = newSenderMetrics(reg)
	}
	if has("sender-email") {
		smtpURL := cfg.SMTPURL
		if smtpURL == "" && opts.Dev {
			dir := filepath.Join(cfg.DataDir, "mail")
			dm, err := startDevMail(dir, log.With("role", "dev-mail"))
			if err != nil {
				return fmt.Errorf("dev mail sink: %w", err)
			}
			env.closers = append(env.closers, func() { _ = dm.Close() })
			smtpURL = "smtp://" + dm.addr + "?starttls=off"
			sys.MailDir = dir
		}
		if smtpURL == "" {
			return errors.New("FMN_SMTP_URL: must be set for the sender-email role")
		}
		ecfg, err := email.NewConfig(smtpURL, cfg.MailFrom)
		if err != nil {
			return err
		}
		sopts := senders.Options{}
		if opts.SenderOptions != nil {
			sopts = *opts.SenderOptions
		}
		if sopts.Workers == 0 {
			sopts.Workers = cfg.SenderEmailWorkers
		}
		// Every worker keeps its SMTP session between messages.
		ecfg.MaxIdleConns = max(ecfg.MaxIdleConns, sopts.Workers)
		s, err := email.New(ecfg, log.With("role", "sender-email"))
		if err != nil {
			return err
		}
		defer s.Close()
		sopts = smetrics.channel(email.Channel, sopts)
		rops.consumer(cfg.Streams.Notify, senders.ConsumerName(email.Channel), false)
		rops.breaker("smtp-relay", sopts.Breaker)
		run("sender-email", func(ctx context.Context) error {
			return senders.Run(ctx, env.JS, cfg.Streams, s, sopts, log.With("role", "sender-email"))
		})
	}
	if has("sender-matrix") && cfg.MatrixURL == "" && opts.Dev {
		log.Info("FMN_MATRIX_URL is not set: Matrix notifications wait in NOTIFY", "role", "sender-matrix")
	} else if has("sender-matrix") {
		if cfg.MatrixURL == "" {
			return errors.New("FMN_MATRIX_URL: must be set for the sender-matrix role")
		}
		mcfg, err := matrix.NewConfig(cfg.MatrixURL, cfg.MatrixToken)
		if err != nil {
			return err
		}
		sopts := senders.Options{}
		if opts.SenderOptions != nil {
			sopts = *opts.SenderOptions
		}
		// Any number of processes may run this role; the lease lets one
		// at a time send as the bot.
		lc := lease.Config{Replicas: cfg.Streams.Replicas, Status: &lease.Status{}}
		sopts = leasedSenderOps(rops, smetrics, cfg, "matrix", matrix.LeaseKey, lc.Status, sopts)
		run("sender-matrix", func(ctx context.Context) error {
			return matrix.Run(ctx, env.JS, cfg.Streams, mcfg, lc, sopts, log.With("role", "sender-matrix"))
		})
	}
	if has("sender-irc") && cfg.IRCURL == "" && opts.Dev {
		log.Info("FMN_IRC_URL is not set: IRC notifications wait in NOTIFY", "role", "sender-irc")
	} else if has("sender-irc") {
		icfg, err := irc.NewConfig(cfg.IRCURL)
		if err != nil {
			return err
		}
		sopts := senders.Options{}
		if opts.SenderOptions != nil {
			sopts = *opts.SenderOptions
		}
		// Any number of processes may run this role; the lease lets one
		// at a time hold the IRC connection.
		lc := lease.Config{Replicas: cfg.Streams.Replicas, Status: &lease.Status{}}
		sopts = leasedSenderOps(rops, smetrics, cfg, "irc", irc.LeaseKey, lc.Status, sopts)
		run("sender-irc", func(ctx context.Context) error {
			return irc.Run(ctx, env.JS, cfg.Streams, icfg, lc, sopts, log.With("role", "sender-irc"))
		})
	}
	if slices.ContainsFunc(roles, func(r string) bool { return strings.HasPrefix(r, "sender-") }) {
		// Dead-letters what a sender consumer gave up on under an
		// operator's MaxDeliver. Without it delivery goes on, so a setup
		// failure is logged, not fatal.
		run("dead-letter-advisories", func(ctx context.Context) error {
			alog := log.With("role", "dead-letter-advisories")
			if err := senders.CaptureAdvisories(ctx, env.JS, cfg.Streams, senders.AdvisoryOptions{}, alog); err != nil && ctx.Err() == nil {
				alog.Error("MAX_DELIVERIES advisories are not captured", "err", err)
			}
			return nil
		})
	}
	if has("api") {
		if opts.Dev && env.Cfg.OIDCIssuer == "" {
			p, err := startDevLogin(env, log)
			if err != nil {
				return err
			}
			sys.DevOIDC = p
		}
		addr, err := serveHTTP(ctx, env, sys, reg, run)
		if err != nil {
			return err
		}
		sys.HTTPAddr = addr
	}
	rops.started()
	if opts.Out != nil {
		printBanner(opts.Out, opts.Command, env, sys, roles)
	}
	if opts.Started != nil {
		opts.Started(sys)
	}
	<-ctx.Done()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func serveHTTP(ctx context.Context, env *Env, sys *System, reg *prometheus.Registry, run func(string, func(context.Context) error)) (string, error) {
	mux := http.NewServeMux()
	ops := &api.Ops{Registry: reg, Checks: []api.Check{
		{Name: "nats", Fn: func(context.Context) error {
			if env.NC.Status() != nats.CONNECTED {
				return fmt.Errorf("NATS connection is %s", env.NC.Status())
			}
			return nil
		}},
		{Name: "postgres", Fn: func(ctx context.Context) error { return env.DB.Ping(ctx) }},
		{Name: "redis", Fn: func(ctx context.Context) error {
			return sys.Redis.Do(ctx, sys.Redis.B().Ping().Build()).Error()
		}},
	}}
	// The REST API under /api/, which adds the rules projection to the
	// readiness checks.
	if err := registerAPI(ctx, env, sys, reg, mux, ops, run); err != nil {
		return "", err
	}
	ops.Register(mux)
	// The web UI answers every path no other handler claims (SPA fallback).
	mux.Handle("/", ui.Handler(ui.Config{
		OIDCIssuer: env.Cfg.OIDCIssuer, OIDCClientID: env.Cfg.OIDCClientID, OIDCScopes: env.Cfg.OIDCScopes,
		PublicURL: env.Cfg.PublicURL, SiteName: env.Cfg.SiteName,
	}))
	l, err := net.Listen("tcp", env.Cfg.HTTPAddr)
	if err != nil {
		return "", fmt.Errorf("FMN_HTTP_ADDR: %w", err)
	}
	// IdleTimeout closes keep-alive connections that sit idle, so that
	// idle clients cannot hold connections (and their memory) forever; a
	// live stream is not idle (it writes a heartbeat).
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		IdleTimeout: 2 * time.Minute}
	run("api", func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return l.Addr().String(), nil
}

func registerConsumerMetrics(reg *prometheus.Registry, c *consumer.Consumer, m *consumer.Matcher) {
	counter := func(name, help string, f func() int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	counter("fmn_consumer_messages_total", "Bus messages handled by the matcher.", c.Stats.Messages.Load)
	counter("fmn_consumer_notifications_total", "Notifications published.", c.Stats.Notifications.Load)
	counter("fmn_consumer_dead_letters_total", "Bus messages dead-lettered.", c.Stats.DeadLetters.Load)
	counter("fmn_consumer_retries_total", "Bus messages given back for redelivery.", c.Stats.Retries.Load)
	counter("fmn_consumer_deprecated_total", "Bus messages of deprecated schemas: counted, not notified (the app sends them with a newer schema too).", c.Stats.Deprecated.Load)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fmn_consumer_rules", Help: "Enabled rules in the matcher's index."},
		func() float64 { return float64(m.RuleCount()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fmn_consumer_rules_unresolved", Help: "Ownership rules whose owned artifacts could not be looked up yet."}, func() float64 { return float64(m.Unresolved()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fmn_consumer_rules_version", Help: "Rule-set version the matcher reflects."},
		func() float64 { return float64(m.Version()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fmn_consumer_rule_propagation_fallback",
		Help: "1 while the rules version cannot be read from Redis: rule changes reach matching through the projector's NATS notes and polls of PostgreSQL."},
		func() float64 {
			if m.PropagationFallback() {
				return 1
			}
			return 0
		}))
	counter("fmn_consumer_rule_propagation_fallback_polls_total", "Polls of PostgreSQL for rule changes made because Redis was unreachable.", m.FallbackPolls)
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

// leasedSenderOps prepares the options of a sender that holds a lease (IRC,
// Matrix) and adds its readiness checks: the lease, and its consumer once
// a holder has created it.
func leasedSenderOps(rops *roleOps, m *senderMetrics, cfg config.Config, channel, leaseKey string, st *lease.Status, so senders.Options) senders.Options {
	so = m.channel(channel, so)
	m.lease(channel, st)
	rops.consumer(cfg.Streams.Notify, senders.ConsumerName(channel), true)
	rops.lease("lease "+leaseKey, st)
	return so
}

// streamLastSeq reads a stream's last sequence.
func streamLastSeq(env *Env, stream string) func(context.Context) (uint64, error) {
	return func(ctx context.Context) (uint64, error) {
		st, err := env.JS.Stream(ctx, stream)
		if err != nil {
			return 0, err
		}
		return st.CachedInfo().State.LastSeq, nil
	}
}

func registerProjectorMetrics(reg *prometheus.Registry, p *rulelog.Projector) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fmn_projector_applied_total",
		Help: "Rule events this projector applied to the tables (gap fills included)."},
		func() float64 { return float64(p.Stats().Applied) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fmn_projector_skipped_total",
		Help: "Deliveries of rule events the tables already had (redeliveries, other instances)."},
		func() float64 { return float64(p.Stats().Skipped) }))
}
