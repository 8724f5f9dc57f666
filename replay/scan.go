// Package replay is fmn's operators' toolbox over the streams: it reads BUS
// history through the rules without side effects (and explains why a rule
// did not match), re-delivers notifications as deliberate, traceable runs,
// works the dead letters, and tells a user's rule history.
//
// Everything reads with ordered consumers, which leave the production
// durables untouched and cost the server nothing once done.
package replay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Selection picks stored messages of a stream. Zero fields select
// everything.
type Selection struct {
	// Since and Until bound the time the stream stored the messages
	// (Until exclusive).
	Since, Until time.Time
	// FromSeq and ToSeq bound the stream sequence (both inclusive).
	FromSeq, ToSeq uint64
	// Subjects filters by NATS subject (wildcards allowed).
	Subjects []string
}

// Progress counts the messages read and the most there are to read, for a
// progress display; it is safe for concurrent use. Total is known once the
// first message arrives (an upper bound when the selection ends before the
// stream does).
type Progress struct {
	done, total atomic.Uint64
}

// Done is the number of messages read so far.
func (p *Progress) Done() uint64 {
	if p == nil {
		return 0
	}
	return p.done.Load()
}

// Total is the number of messages to read, 0 while unknown.
func (p *Progress) Total() uint64 {
	if p == nil {
		return 0
	}
	return p.total.Load()
}

func (p *Progress) add(n uint64) {
	if p != nil {
		p.done.Add(n)
	}
}

func (p *Progress) setTotal(n uint64) {
	if p != nil {
		p.total.Store(n)
	}
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

// pullBatch is how many messages an ordered consumer asks for at a time:
// large enough to keep the pipe full, small enough to stop quickly.
const pullBatch = 2048

// scan calls fn for every message of stream in sel, in stream order, up to
// the stream's last message when the scan began: messages stored meanwhile
// are not read. fn returns errStop to end early.
func scan(ctx context.Context, js jetstream.JetStream, stream string, sel Selection, pr *Progress,
	fn func(m jetstream.Msg, md *jetstream.MsgMetadata) error) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	end := info.State.LastSeq
	if sel.ToSeq > 0 && sel.ToSeq < end {
		end = sel.ToSeq
	}
	if info.State.Msgs == 0 || end == 0 || sel.FromSeq > end {
		return nil
	}
	if !sel.Until.IsZero() && !sel.Since.IsZero() && !sel.Until.After(sel.Since) {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: sel.Subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case sel.FromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, sel.FromSeq
	case !sel.Since.IsZero():
		since := sel.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	oc, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	defer it.Stop()
	if ci := oc.CachedInfo(); ci != nil {
		if ci.NumPending == 0 {
			return nil
		}
		pr.setTotal(ci.NumPending)
	}
	var first uint64
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s: %w", stream, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		seq := md.Sequence.Stream
		if seq > end || (!sel.Until.IsZero() && !md.Timestamp.Before(sel.Until)) {
			return nil
		}
		if first == 0 {
			// The first delivery knows how many follow it.
			first = seq
			pr.setTotal(md.NumPending + 1)
		}
		pr.add(1)
		if err := fn(m, md); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
		if seq >= end || md.NumPending == 0 {
			return nil
		}
	}
}
