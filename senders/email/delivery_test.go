package email_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// messageIDs counts the received messages by Message-ID.
func messageIDs(t *testing.T, r *fmntest.SMTPServer) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range r.Mails() {
		got[parse(t, m.Data).header.Get("Message-ID")]++
	}
	return got
}

// onceEach fails unless each of the ids was received exactly once, and
// nothing else.
func onceEach(t *testing.T, r *fmntest.SMTPServer, ids []string) {
	t.Helper()
	got := messageIDs(t, r)
	for _, id := range ids {
		if n := got["<"+id+"@fmn.example.org>"]; n != 1 {
			t.Errorf("%s received %d times, want once", id, n)
		}
	}
	if len(got) != len(ids) {
		t.Errorf("%d distinct messages received, want %d", len(got), len(ids))
	}
}

// TestWorkersSendInParallel: with N workers a busy relay gets N messages
// at once, and every notification arrives exactly once.
func TestWorkersSendInParallel(t *testing.T) {
	t.Parallel()
	const workers, count = 4, 40
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{DataDelay: 40 * time.Millisecond})
	cfg := config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", "")
	cfg.MaxIdleConns = workers
	s := newSender(t, cfg, nil)
	opts := senderstest.FastOptions(5)
	opts.Workers = workers
	opts.SentLog = senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{})
	var ids []string
	for i := range count {
		id := fmt.Sprint("par-", i)
		ids = append(ids, id)
		senderstest.Publish(t, n, email.Channel, sample(id, fmt.Sprintf("user%d@example.org", i)))
	}
	start := time.Now()
	out := senderstest.Start(t, n, s, opts, nil)
	fmntest.Eventually(t, 30*time.Second, "all sent", func() bool { return out.Count(wire.Sent) == count })
	took := time.Since(start)
	senderstest.Settled(t, n, email.Channel)
	onceEach(t, r, ids)
	if got := r.MaxConcurrentData(); got < 2 {
		t.Errorf("the relay never had more than %d message at once with %d workers", got, workers)
	}
	// Each session is kept: at most one connection per worker.
	if c := r.Connections(); c > workers {
		t.Errorf("%d connections for %d workers: sessions are not reused", c, workers)
	}
	t.Logf("%d emails with %d workers against a relay taking 40ms each: %s (serial would be ≥ %s), at most %d at once",
		count, workers, took.Round(time.Millisecond), time.Duration(count)*40*time.Millisecond, r.MaxConcurrentData())
}

// logLines are the lines of a JSON log at info level or above.
func logLines(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["level"] != "DEBUG" {
			out = append(out, m)
		}
	}
	return out
}

// TestRelayOutage: notifications keep coming while the relay is down for
// two seconds. The breaker opens after a few failures, probes the relay
// instead of trying every notification, and closes as soon as a probe
// succeeds: few failed attempts, a bounded number of log lines, every
// notification sent exactly once, and deliveries resume within a probe
// interval of the relay's return.
func TestRelayOutage(t *testing.T) {
	t.Parallel()
	const workers = 4
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTP(t, relayUser, relayPass)
	cfg := config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", "")
	cfg.MaxIdleConns = workers
	logger, logs := senderstest.Logger()
	s := newSender(t, cfg, logger)
	br := senders.NewBreaker(senders.BreakerConfig{})
	opts := senders.Options{
		MaxDeliver: 10, Workers: workers, AckWait: 5 * time.Second, Breaker: br,
		// The production schedule's first steps: a notification that failed
		// twice would wait 5s, which the breaker must avoid.
		BackOff:  []time.Duration{time.Second, 5 * time.Second, 30 * time.Second},
		LogEvery: time.Second,
		SentLog:  senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{}),
	}
	out := senderstest.Start(t, n, s, opts, logger)

	// A steady stream of notifications, 100/s, before, during and after.
	var published atomic.Int64
	var ids []string
	var idsMu sync.Mutex
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			id := fmt.Sprint("out-", i)
			data, _ := json.Marshal(sample(id, "alice@example.org"))
			pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := n.JS.Publish(pctx, wire.NotifySubject(email.Channel), data, jetstream.WithMsgID(id))
			cancel()
			if err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			idsMu.Lock()
			ids = append(ids, id)
			idsMu.Unlock()
			published.Add(1)
		}
	}()
	defer func() { stop(); <-done }()

	fmntest.Eventually(t, 10*time.Second, "mail flowing", func() bool { return len(r.Mails()) >= 20 })
	r.Stop()
	down := time.Now()
	fmntest.Eventually(t, 10*time.Second, "the circuit opens", func() bool { return br.Status().State != senders.BreakerClosed })
	opened := time.Since(down)
	time.Sleep(2 * time.Second)
	before := len(r.Mails())
	r.Start(t)
	up := time.Now()
	fmntest.Eventually(t, 10*time.Second, "mail flowing again", func() bool { return len(r.Mails()) > before })
	firstAfter := time.Since(up)
	backlog := int(published.Load()) - before
	fmntest.Eventually(t, 20*time.Second, "backlog sent", func() bool { return len(r.Mails()) >= int(published.Load())-workers })
	drained := time.Since(up)
	stop()
	<-done
	total := int(published.Load())
	fmntest.Eventually(t, 20*time.Second, "all sent", func() bool { return out.Count(wire.Sent) >= total })
	senderstest.Settled(t, n, email.Channel)
	idsMu.Lock()
	onceEach(t, r, ids)
	idsMu.Unlock()
	if dl := senderstest.DeadLetters(t, n, email.Channel); len(dl) != 0 {
		t.Errorf("%d dead letters", len(dl))
	}

	st := br.Status()
	retries := out.Count(wire.Retry)
	lines := logLines(t, logs.String())
	t.Logf("outage 2s: circuit opened %s after the relay went down, %d failed attempts, %d probes (%d failed), %d log lines; "+
		"first mail %s after the relay came back, backlog of %d sent %s after it",
		opened.Round(time.Millisecond), retries, st.Probes, st.ProbesFailed, len(lines),
		firstAfter.Round(time.Millisecond), backlog, drained.Round(time.Millisecond))
	for _, l := range lines {
		t.Logf("  %s %s", l["level"], l["msg"])
	}
	if st.Opened < 1 || st.ProbesFailed < 1 || st.State != senders.BreakerClosed {
		t.Errorf("breaker %+v: want opened, probes failed, closed again", st)
	}
	// Without the breaker every notification published during the outage
	// (about 200) would have failed at least once.
	if retries > 3*workers {
		t.Errorf("%d failed attempts during the outage: the breaker should have stopped them", retries)
	}
	if len(lines) > 12 {
		t.Errorf("%d log lines for a 2s outage, want a handful", len(lines))
	}
	if limit := br.Config().MaxProbe + fmntest.Scaled(500*time.Millisecond); firstAfter > limit {
		t.Errorf("first mail %s after the relay came back, want within %s (a probe interval)", firstAfter, limit)
	}
}

// TestLostAckNotSentAgain: the ack of a sent notification is late (here:
// storing its outcome outlasts AckWait, as when NATS stalls), so the
// server redelivers it to another worker. With the sent log, the
// redelivery is acked without a second email; without it, the email goes
// twice — which shows the test provokes the duplicate it guards against.
func TestLostAckNotSentAgain(t *testing.T) {
	t.Parallel()
	for _, withLog := range []bool{true, false} {
		t.Run(fmt.Sprintf("SentLog=%v", withLog), func(t *testing.T) {
			t.Parallel()
			n := fmntest.StartNATS(t)
			r := fmntest.StartSMTP(t, relayUser, relayPass)
			s := newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), nil)
			opts := senderstest.FastOptions(5)
			opts.Workers = 2
			opts.AckWait = 300 * time.Millisecond
			var stalled atomic.Bool
			opts.StoreOutcome = func(ctx context.Context, o senders.Outcome) error {
				if o.Result == wire.Sent && stalled.CompareAndSwap(false, true) {
					// The first sent notification's settlement stalls past
					// AckWait: the server redelivers it meanwhile.
					select {
					case <-time.After(1500 * time.Millisecond):
					case <-ctx.Done():
					}
				}
				return nil
			}
			if withLog {
				opts.SentLog = senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{})
			}
			out := senderstest.Start(t, n, s, opts, nil)
			senderstest.Publish(t, n, email.Channel, sample("lost-ack", "alice@example.org"))
			fmntest.Eventually(t, 10*time.Second, "redelivered and settled", func() bool {
				for _, o := range out.All() {
					if o.Delivery > 1 {
						return true
					}
				}
				return false
			})
			senderstest.Settled(t, n, email.Channel)
			time.Sleep(200 * time.Millisecond)
			got := messageIDs(t, r)["<lost-ack@fmn.example.org>"]
			if withLog {
				if got != 1 {
					t.Errorf("received %d times, want once", got)
				}
				if out.Count(wire.Skipped) != 1 {
					t.Errorf("outcomes %+v: want the redelivery skipped", out.All())
				}
			} else if got != 2 {
				t.Errorf("without the sent log received %d times; the test should provoke a duplicate", got)
			}
		})
	}
}
