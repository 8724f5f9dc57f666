package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/digest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/irc"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/senders/matrix"
)

// senderConfigs are the configurations of a process's sender roles. A nil
// one is a role the process does not run, or that `fmn dev` runs without
// its peer (its notifications wait in NOTIFY).
type senderConfigs struct {
	email  *email.Config
	matrix *matrix.Config
	irc    *irc.Config
	// devMail: `fmn dev` without FMN_SMTP_URL mails its local sink, whose
	// address email gets when the sink starts.
	devMail bool
}

// devMailURL stands for the local mail sink's address until it listens.
const devMailURL = "smtp://127.0.0.1:2525?starttls=off"

// buildSenders reads the configuration of every sender role in roles and
// reports every problem at once, each naming its setting. It opens no
// connection: RunSystem calls it before connecting anything, so that a
// bad FMN_SMTP_URL is said at once, together with a bad FMN_IRC_URL,
// whether NATS, PostgreSQL and Redis answer or not.
func buildSenders(cfg config.Config, roles []string, dev bool) (senderConfigs, error) {
	var sc senderConfigs
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if slices.Contains(roles, "sender-email") {
		url := cfg.SMTPURL
		if url == "" && dev {
			url, sc.devMail = devMailURL, true
		}
		if url == "" {
			add(errors.New("FMN_SMTP_URL: must be set for the sender-email role"))
		} else {
			c, err := email.NewConfig(url, cfg.MailFrom)
			add(err)
			sc.email = &c
		}
	}
	if slices.Contains(roles, "sender-matrix") && (cfg.MatrixURL != "" || !dev) {
		if cfg.MatrixURL == "" {
			add(errors.New("FMN_MATRIX_URL: must be set for the sender-matrix role"))
		} else {
			c, err := matrix.NewConfig(cfg.MatrixURL, cfg.MatrixToken)
			add(err)
			sc.matrix = &c
		}
	}
	if slices.Contains(roles, "sender-irc") && (cfg.IRCURL != "" || !dev) {
		c, err := irc.NewConfig(cfg.IRCURL)
		add(err)
		sc.irc = &c
	}
	if err := errors.Join(errs...); err != nil {
		return senderConfigs{}, err
	}
	return sc, nil
}

// startSenders prepares what the senders of the process share: every
// delivery outcome stored on EVENTS (for the statistics), the sent log (a
// redelivery after a lost ack is not sent again), their metrics, the
// capture of MAX_DELIVERIES advisories, and the users' delivery settings
// (pause, digest), followed from the rules projection.
func (p *process) startSenders(ctx context.Context) error {
	env, cfg, log := p.env, p.cfg, p.log
	so, err := withOutcomeEvents(env, p.opts.SenderOptions, log.With("role", "delivery-events"))
	if err != nil {
		return fmt.Errorf("delivery outcome events: %w", err)
	}
	if so.SentLog == nil {
		so.SentLog = senders.NewKVSentLog(env.JS, senders.KVSentLogConfig{Replicas: cfg.Streams.Replicas})
	}
	if so.Settings == nil {
		so.Settings = p.startDeliverySettings(ctx)
	}
	// Digests: a notification whose destination has one is held on
	// DIGEST; the flusher runs next to each channel's sender, one process
	// per channel under the lease digest-<channel>.
	so.Hold = digest.Holder(env.JS, cfg.Streams)
	so.Alongside = digest.Alongside(env.JS, cfg.Streams, so.Settings,
		senders.NewKVSentLog(env.JS, senders.KVSentLogConfig{Replicas: cfg.Streams.Replicas}), p.site,
		digest.Options{Every: cfg.DigestEvery}, lease.Config{Replicas: cfg.Streams.Replicas}, log)
	p.senderOpts = *so
	p.senderMetrics = newSenderMetrics(p.reg)
	// Dead-letters what a sender consumer gave up on under an operator's
	// MaxDeliver. Without it delivery goes on, so a setup failure is
	// logged, not fatal.
	p.run("dead-letter-advisories", func(ctx context.Context) error {
		alog := log.With("role", "dead-letter-advisories")
		if err := senders.CaptureAdvisories(ctx, env.JS, cfg.Streams, senders.AdvisoryOptions{}, alog); err != nil && ctx.Err() == nil {
			alog.Error("MAX_DELIVERIES advisories are not captured", "err", err)
		}
		return nil
	})
	return nil
}

// leasedSender prepares the options of a sender that holds a lease (IRC,
// Matrix: any number of processes may run the role, the lease lets one at
// a time send) and adds its readiness checks: the lease, and its consumer
// once a holder has created it.
func (p *process) leasedSender(channel, leaseKey string) (lease.Config, senders.Options) {
	lc := lease.Config{Replicas: p.cfg.Streams.Replicas, Status: &lease.Status{}}
	so := p.senderMetrics.channel(channel, p.senderOpts)
	p.senderMetrics.lease(channel, lc.Status)
	p.ops.consumer(p.cfg.Streams.Notify, senders.ConsumerName(channel), true)
	p.ops.lease("lease "+leaseKey, lc.Status)
	return lc, so
}

// startDeliverySettings loads the users' delivery settings and keeps them
// current (rulelog.DeliverySource): Redis' invalidation of the rules
// version wakes it, and polls (PostgreSQL every second) catch what a lost
// invalidation would miss. A first load that fails is not fatal: the
// senders retry each notification until a load works.
func (p *process) startDeliverySettings(ctx context.Context) *rulelog.DeliverySource {
	if p.sys.Delivery != nil {
		return p.sys.Delivery // the senders and the api of one process share it
	}
	log := p.log.With("role", "delivery-settings")
	src := rulelog.NewDeliverySource(rulelog.NewReader(p.env.DB, p.sys.Redis, p.cfg.RedisPrefix), log)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := src.Load(lctx); err != nil {
		log.Warn("delivery settings not loaded yet; notifications wait until they are", "err", err)
	}
	p.sys.Delivery = src
	wake := p.deliveryWake
	p.run("delivery-settings", func(ctx context.Context) error { src.Run(ctx, wake, 250*time.Millisecond); return nil })
	p.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fmn_delivery_settings_loads_total",
		Help: "Loads of the users' delivery settings by this process's senders and live feed (each time the rules projection moves)."},
		func() float64 { return float64(src.Loads()) }))
	return src
}
