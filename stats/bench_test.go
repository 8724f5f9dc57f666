package stats_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkProjector measures the statistics projection catching up on a
// backlog of NOTIFY: FMN_BENCH_STATS_NOTES notifications (default 100,000)
// of FMN_BENCH_STATS_RULES rules (5,000) over the last two hours, so that
// most of each batch's counts add to rows that exist (rule_generated,
// generated_stats), as in steady operation. It prints notifications/s:
//
//	go test -run '^$' -bench BenchmarkProjector -benchtime 1x ./stats/
func BenchmarkProjector(b *testing.B) {
	notes, ruleCount := envInt(b, "FMN_BENCH_STATS_NOTES", 100_000), envInt(b, "FMN_BENCH_STATS_RULES", 5000)
	n := fmntest.StartNATS(b)
	pg := fmntest.StartPostgres(b)
	ctx := fmntest.Context(b)
	js, err := jetstream.New(n.Conn, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	channels := []string{"email", "irc", "matrix"}
	for i := range notes {
		note := notification.Notification{
			ID: "n" + strconv.Itoa(i), Protocol: channels[i%3], User: "user" + strconv.Itoa(i%(ruleCount/2+1)),
			RuleIDs: []int64{int64(1 + i%ruleCount)}, App: "app" + strconv.Itoa(i%20),
			CreatedAt: now.Add(-time.Duration(i%7200) * time.Second),
		}
		note.RuleID = note.RuleIDs[0]
		data, err := notification.Marshal(&note)
		if err != nil {
			b.Fatal(err)
		}
		m := nats.NewMsg(wire.NotifySubject(note.Protocol))
		m.Data = data
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
		if i%2000 == 0 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	if b.N > 1 {
		b.Skip("the backlog is projected once: run with -benchtime 1x")
	}
	for range b.N {
		p := stats.NewProjector(n.JS, pg.Pool, n.Streams, nil)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- p.Run(rctx) }()
		for {
			var last int64
			_ = pg.Pool.QueryRow(ctx, "SELECT last_seq FROM projection_state WHERE name = 'stats'").Scan(&last)
			if last >= int64(notes) {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("the projection reached %d of %d in 10 minutes", last, notes)
			}
			time.Sleep(5 * time.Millisecond)
		}
		el := time.Since(start)
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.Errorf("statistics projection: %v", err)
		}
		var rows int64
		if err := pg.Pool.QueryRow(ctx, "SELECT count(*) FROM rule_generated").Scan(&rows); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(notes)/el.Seconds(), "notes/s")
		b.Logf("statistics projection: %d notifications in %s = %.0f/s; rule_generated holds %d rows (rule, hour)", notes, el.Round(time.Millisecond), float64(notes)/el.Seconds(), rows)
	}
}

func envInt(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("%s=%q: want a positive number", name, s)
		}
		return v
	}
	return def
}
