package email_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders/email"
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
