package app

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/internal/gctune"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// startConsumer runs the consumer role: the matcher, from BUS to NOTIFY,
// its rule index kept current with the rules projection, and ownership
// rules with dist-git.
func startConsumer(ctx context.Context, p *process) error {
	env, cfg, log := p.env, p.cfg, p.log.With("role", "consumer")
	reader := rulelog.NewReader(env.DB, p.sys.Redis, cfg.RedisPrefix)
	m := consumer.NewMatcher(reader, lookups(p.sys.Directory), p.site, log)
	if err := followOwnership(ctx, env, m, p.sys.Directory, p.run, log); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	// The projector's progress notes bring rule changes to matching
	// without Redis (see Matcher.RunSync).
	sub, err := rulelog.FollowProgress(env.NC, wire.RulesProgressSubject, m.Noted)
	if err != nil {
		return fmt.Errorf("consumer: follow the rules projection: %w", err)
	}
	p.stops = append(p.stops, func() { _ = sub.Unsubscribe() })
	if err := m.Sync(ctx); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	c := consumer.New(env.NC, cfg.Streams, m, consumer.Config{
		AckWait: cfg.ConsumerAckWait, MaxAckPending: cfg.ConsumerMaxAckPending, InFlight: cfg.ConsumerInFlight,
		Workers: cfg.ConsumerWorkers,
	}, log)
	p.sys.Matcher, p.sys.Consumer = m, c
	// The matcher allocates per bus message mostly what the NATS client
	// copies, over a large, lasting index: a heap floor makes its GC
	// cycles rarer.
	if release, headroom := gctune.Floor(uint64(cfg.ConsumerGCHeadroomMiB) << 20); headroom > 0 {
		p.stops = append(p.stops, release)
		log.Info("GC heap headroom", "mib", headroom>>20, "gogc", gctune.Current())
	} else if cfg.ConsumerGCHeadroomMiB > 0 {
		log.Info("GOGC is set: FMN_CONSUMER_GC_HEADROOM left unused", "gogc", os.Getenv("GOGC"))
	}
	registerConsumerMetrics(p.reg, c, m)
	p.ops.consumer(cfg.Streams.Bus, c.ConsumerConfig().Durable, false)
	wake := p.wake
	p.run("consumer-sync", func(ctx context.Context) error { m.RunSync(ctx, wake, 500*time.Millisecond); return nil })
	p.run("consumer", c.Run)
	return nil
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
