package api

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// LagCheck is the readiness check of the rules projection: it fails when
// the projection has stayed behind the RULES stream for longer than Grace
// without catching up to where the stream was when the lag was first seen.
// A projector that is busy but keeps up passes; one that is stuck or down
// fails, and the API's rule changes then answer 503.
type LagCheck struct {
	// Stream returns the last sequence of RULES.
	Stream func(ctx context.Context) (uint64, error)
	// Projected returns the last sequence the projection applied.
	Projected func(ctx context.Context) (uint64, error)
	// Grace defaults to 10s.
	Grace time.Duration
	// Now is the clock (tests).
	Now func() time.Time

	mu     sync.Mutex
	target uint64    // the stream's last sequence when the lag was seen
	since  time.Time // zero: not behind
	lag    uint64
}

// Check implements a Check's Fn.
func (l *LagCheck) Check(ctx context.Context) error {
	last, err := l.Stream(ctx)
	if err != nil {
		return fmt.Errorf("RULES stream: %w", err)
	}
	proj, err := l.Projected(ctx)
	if err != nil {
		return fmt.Errorf("projection state: %w", err)
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	grace := l.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lag = 0
	if proj >= last {
		l.since = time.Time{}
		return nil
	}
	l.lag = last - proj
	if l.since.IsZero() || proj >= l.target {
		// Behind, but either newly or after catching up to the old mark.
		l.since, l.target = now, last
		return nil
	}
	if d := now.Sub(l.since); d > grace {
		return fmt.Errorf("rules projection is %d events behind the RULES stream (applied %d of %d) and has not caught up for %s: is the projector running?",
			last-proj, proj, last, d.Round(time.Second))
	}
	return nil
}

// Lag is the lag seen by the last Check, in events.
func (l *LagCheck) Lag() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lag
}
