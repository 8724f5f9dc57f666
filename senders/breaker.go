package senders

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int

// States of a Breaker.
const (
	// BreakerClosed: the peer works; notifications flow.
	BreakerClosed BreakerState = iota
	// BreakerOpen: the peer failed Threshold times in a row; nothing is
	// fetched or sent until the next probe.
	BreakerOpen
	// BreakerHalfOpen: a probe is under way (the sender's Probe, or one
	// notification as a trial when the sender has none).
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// BreakerConfig tunes a Breaker; the zero value of each field means its
// default.
type BreakerConfig struct {
	// Threshold is how many attempts in a row must fail with Unavailable
	// errors to open the circuit (default 3).
	Threshold int
	// MinProbe is the wait between opening and the first probe (default
	// 250ms); each failed probe doubles it, up to MaxProbe (default 1s).
	// MaxProbe bounds how long deliveries stall after the peer is back.
	MinProbe, MaxProbe time.Duration
	// ProbeTimeout bounds one probe (default 30s).
	ProbeTimeout time.Duration
}

// WithDefaults returns c with every unset field at its default.
func (c BreakerConfig) WithDefaults() BreakerConfig {
	if c.Threshold == 0 {
		c.Threshold = 3
	}
	if c.MinProbe == 0 {
		c.MinProbe = 250 * time.Millisecond
	}
	if c.MaxProbe == 0 {
		c.MaxProbe = time.Second
	}
	c.MaxProbe = max(c.MaxProbe, c.MinProbe)
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = 30 * time.Second
	}
	return c
}

// BreakerStatus is a snapshot of a Breaker, for health checks and metrics.
type BreakerStatus struct {
	State BreakerState
	// Since is when the circuit entered its state (open: when it opened,
	// across probes).
	Since time.Time
	// Failures is the Unavailable failures in a row so far.
	Failures int
	// LastError is the last Unavailable failure's text, probes included.
	LastError string
	// NextProbe is when an open circuit probes next.
	NextProbe time.Time
	// Opened counts the times the circuit opened; Probes the probes made
	// and ProbesFailed those that failed.
	Opened, Probes, ProbesFailed uint64
}

// Breaker is the circuit breaker of Run, one per channel and process.
//
// Attempts that fail with an Unavailable error (the peer is down, not one
// notification) are counted; after Threshold in a row the circuit opens.
// While it is open the workers fetch nothing, and notifications already
// fetched are held (kept in progress) rather than sent into a peer that is
// down: they neither fail nor use up their attempts. After MinProbe the
// breaker probes the peer — with the sender's Probe when it is a Prober,
// otherwise by letting one notification through as a trial —; a failed
// probe doubles the wait (up to MaxProbe), a successful one closes the
// circuit and every worker resumes at once. Any attempt that reaches the
// peer (sent, or refused for its own reasons) closes it too.
//
// A Breaker serves one Run at a time; NewBreaker lets the caller read its
// Status while Run uses it.
type Breaker struct {
	cfg BreakerConfig
	now func() time.Time

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every state change
	st       BreakerStatus
	interval time.Duration // current wait between probes
	prober   bool          // the sender probes; no trial notifications
	trial    bool          // a trial notification is under way
}

// NewBreaker returns a closed breaker.
func NewBreaker(cfg BreakerConfig) *Breaker {
	return &Breaker{cfg: cfg.WithDefaults(), now: time.Now, changed: make(chan struct{}),
		st: BreakerStatus{Since: time.Now()}}
}

// Status returns a snapshot.
func (b *Breaker) Status() BreakerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// Config is the configuration in force.
func (b *Breaker) Config() BreakerConfig { return b.cfg }

// setState changes state and wakes every waiter. Call with mu held.
func (b *Breaker) setState(s BreakerState) {
	if s != b.st.State {
		if !(s == BreakerHalfOpen || b.st.State == BreakerHalfOpen && s == BreakerOpen) {
			// An open circuit stays "open since" across its probes.
			b.st.Since = b.now()
		}
		b.st.State = s
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// mayFetch reports whether a worker may fetch a notification now.
func (b *Breaker) mayFetch() bool {
	switch b.st.State {
	case BreakerClosed:
		return true
	case BreakerHalfOpen:
		return !b.prober && !b.trial
	}
	return false
}

// waitFetch blocks until a worker may fetch, or ctx ends (false).
func (b *Breaker) waitFetch(ctx context.Context) bool {
	for {
		b.mu.Lock()
		ok, ch := b.mayFetch(), b.changed
		b.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

// admit blocks until a fetched notification may be sent, calling hold
// every holdEvery meanwhile (to keep it from redelivery). trial says that
// it is the half-open trial, whose result decides the circuit. It returns
// false when ctx ends first.
func (b *Breaker) admit(ctx context.Context, holdEvery time.Duration, hold func()) (trial, ok bool) {
	var tick <-chan time.Time
	for {
		b.mu.Lock()
		switch {
		case b.st.State == BreakerClosed:
			b.mu.Unlock()
			return false, true
		case b.st.State == BreakerHalfOpen && !b.prober && !b.trial:
			b.trial = true
			b.mu.Unlock()
			return true, true
		}
		ch := b.changed
		b.mu.Unlock()
		if tick == nil {
			t := time.NewTicker(holdEvery)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return false, false
		case <-ch:
		case <-tick:
			hold()
		}
	}
}

// done records the result of an admitted notification: attempted says
// whether the sender was called, err is what it returned.
func (b *Breaker) done(log *slog.Logger, trial, attempted bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if trial {
		b.trial = false
	}
	if !attempted {
		if trial {
			// Settled without a send (a redelivery already sent, a bad
			// notification): let another one be the trial.
			b.setState(b.st.State)
		}
		return
	}
	if err == nil || !IsUnavailable(err) {
		b.st.Failures = 0
		if b.st.State != BreakerClosed {
			b.close(log, "a notification reached the peer")
		}
		return
	}
	b.st.Failures++
	b.st.LastError = err.Error()
	switch {
	case trial:
		b.st.Probes++
		b.st.ProbesFailed++
		b.reopen()
	case b.st.State == BreakerClosed && b.st.Failures >= b.cfg.Threshold:
		b.open(log)
	}
}

// open trips the circuit. Call with mu held.
func (b *Breaker) open(log *slog.Logger) {
	b.interval = b.cfg.MinProbe
	b.st.Opened++
	b.st.NextProbe = b.now().Add(b.interval)
	b.setState(BreakerOpen)
	log.Warn("peer unavailable: circuit open, holding notifications and probing",
		"failures", b.st.Failures, "err", b.st.LastError, "probe_every", fmt.Sprintf("%s..%s", b.cfg.MinProbe, b.cfg.MaxProbe))
}

// reopen goes back to open after a failed probe. Call with mu held.
func (b *Breaker) reopen() {
	b.interval = min(2*b.interval, b.cfg.MaxProbe)
	b.st.NextProbe = b.now().Add(b.interval)
	b.setState(BreakerOpen)
}

// close closes the circuit. Call with mu held.
func (b *Breaker) close(log *slog.Logger, why string) {
	down := b.now().Sub(b.st.Since)
	b.st.Failures = 0
	b.st.NextProbe = time.Time{}
	b.setState(BreakerClosed)
	log.Info("peer available again: circuit closed", "why", why, "down_for", down.Round(time.Millisecond),
		"probes_failed", b.st.ProbesFailed, "opened", b.st.Opened)
}

// run probes while the circuit is open and logs a reminder every logEvery,
// until ctx ends. With p nil, probing lets one notification through.
func (b *Breaker) run(ctx context.Context, p Prober, log *slog.Logger, logEvery time.Duration) {
	b.mu.Lock()
	b.prober = p != nil
	b.trial = false
	b.mu.Unlock()
	var lastReminder time.Time
	for {
		b.mu.Lock()
		state, next, ch := b.st.State, b.st.NextProbe, b.changed
		if state == BreakerOpen {
			now := b.now()
			if lastReminder.Before(b.st.Since) {
				lastReminder = b.st.Since
			}
			if now.Sub(lastReminder) >= logEvery {
				lastReminder = now
				log.Warn("peer still unavailable: circuit open", "for", now.Sub(b.st.Since).Round(time.Second),
					"probes_failed", b.st.ProbesFailed, "err", b.st.LastError)
			}
		}
		b.mu.Unlock()

		var wake <-chan time.Time
		if state == BreakerOpen {
			wait := max(time.Until(next), 0)
			if r := time.Until(lastReminder.Add(logEvery)); r > 0 {
				wait = min(wait, r)
			}
			t := time.NewTimer(wait)
			wake = t.C
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-ch:
				t.Stop()
				continue
			case <-wake:
			}
			b.mu.Lock()
			due := b.st.State == BreakerOpen && !b.now().Before(b.st.NextProbe)
			if due {
				b.setState(BreakerHalfOpen)
			}
			b.mu.Unlock()
			if due && p != nil {
				b.probe(ctx, p, log)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// probe calls the sender's Probe and moves the circuit by its result.
func (b *Breaker) probe(ctx context.Context, p Prober, log *slog.Logger) {
	pctx, cancel := context.WithTimeout(ctx, b.cfg.ProbeTimeout)
	err := p.Probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.st.Probes++
	if b.st.State != BreakerHalfOpen {
		return // closed meanwhile by a send that got through
	}
	if err == nil {
		b.close(log, "probe succeeded")
		return
	}
	b.st.ProbesFailed++
	b.st.LastError = err.Error()
	log.Debug("probe failed", "err", err)
	b.reopen()
}
