package app

import (
	"context"
	"fmt"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/prometheus/client_golang/prometheus"
)

// startProjector runs the projector role: RULES applied to the rule
// tables exactly once, the version bumped in Redis after each commit.
func startProjector(ctx context.Context, p *process) error {
	env, cfg := p.env, p.cfg
	pr := rulelog.NewProjector(env.JS, env.DB, rulelog.ProjectorConfig{
		Stream: cfg.Streams.Rules, Redis: p.sys.Redis, RedisPrefix: cfg.RedisPrefix, Logger: p.log.With("role", "projector"),
	})
	if err := pr.Start(ctx); err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	p.stops = append(p.stops, pr.Stop)
	p.ops.consumer(cfg.Streams.Rules, "projector", false)
	lag := &api.LagCheck{Stream: streamLastSeq(env, cfg.Streams.Rules), Projected: rulelog.NewStore(env.DB).Projected}
	p.ops.add(api.Check{Name: "rules-projection", Fn: lag.Check})
	p.lags = append(p.lags, lagItem{projection: "rules", stream: cfg.Streams.Rules})
	registerProjectorMetrics(p.reg, pr)
	return nil
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
