package projection

import (
	"context"
	"fmt"

	"github.com/fmn-project/fmn/queries"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Target is a feed to rebuild.
type Target struct {
	Feed
	// Clear readies the tables for a rebuild from the stream in state st
	// (read under the projection's lock), writing through w, and returns
	// the applier of the messages read back, which writes through w too.
	Clear func(ctx context.Context, w *Writer, st jetstream.StreamState) (Applier, error)
}

// Rebuilt says what Rebuild did to one feed.
type Rebuilt struct {
	Feed
	// State is the stream's state when the rebuild began.
	State jetstream.StreamState
	// Messages read back, and LastSeq, where the projection now stands.
	Messages, LastSeq uint64
}

// Rebuild recomputes the targets from their streams in one transaction
// that holds their projection_state locks: their runners wait meanwhile
// and go on from where the rebuild leaves the position; readers see the
// old tables until it commits. Each stream is read up to its last
// sequence when the lock was taken. progress, when set, is called now and
// then with the messages read so far and the total to read.
func Rebuild(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, targets []Target, progress func(done, total uint64)) ([]Rebuilt, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := queries.New(tx)
	// The rebuild's writes go through w, sent a thousand at a time; the
	// locks and reads above them run at once on tx.
	w := NewWriter(tx)
	res := make([]Rebuilt, len(targets))
	appliers := make([]Applier, len(targets))
	var total uint64
	for i, t := range targets {
		if _, err := q.ProjectionLock(ctx, t.Name); err != nil {
			return nil, fmt.Errorf("lock projection state %s: %w", t.Name, err)
		}
		// Read the stream's extent under the lock: what a runner applies
		// from now on comes after it.
		st, err := js.Stream(ctx, t.Stream)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", t.Stream, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", t.Stream, err)
		}
		a, err := t.Clear(ctx, w, info.State)
		if err != nil {
			return nil, fmt.Errorf("clear %s: %w", t.Name, err)
		}
		_ = queries.New(w).ProjectionReset(ctx, t.Name)
		if err := w.Send(ctx); err != nil {
			return nil, fmt.Errorf("clear %s: %w", t.Name, err)
		}
		res[i] = Rebuilt{Feed: t.Feed, State: info.State}
		appliers[i] = a
		if info.State.Msgs > 0 && info.State.LastSeq >= info.State.FirstSeq {
			total += info.State.Msgs
		}
	}
	var done uint64
	report := func() {
		if progress != nil {
			progress(done, total)
		}
	}
	report()
	for i := range res {
		rb := &res[i]
		if rb.State.Msgs == 0 || rb.State.LastSeq == 0 || rb.State.LastSeq < rb.State.FirstSeq {
			continue
		}
		a := appliers[i]
		n, last, err := scan(ctx, js, rb.Feed, rb.State.LastSeq, func(m Msg) error {
			if err := a.Apply(ctx, m); err != nil {
				return err
			}
			if w.Full() {
				if err := w.Send(ctx); err != nil {
					return fmt.Errorf("rebuild %s: %w", rb.Name, err)
				}
			}
			done++
			if done%1000 == 0 {
				report()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		rb.Messages, rb.LastSeq = n, last
		if err := a.Flush(ctx); err != nil {
			return nil, err
		}
		if last > 0 {
			_, _ = queries.New(w).ProjectionSet(ctx, rb.Name, int64(last))
		}
		if err := w.Send(ctx); err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", rb.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	report()
	return res, nil
}

// scan reads the feed from the stream's start up to sequence end with an
// ordered consumer and returns how many messages it read and the last
// sequence.
func scan(ctx context.Context, js jetstream.JetStream, f Feed, end uint64, fn func(Msg) error) (uint64, uint64, error) {
	oc, err := js.OrderedConsumer(ctx, f.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.Filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", f.Stream, err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", f.Stream, err)
	}
	defer it.Stop()
	if info := oc.CachedInfo(); info != nil && info.NumPending == 0 {
		return 0, 0, nil
	}
	var n, last uint64
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return n, last, ctx.Err()
			}
			return n, last, fmt.Errorf("read %s: %w", f.Stream, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return n, last, fmt.Errorf("read %s: %w", f.Stream, err)
		}
		if md.Sequence.Stream > end {
			return n, last, nil
		}
		if err := fn(Msg{Seq: md.Sequence.Stream, Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Time: md.Timestamp}); err != nil {
			return n, last, err
		}
		n++
		last = md.Sequence.Stream
		// The stream's last message may have been deleted: then nothing
		// is pending after the last one there is.
		if last >= end || md.NumPending == 0 {
			return n, last, nil
		}
	}
}
