package app

import (
	"context"

	"github.com/fmn-project/fmn/stats"
)

// startStats runs the stats role: the statistics projections of NOTIFY
// (notifications generated) and EVENTS (delivery outcomes).
func startStats(_ context.Context, p *process) error {
	cfg := p.cfg
	sp := stats.NewProjector(p.env.JS, p.env.DB, cfg.Streams, p.log.With("role", "stats"))
	sp.Retention = cfg.StatsRetention
	p.run("stats", sp.Run)
	p.ops.consumer(cfg.Streams.Notify, sp.Durable, false)
	p.ops.consumer(cfg.Streams.Events, sp.Durable+"-deliveries", false)
	p.lags = append(p.lags, lagItem{projection: stats.ProjectionName, stream: cfg.Streams.Notify},
		lagItem{projection: stats.DeliveriesProjectionName, stream: cfg.Streams.Events})
	return nil
}
