package senders_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

// probing is a recorder whose peer can be taken down, and which can probe
// it.
type probing struct {
	recorder
	down   atomic.Bool
	probes atomic.Int64
}

func (p *probing) Probe(context.Context) error {
	p.probes.Add(1)
	if p.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func newProbing() *probing {
	p := &probing{}
	p.fail = func(*notification.Notification, int) error {
		if p.down.Load() {
			return senders.Unavailable(errors.New("connection refused"))
		}
		return nil
	}
	return p
}

// noProbe hides Probe: the breaker then lets one notification through as
// its trial.
type noProbe struct{ *probing }

func (n noProbe) Probe() {} // not a senders.Prober

func fastBreaker() *senders.Breaker {
	return senders.NewBreaker(senders.BreakerConfig{Threshold: 3, MinProbe: 20 * time.Millisecond, MaxProbe: 50 * time.Millisecond})
}

func TestBreaker(t *testing.T) {
	t.Parallel()

	t.Run("ProbesInsteadOfSending", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		p := newProbing()
		p.down.Store(true)
		br := fastBreaker()
		opts := senderstest.FastOptions(5)
		opts.Workers, opts.Breaker = 2, br
		out := senderstest.Start(t, n, p, opts, nil)
		for i := range 20 {
			senderstest.Publish(t, n, channel, note(fmt.Sprint("p", i)))
		}
		fmntest.Eventually(t, 10*time.Second, "circuit open and probing", func() bool {
			return br.Status().State != senders.BreakerClosed && p.probes.Load() >= 3
		})
		time.Sleep(200 * time.Millisecond)
		failed := out.Count(wire.Retry)
		// The threshold's failures, plus at most one in flight per worker.
		if failed > 3+2 {
			t.Errorf("%d failed attempts while the peer was down: the breaker should hold notifications", failed)
		}
		p.down.Store(false)
		fmntest.Eventually(t, 10*time.Second, "all sent", func() bool { return out.Count(wire.Sent) == 20 })
		senderstest.Settled(t, n, channel)
		st := br.Status()
		if st.State != senders.BreakerClosed || st.Opened != 1 || st.ProbesFailed < 2 {
			t.Errorf("breaker %+v", st)
		}
		if len(senderstest.DeadLetters(t, n, channel)) != 0 {
			t.Error("dead letters: held notifications must not use up their attempts")
		}
	})

	t.Run("TrialNotificationWithoutProber", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		p := newProbing()
		p.down.Store(true)
		br := fastBreaker()
		opts := senderstest.FastOptions(50)
		opts.Breaker = br
		out := senderstest.Start(t, n, noProbe{p}, opts, nil)
		for i := range 5 {
			senderstest.Publish(t, n, channel, note(fmt.Sprint("t", i)))
		}
		fmntest.Eventually(t, 10*time.Second, "circuit opened and a trial failed", func() bool {
			return br.Status().ProbesFailed >= 2
		})
		time.Sleep(300 * time.Millisecond)
		st := br.Status()
		// Every failure after the threshold is a trial, one per probe
		// interval (≥ 20ms): far fewer than free retries every 10–80ms by
		// five notifications would make.
		if extra := uint64(out.Count(wire.Retry) - 3); extra > st.Probes+1 {
			t.Errorf("%d failures beyond the threshold for %d trials", extra, st.Probes)
		}
		if p.probes.Load() != 0 {
			t.Error("Probe called on a sender that is not a Prober")
		}
		p.down.Store(false)
		fmntest.Eventually(t, 10*time.Second, "all sent", func() bool { return out.Count(wire.Sent) == 5 })
		if br.Status().State != senders.BreakerClosed {
			t.Errorf("breaker %+v", br.Status())
		}
	})

	t.Run("OrdinaryFailuresDoNotOpen", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		r := &recorder{fail: func(_ *notification.Notification, attempt int) error {
			if attempt < 4 {
				return errors.New("451 try again later") // the recipient's domain, not the peer
			}
			return nil
		}}
		br := fastBreaker()
		opts := senderstest.FastOptions(5)
		opts.Breaker = br
		out := senderstest.Start(t, n, r, opts, nil)
		for i := range 4 {
			senderstest.Publish(t, n, channel, note(fmt.Sprint("o", i)))
		}
		fmntest.Eventually(t, 10*time.Second, "all sent", func() bool { return out.Count(wire.Sent) == 4 })
		if st := br.Status(); st.Opened != 0 {
			t.Errorf("breaker opened on failures that were not the peer's: %+v", st)
		}
	})

	t.Run("FailuresAreLoggedAsEpisodes", func(t *testing.T) {
		t.Parallel()
		n := fmntest.StartNATS(t)
		var failing atomic.Bool
		failing.Store(true)
		r := &recorder{fail: func(*notification.Notification, int) error {
			if failing.Load() {
				return errors.New("451 try again later")
			}
			return nil
		}}
		logger, logs := senderstest.Logger()
		opts := senderstest.FastOptions(1000)
		opts.LogEvery = 200 * time.Millisecond
		out := senderstest.Start(t, n, r, opts, logger)
		start := time.Now()
		for i := range 10 {
			senderstest.Publish(t, n, channel, note(fmt.Sprint("e", i)))
		}
		fmntest.Eventually(t, 10*time.Second, "many failures", func() bool { return out.Count(wire.Retry) >= 100 })
		failing.Store(false)
		took := time.Since(start)
		fmntest.Eventually(t, 10*time.Second, "all sent", func() bool { return out.Count(wire.Sent) == 10 })
		var warn, info int
		for _, l := range strings.Split(logs.String(), "\n") {
			switch {
			case strings.Contains(l, `"level":"WARN"`):
				warn++
			case strings.Contains(l, `"level":"INFO"`) && strings.Contains(l, "sent again"):
				info++
			}
		}
		retries := out.Count(wire.Retry)
		if most := 2 + int(took/opts.LogEvery); warn < 1 || warn > most {
			t.Errorf("%d warnings for %d failed attempts in %s: want one, then a reminder every %s (at most %d)",
				warn, retries, took, opts.LogEvery, most)
		}
		if info != 1 {
			t.Errorf("%d lines saying notifications go out again, want 1\n%s", info, logs)
		}
	})
}
