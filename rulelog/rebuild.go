package rulelog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/projection"
	"github.com/fmn-project/fmn/queries"
	"github.com/nats-io/nats.go/jetstream"
)

// Rebuild empties the rule tables and applies the whole RULES stream again,
// in one transaction that holds the projection's lock (projection.Rebuild):
// projectors wait meanwhile, readers see the old tables until it commits.
// It returns the sequence the tables then stand at, and running projectors
// go on from there. The Redis version key is set to it, also when it holds
// a number the stream never reached (a Redis kept while the stream was
// wiped).
func (p *Projector) Rebuild(ctx context.Context) (uint64, error) {
	began := time.Now()
	done, err := projection.Rebuild(ctx, p.js, p.pool, []projection.Target{{
		Feed: p.feed(),
		Clear: func(ctx context.Context, w *projection.Writer, _ jetstream.StreamState) (projection.Applier, error) {
			q := queries.New(w)
			if err := q.TombstoneDeleteAll(ctx); err != nil {
				return nil, dbErr("delete tombstones", err)
			}
			if err := q.RuleDeleteAll(ctx); err != nil {
				return nil, dbErr("delete rules", err)
			}
			if err := q.DeliverySettingsDeleteAll(ctx); err != nil {
				return nil, dbErr("delete delivery settings", err)
			}
			if err := q.UserDeleteAll(ctx); err != nil {
				return nil, dbErr("delete users", err)
			}
			// Every user the stream names gets a fresh version as it is
			// applied again; one it no longer names has none.
			if err := q.UserRulesVersionDeleteAll(ctx); err != nil {
				return nil, dbErr("delete answer versions", err)
			}
			return &applier{q: q, w: w, log: p.log, users: map[string]bool{}}, nil
		},
	}}, nil)
	if err != nil {
		return 0, err
	}
	last := done[0].LastSeq
	p.log.Info("rebuilt rule projection", slog.Uint64("last_seq", last), slog.Uint64("events", done[0].Messages),
		slog.Duration("took", time.Since(began)))
	// Fresh planner statistics, so the consumers' incremental reloads use the
	// version index at once instead of scanning until autovacuum runs.
	if _, err := p.pool.Exec(ctx, analyzeTables+", delivery_settings"); err != nil {
		p.log.Warn("analyze after rebuild", slog.Any("error", err))
	}

	ceiling, err := p.streamEnd(ctx)
	if err != nil {
		return last, err
	}
	// The note first: consumers following it do not wait for Redis.
	if nc := p.js.Conn(); nc != nil {
		_ = nc.Publish(p.cfg.ProgressSubject, strconv.AppendUint(nil, last, 10))
	}
	if err := p.setVersion(ctx, last, ceiling); err != nil {
		return last, fmt.Errorf("set rules version in Redis: %w", err)
	}
	return last, nil
}

func (p *Projector) streamEnd(ctx context.Context) (uint64, error) {
	st, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("rules stream %s: %w", p.cfg.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("rules stream info: %w", err)
	}
	return info.State.LastSeq, nil
}
