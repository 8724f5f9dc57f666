package stats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/nats-io/nats.go/jetstream"
)

// RebuildOptions tune Rebuild.
type RebuildOptions struct {
	// OnProgress, when set, is called now and then with the messages read
	// so far and the total to read.
	OnProgress func(done, total uint64)
}

// RebuildResult says what a rebuild did, per feed.
type RebuildResult struct {
	Feeds []FeedRebuild `json:"feeds"`
}

// FeedRebuild is the rebuild of one feed.
type FeedRebuild struct {
	Projection string `json:"projection"`
	Stream     string `json:"stream"`
	// Messages read and LastSeq, where the projection now stands.
	Messages uint64 `json:"messages"`
	LastSeq  uint64 `json:"last_seq"`
	// KeptBefore is zero when the stream still holds its whole history and
	// every bucket was recomputed; otherwise the stream has lost its oldest
	// messages, and buckets before this hour were kept as they were.
	KeptBefore time.Time `json:"kept_before,omitzero"`
}

// Rebuild recomputes the statistics from the streams, in one transaction
// holding both feeds' projection_state locks: running projectors wait
// meanwhile and go on after it; readers see the old figures until it
// commits. When a stream no longer holds its oldest messages (max age),
// the buckets of the hours it cannot restore are kept: only hours after
// its first stored message are recomputed. Buckets beyond Retention are
// not restored.
func (p *Projector) Rebuild(ctx context.Context, opts RebuildOptions) (RebuildResult, error) {
	feeds := p.feeds()
	var res RebuildResult
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := queries.New(tx)
	type plan struct {
		f          feed
		first, end uint64
		from       time.Time
	}
	var plans []plan
	var total uint64
	for _, f := range feeds {
		if err := q.ProjectionInit(ctx, f.name); err != nil {
			return res, err
		}
		if _, err := q.ProjectionGetForUpdate(ctx, f.name); err != nil {
			return res, err
		}
		// Read the stream's extent under the lock: what a projector
		// applies from now on comes after end.
		st, err := p.js.Stream(ctx, f.stream)
		if err != nil {
			return res, fmt.Errorf("stream %s: %w", f.stream, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return res, fmt.Errorf("stream %s: %w", f.stream, err)
		}
		pl := plan{f: f, first: info.State.FirstSeq, end: info.State.LastSeq}
		if pl.first > 1 && info.State.Msgs > 0 {
			// Hours before the first stored message's next hour may hold
			// counts of expired messages: keep them.
			pl.from = info.State.FirstTime.UTC().Truncate(time.Hour).Add(time.Hour)
		} else if pl.first > 1 {
			pl.from = info.State.LastTime.UTC().Truncate(time.Hour).Add(time.Hour)
		}
		if p.Retention > 0 {
			if cut := p.now().Add(-p.Retention).UTC().Truncate(time.Hour); cut.After(pl.from) {
				pl.from = cut
			}
		}
		if err := f.deleteFrom(ctx, q, pl.from); err != nil {
			return res, fmt.Errorf("clear %s: %w", f.name, err)
		}
		if err := q.ProjectionReset(ctx, f.name); err != nil {
			return res, err
		}
		if pl.end >= pl.first && info.State.Msgs > 0 {
			total += info.State.Msgs
		}
		plans = append(plans, pl)
	}
	var done uint64
	report := func() {
		if opts.OnProgress != nil {
			opts.OnProgress(done, total)
		}
	}
	report()
	for _, pl := range plans {
		c := newCounts()
		c.from = pl.from
		fr := FeedRebuild{Projection: pl.f.name, Stream: pl.f.stream}
		if pl.first > 1 {
			fr.KeptBefore = pl.from
		}
		if pl.end > 0 && pl.end >= pl.first {
			n, last, err := p.scan(ctx, pl.f, pl.end, func(r record) {
				pl.f.add(c, r)
				done++
				if done%1000 == 0 {
					report()
				}
			})
			if err != nil {
				return res, err
			}
			fr.Messages, fr.LastSeq = n, last
			if err := c.write(ctx, q); err != nil {
				return res, err
			}
			if last > 0 {
				if _, err := q.ProjectionSet(ctx, pl.f.name, int64(last)); err != nil {
					return res, err
				}
			}
		}
		res.Feeds = append(res.Feeds, fr)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	report()
	return res, nil
}

// scan reads the feed's stream from its start up to sequence end with an
// ordered consumer and returns how many messages it read and the last
// sequence.
func (p *Projector) scan(ctx context.Context, f feed, end uint64, fn func(record)) (uint64, uint64, error) {
	oc, err := p.js.OrderedConsumer(ctx, f.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", f.stream, err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", f.stream, err)
	}
	defer it.Stop()
	if info := oc.CachedInfo(); info != nil && info.NumPending == 0 {
		return 0, 0, nil
	}
	var n, last uint64
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return n, last, ctx.Err()
			}
			return n, last, fmt.Errorf("read %s: %w", f.stream, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return n, last, fmt.Errorf("read %s: %w", f.stream, err)
		}
		if md.Sequence.Stream > end {
			return n, last, nil
		}
		fn(record{seq: md.Sequence.Stream, subject: m.Subject(), header: m.Headers(), data: m.Data(), stamp: md.Timestamp})
		n++
		last = md.Sequence.Stream
		if last >= end || md.NumPending == 0 {
			return n, last, nil
		}
	}
}
