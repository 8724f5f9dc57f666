package email_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

// BenchmarkSend measures emails per second through a real SMTP server on
// loopback (go-smtp, in-process, so it shares the CPU with the sender) with
// STARTTLS and AUTH PLAIN, reusing connections: one session for the serial
// run, at most one per sender goroutine for the concurrent one.
//
//	go test -run '^$' -bench Send -benchtime 3s ./senders/email/
func BenchmarkSend(b *testing.B) {
	start := func(b *testing.B) (*fmntest.SMTPServer, *email.Sender) {
		srv := fmntest.StartSMTP(b, relayUser, relayPass)
		cfg, err := email.NewConfig(fmt.Sprintf("smtp://%s:%s@%s", relayUser, relayPass, srv.Addr()), mailFrom)
		if err != nil {
			b.Fatal(err)
		}
		cfg.RootCAs = srv.CertPool
		cfg.LocalName = "fmn.test"
		s, err := email.New(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return srv, s
	}
	// go-smtp opens a new session after STARTTLS, so one connection
	// counts as two sessions.
	report := func(b *testing.B, srv *fmntest.SMTPServer, maxConns int) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
		b.ReportMetric(0, "ns/op")
		if got := len(srv.Mails()); got != b.N {
			b.Fatalf("%d mails at the server, want %d", got, b.N)
		}
		if got := srv.Sessions(); got > 2*maxConns {
			b.Errorf("%d SMTP sessions for %d mails, want at most %d connections: they are not reused", got, b.N, maxConns)
		}
	}
	ctx := context.Background()

	b.Run("Serial", func(b *testing.B) {
		srv, s := start(b)
		i := 0
		for b.Loop() {
			if err := s.Send(ctx, sample(fmt.Sprint("bench-", i), "alice@example.org")); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, srv, 1)
	})

	const workers = 4
	b.Run(fmt.Sprintf("Concurrent%d", workers), func(b *testing.B) {
		srv, s := start(b)
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for range workers {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					if err := s.Send(ctx, sample(fmt.Sprint("bench-", i), "alice@example.org")); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		report(b, srv, workers)
	})
}

// BenchmarkDeliver measures emails per second through the whole delivery
// loop as the sender-email role runs it: NOTIFY on an embedded NATS,
// senders.Run with its workers, the outcome stored on EVENTS and the sent
// mark stored before each ack, and the SMTP relay (STARTTLS, AUTH) on
// loopback — everything on the same cores. Relay0 answers at once (the
// loop is CPU-bound); Relay5ms takes 5ms to accept each message, as a relay
// that writes its queue to disk over a network does, where one worker
// spends most of its time waiting.
//
//	go test -run '^$' -bench Deliver -benchtime 2000x ./senders/email/
func BenchmarkDeliver(b *testing.B) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		for _, workers := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("Relay%s/Workers%d", delay, workers), func(b *testing.B) { benchDeliver(b, delay, workers) })
		}
	}
}

func benchDeliver(b *testing.B, delay time.Duration, workers int) {
	n := fmntest.StartNATS(b)
	srv := fmntest.StartSMTPWith(b, relayUser, relayPass, fmntest.SMTPOptions{DataDelay: delay})
	cfg, err := email.NewConfig(fmt.Sprintf("smtp://%s:%s@%s", relayUser, relayPass, srv.Addr()), mailFrom)
	if err != nil {
		b.Fatal(err)
	}
	cfg.RootCAs = srv.CertPool
	cfg.LocalName = "fmn.test"
	cfg.MaxIdleConns = workers
	s, err := email.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	pub, err := senders.NewOutcomePublisher(n.Conn, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		senderstest.Publish(b, n, email.Channel, sample(fmt.Sprint("bench-", i), "alice@example.org"))
	}
	opts := senders.Options{Workers: workers, StoreOutcome: pub.Store,
		SentLog: senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{})}
	b.ResetTimer()
	out := senderstest.Start(b, n, s, opts, nil)
	for out.Count(wire.Sent) < b.N {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
	b.ReportMetric(0, "ns/op")
}
