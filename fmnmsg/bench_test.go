package fmnmsg_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmnmsg"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	amqp "github.com/rabbitmq/amqp091-go"
)

// BenchmarkPublisherBacklog measures how fast the publisher works through
// a backlog on RULES against the real RabbitMQ: 2,000 rule creations of
// 100 users (each message reads its user's history and waits for the
// broker's confirm), then 20,000 imported creations (acknowledged without
// a message, as after `fmn import fmn3`).
//
//	go test -run '^$' -bench PublisherBacklog -benchtime 1x ./fmnmsg
func BenchmarkPublisherBacklog(b *testing.B) {
	const users, created, imported = 100, 2000, 20000
	for range b.N {
		nt := fmntest.StartNATS(b)
		ctx := fmntest.Context(b)
		exchange := "fmntest.fmnmsg.bench." + fmntest.RandomID()
		b.Cleanup(func() {
			if conn, err := amqp.Dial(fmntest.AMQPURL()); err == nil {
				if ch, err := conn.Channel(); err == nil {
					_ = ch.ExchangeDelete(exchange, false, false)
				}
				conn.Close()
			}
		})
		appendEvents := func(n int, imported bool) {
			for i := range n {
				user := fmt.Sprintf("user%d", i%users)
				ev := rulelog.Event{Type: rulelog.EventRuleCreated, User: user, Rule: ptr(testRule(user, fmt.Sprintf("rule %d", i), "bodhi")), Time: time.Now()}
				if imported {
					ev.RuleID = int64(1_000_000 + i)
				}
				m, err := ev.Message()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := nt.JS.PublishMsgAsync(m); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 || i == n-1 {
					select {
					case <-nt.JS.PublishAsyncComplete():
					case <-time.After(time.Minute):
						b.Fatal("appending the events took over a minute")
					}
				}
			}
		}
		appendEvents(created, false)
		appendEvents(imported, true)

		pub, err := fmnmsg.New(nt.JS, fmnmsg.Config{URL: fmntest.AMQPURL(), Exchange: exchange, Stream: nt.Streams.Rules}, fmntest.Logger(b, slog.LevelWarn))
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- pub.Run(rctx) }()
		var published time.Duration
		for {
			s := pub.Stats()
			if published == 0 && s.Published == created {
				published = time.Since(start)
			}
			if s.Published == created && s.Skipped == imported {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("not done within 10 minutes: %+v", s)
			}
			time.Sleep(5 * time.Millisecond)
		}
		total := time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(created)/published.Seconds(), "published/s")
		b.ReportMetric(float64(imported)/(total-published).Seconds(), "skipped/s")
	}
}
