package rulelog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

func (p *Projector) streamEnd(ctx context.Context) (uint64, error) {
	info, err := p.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("rules stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// Rebuild empties the rule tables and applies the whole RULES stream again,
// in one transaction that holds the projection's lock: projectors wait
// meanwhile, readers see the old tables until it commits. It returns the
// sequence the tables then stand at, and running projectors go on from
// there. The Redis version key is set to it, also when it holds a number
// the stream never reached (a Redis kept while the stream was wiped).
func (p *Projector) Rebuild(ctx context.Context) (uint64, error) {
	if err := p.init(ctx); err != nil {
		return 0, err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := queries.New(tx)
	if _, err := q.ProjectionGetForUpdate(ctx, projectionName); err != nil {
		return 0, dbErr("lock projection state", err)
	}
	// Read the end under the lock: what a projector applies from now on
	// comes after it.
	end, err := p.streamEnd(ctx)
	if err != nil {
		return 0, err
	}
	if err := q.ProjectionReset(ctx, projectionName); err != nil {
		return 0, dbErr("reset projection state", err)
	}
	if err := q.TombstoneDeleteAll(ctx); err != nil {
		return 0, dbErr("delete tombstones", err)
	}
	if err := q.RuleDeleteAll(ctx); err != nil {
		return 0, dbErr("delete rules", err)
	}
	if err := q.UserDeleteAll(ctx); err != nil {
		return 0, dbErr("delete users", err)
	}

	var last, applied uint64
	began := time.Now()
	if end > 0 {
		oc, err := p.js.OrderedConsumer(ctx, p.cfg.Stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{wire.RulesAll},
			DeliverPolicy:  jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return 0, fmt.Errorf("read rules stream: %w", err)
		}
		it, err := oc.Messages(jetstream.PullMaxMessages(p.cfg.BatchSize))
		if err != nil {
			return 0, fmt.Errorf("read rules stream: %w", err)
		}
		defer it.Stop()
		a := applier{q: q, log: p.log, users: map[string]bool{}}
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				return 0, fmt.Errorf("read rules stream: %w", err)
			}
			md, err := m.Metadata()
			if err != nil {
				return 0, fmt.Errorf("read rules stream: %w", err)
			}
			if md.Sequence.Stream > end {
				break
			}
			if err := a.apply(ctx, streamEvent{seq: md.Sequence.Stream, subject: m.Subject(), header: m.Headers(), data: m.Data()}); err != nil {
				return 0, err
			}
			last = md.Sequence.Stream
			applied++
			// The stream's last message may have been deleted: then
			// nothing is pending after the last one there is.
			if last == end || md.NumPending == 0 {
				break
			}
		}
	}
	if last > 0 {
		if _, err := q.ProjectionSet(ctx, projectionName, int64(last)); err != nil {
			return 0, dbErr("set projection state", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	p.log.Info("rebuilt rule projection", slog.Uint64("last_seq", last), slog.Uint64("events", applied),
		slog.Duration("took", time.Since(began)))
	// Fresh planner statistics, so the consumers' incremental reloads use the
	// version index at once instead of scanning until autovacuum runs.
	if _, err := p.pool.Exec(ctx, "ANALYZE rules, rule_tombstones, users"); err != nil {
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
