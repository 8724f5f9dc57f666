package rulelog

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fmn-project/fmn/wire"
)

// progress tracks how far the projection is known to have come, fed by the
// projector's notes and by reads of projection_state.
type progress struct {
	mu   sync.Mutex
	seq  uint64
	wake chan struct{}
}

func newProgress() *progress { return &progress{wake: make(chan struct{})} }

// observe records that the projection reached seq and wakes the waiters.
func (p *progress) observe(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq > p.seq {
		p.seq = seq
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

func (p *progress) state() (uint64, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq, p.wake
}

// subscribe feeds p from the projector's notes on subject.
func (p *progress) subscribe(nc *nats.Conn, subject string) (*nats.Subscription, error) {
	return FollowProgress(nc, subject, p.observe)
}

// FollowProgress calls fn with the sequence of every note the projector
// publishes on subject (wire.RulesProgressSubject when empty) after a commit:
// the projection has applied every rule event up to it. fn runs on the
// subscription's goroutine and must be quick. The notes are core NATS
// messages: one can be lost (a reconnection), so a follower must also
// poll; they do not depend on Redis. Unsubscribe the result to stop.
func FollowProgress(nc *nats.Conn, subject string, fn func(seq uint64)) (*nats.Subscription, error) {
	if subject == "" {
		subject = wire.RulesProgressSubject
	}
	return nc.Subscribe(subject, func(m *nats.Msg) {
		if seq, err := strconv.ParseUint(string(m.Data), 10, 64); err == nil {
			fn(seq)
		}
	})
}

// waitFor returns when the projection has applied seq, ErrProjectionLagging
// when it has not within wait, or the context's error. The notes make it
// fast; reading projection_state every poll makes it safe when a note is
// lost or the projector runs elsewhere.
func (p *progress) waitFor(ctx context.Context, seq uint64, wait, poll time.Duration, read func(context.Context) (uint64, error)) error {
	if seq == 0 {
		return nil
	}
	if cur, _ := p.state(); cur >= seq {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	doRead := true
	for {
		if doRead {
			got, err := read(wctx)
			if err == nil {
				p.observe(got)
			} else if wctx.Err() == nil {
				return err
			}
			doRead = false
		}
		cur, wake := p.state()
		if cur >= seq {
			return nil
		}
		select {
		case <-wake:
		case <-ticker.C:
			doRead = true
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return err
			}
			if errors.Is(wctx.Err(), context.DeadlineExceeded) {
				return ErrProjectionLagging
			}
			return wctx.Err()
		}
	}
}
