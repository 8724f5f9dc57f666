package stats

import (
	"context"
	"time"

	"github.com/fmn-project/fmn/projection"
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
// holding both feeds' projection_state locks (projection.Rebuild): running
// projectors wait meanwhile and go on after it; readers see the old
// figures until it commits. When a stream no longer holds its oldest
// messages (max age), the buckets of the hours it cannot restore are kept:
// only hours after its first stored message are recomputed. Buckets beyond
// Retention are not restored.
func (p *Projector) Rebuild(ctx context.Context, opts RebuildOptions) (RebuildResult, error) {
	var res RebuildResult
	feeds := p.feeds()
	from := make([]time.Time, len(feeds))
	targets := make([]projection.Target, len(feeds))
	for i, f := range feeds {
		targets[i] = projection.Target{Feed: f.Feed,
			Clear: func(ctx context.Context, w *projection.Writer, st jetstream.StreamState) (projection.Applier, error) {
				q := queries.New(w)
				from[i] = p.rebuildFrom(st)
				if err := f.deleteFrom(ctx, q, from[i]); err != nil {
					return nil, err
				}
				c := newCounts()
				c.from = from[i]
				return &batch{q: q, c: c, add: f.add}, nil
			}}
	}
	done, err := projection.Rebuild(ctx, p.js, p.pool, targets, opts.OnProgress)
	if err != nil {
		return res, err
	}
	for i, d := range done {
		fr := FeedRebuild{Projection: d.Name, Stream: d.Stream, Messages: d.Messages, LastSeq: d.LastSeq}
		if d.State.FirstSeq > 1 {
			fr.KeptBefore = from[i]
		}
		res.Feeds = append(res.Feeds, fr)
	}
	return res, nil
}

// rebuildFrom is the hour from which a rebuild recomputes the buckets of a
// stream in state st: the first hour after its first stored message when
// it lost older ones, or after its last one when it lost them all; and
// not before Retention.
func (p *Projector) rebuildFrom(st jetstream.StreamState) time.Time {
	var from time.Time
	if st.FirstSeq > 1 && st.Msgs > 0 {
		// Hours before the first stored message's next hour may hold
		// counts of expired messages: keep them.
		from = st.FirstTime.UTC().Truncate(time.Hour).Add(time.Hour)
	} else if st.FirstSeq > 1 {
		from = st.LastTime.UTC().Truncate(time.Hour).Add(time.Hour)
	}
	if p.Retention > 0 {
		if cut := p.now().Add(-p.Retention).UTC().Truncate(time.Hour); cut.After(from) {
			from = cut
		}
	}
	return from
}
