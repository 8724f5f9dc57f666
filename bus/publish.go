package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PublishOptions tune Publish. The zero value is usable.
type PublishOptions struct {
	// Window is the number of publishes awaiting their PubAck at once
	// (default 256).
	Window int
	// AckTimeout bounds the wait for one PubAck (default 30s).
	AckTimeout time.Duration
	// Limits are the message limits (default DefaultLimits()).
	Limits Limits
	// Progress, when set, is called every ProgressEvery records (default
	// 1000) and once at the end, with the counts so far.
	Progress      func(PublishStats)
	ProgressEvery int
	// Report, when set, receives each rejected record (a *RecordError) as
	// it is found; the CLI prints them. Publish goes on with the next one.
	Report func(error)
}

// PublishStats counts what Publish did.
type PublishStats struct {
	// Read is the number of records read.
	Read int
	// Published is the number of messages stored in the stream.
	Published int
	// Duplicates is the number of messages the stream already had (same
	// id within its duplicate window): PubAck.Duplicate.
	Duplicates int
	// Rejected is the number of records that were not valid messages.
	Rejected int
	// Failed is the number of messages whose publish got no PubAck.
	Failed int
}

// maxReported bounds how many record errors the final error lists.
const maxReported = 10

// Publish reads messages from r (see ReadFile for the accepted shapes) and
// publishes them to BUS with asynchronous publishes, at most opts.Window
// awaiting their PubAck, and waits for every PubAck. A bad record is
// reported with its number and skipped; the others go on. The error at the
// end summarizes the rejected and failed records. On cancellation, Publish
// stops reading, waits for the publishes in flight and returns ctx.Err().
func Publish(ctx context.Context, js jetstream.JetStream, r io.Reader, opts PublishOptions) (PublishStats, error) {
	if opts.Window <= 0 {
		opts.Window = 256
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 30 * time.Second
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 1000
	}
	p := publisher{opts: opts}
	rd := NewReader(r, opts.Limits)
	type inflight struct {
		f      jetstream.PubAckFuture
		record int
		line   int
	}
	window := make([]inflight, 0, opts.Window)
	settle := func(in inflight) {
		timer := time.NewTimer(opts.AckTimeout)
		defer timer.Stop()
		select {
		case ack := <-in.f.Ok():
			if ack.Duplicate {
				p.stats.Duplicates++
			} else {
				p.stats.Published++
			}
		case err := <-in.f.Err():
			p.fail(&RecordError{Record: in.record, Line: in.line, Err: fmt.Errorf("publish: %w", err)})
		case <-timer.C:
			p.fail(&RecordError{Record: in.record, Line: in.line, Err: fmt.Errorf("publish: no PubAck within %s", opts.AckTimeout)})
		}
	}
	drain := func() {
		for _, in := range window {
			settle(in)
		}
		window = nil
	}

	var fatal error
	for ctx.Err() == nil {
		m, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RecordError
		if errors.As(err, &re) {
			p.stats.Read++
			p.reject(re)
			continue
		}
		if err != nil {
			fatal = err
			break
		}
		p.stats.Read++
		nm, err := m.NATSMsgLimits(opts.Limits)
		if err != nil {
			p.reject(&RecordError{Record: rd.record, Line: rd.recLine, Err: err})
			continue
		}
		if len(window) >= opts.Window {
			settle(window[0])
			window = window[1:]
		}
		f, err := js.PublishMsgAsync(nm)
		if err != nil {
			p.fail(&RecordError{Record: rd.record, Line: rd.recLine, Err: fmt.Errorf("publish: %w", err)})
			continue
		}
		window = append(window, inflight{f: f, record: rd.record, line: rd.recLine})
		if opts.Progress != nil && p.stats.Read%opts.ProgressEvery == 0 {
			opts.Progress(p.stats)
		}
	}
	drain()
	if opts.Progress != nil {
		opts.Progress(p.stats)
	}
	if err := ctx.Err(); err != nil {
		return p.stats, err
	}
	return p.stats, p.summary(fatal)
}

type publisher struct {
	opts    PublishOptions
	stats   PublishStats
	errs    []error
	dropped int
}

func (p *publisher) reject(err error) {
	p.stats.Rejected++
	p.note(err)
}

func (p *publisher) fail(err error) {
	p.stats.Failed++
	p.note(err)
}

func (p *publisher) note(err error) {
	if p.opts.Report != nil {
		p.opts.Report(err)
	}
	if len(p.errs) < maxReported {
		p.errs = append(p.errs, err)
	} else {
		p.dropped++
	}
}

func (p *publisher) summary(fatal error) error {
	if p.stats.Rejected == 0 && p.stats.Failed == 0 && fatal == nil {
		return nil
	}
	errs := []error{fmt.Errorf("%d of %d records rejected as invalid, %d not published",
		p.stats.Rejected, p.stats.Read, p.stats.Failed)}
	errs = append(errs, p.errs...)
	if p.dropped > 0 {
		errs = append(errs, fmt.Errorf("… and %d more", p.dropped))
	}
	if fatal != nil {
		errs = append(errs, fmt.Errorf("reading stopped: %w", fatal))
	}
	return errors.Join(errs...)
}
