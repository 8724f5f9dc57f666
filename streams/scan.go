package streams

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
	// Subjects filters by NATS subject (wildcards allowed; JetStream
	// refuses overlapping filters).
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

// Add counts n more messages done.
func (p *Progress) Add(n uint64) {
	if p != nil {
		p.done.Add(n)
	}
}

// SetTotal sets the number of messages to do.
func (p *Progress) SetTotal(n uint64) {
	if p != nil {
		p.total.Store(n)
	}
}

// ScanOptions tune how Scan reads. Zero fields take the defaults.
type ScanOptions struct {
	// Batch is how many messages a pull asks for (default 2048: large
	// enough to keep the pipe full, small enough to stop quickly), and
	// PullBytes the most bytes it brings (default no limit). Both bound
	// what a scan holds that fn has not been handed yet.
	Batch, PullBytes int
	// InactiveThreshold and MaxResetAttempts are the ordered consumer's
	// (defaults nats.go's).
	InactiveThreshold time.Duration
	MaxResetAttempts  int
	// Progress, when set, counts the messages read.
	Progress *Progress
}

// ErrStopScan, returned by Scan's fn, ends a scan early without error.
var ErrStopScan = errors.New("stop the scan")

// Scan calls fn for every message of stream in sel, in stream order, up to
// the stream's last message when the scan began: messages stored meanwhile
// are not read. It reads with an ordered consumer, which leaves the
// production durables untouched and is deleted when the scan returns.
// fn returns ErrStopScan to end early. The replay commands and the rule
// preview read history through it.
func Scan(ctx context.Context, js jetstream.JetStream, stream string, sel Selection, o ScanOptions,
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
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: sel.Subjects, DeliverPolicy: jetstream.DeliverAllPolicy,
		InactiveThreshold: o.InactiveThreshold, MaxResetAttempts: o.MaxResetAttempts}
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
	batch := o.Batch
	if batch <= 0 {
		batch = 2048
	}
	var pull jetstream.PullMessagesOpt = jetstream.PullMaxMessages(batch)
	if o.PullBytes > 0 {
		pull = jetstream.PullMaxMessagesWithBytesLimit(batch, o.PullBytes)
	}
	it, err := oc.Messages(pull)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	// The server would keep a stopped ordered consumer until its inactive
	// threshold (5 minutes by default): callers that scan often (the
	// amqp-publisher reads a user's history per rule change, the preview
	// per request) would reach the stream's or account's consumer limit.
	defer func() {
		if ci := oc.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = js.DeleteConsumer(dctx, stream, ci.Name)
			cancel()
		}
	}()
	defer it.Stop()
	if ci := oc.CachedInfo(); ci != nil {
		if ci.NumPending == 0 {
			return nil
		}
		o.Progress.SetTotal(ci.NumPending)
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
			o.Progress.SetTotal(md.NumPending + 1)
		}
		o.Progress.Add(1)
		if err := fn(m, md); err != nil {
			if errors.Is(err, ErrStopScan) {
				return nil
			}
			return err
		}
		if seq >= end || md.NumPending == 0 {
			return nil
		}
	}
}
