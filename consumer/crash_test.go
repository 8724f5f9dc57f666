package consumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/redis/rueidis"
)

// The crash helper is this test binary run again as a consumer process:
// TestCrashHelperProcess does nothing unless fmntest.StartProcess started it, and then
// runs a matcher until it is killed. The other variables say where the
// services are.
const (
	envNATS       = "FMN_CRASH_NATS_URL"
	envDatabase   = "FMN_CRASH_DATABASE_URL"
	envRedis      = "FMN_CRASH_REDIS_URL"
	envPrefix     = "FMN_CRASH_REDIS_PREFIX"
	envAckWait    = "FMN_CRASH_ACK_WAIT"
	envInFlight   = "FMN_CRASH_IN_FLIGHT"
	crashAckWait  = 2 * time.Second
	crashInFlight = 512
)

// TestCrashHelperProcess is the consumer process of
// TestConsumerSurvivesSIGKILL, not a test of its own.
func TestCrashHelperProcess(t *testing.T) {
	t.Parallel()
	fmntest.RunProcess(t, runCrashHelper)
}

// runCrashHelper wires a consumer process as `fmn serve --roles consumer`
// does (Postgres rule reader, rueidis-cached version, matcher, consumer),
// with the AckWait and InFlight the parent asks for.
func runCrashHelper() error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ackWait, err := time.ParseDuration(os.Getenv(envAckWait))
	if err != nil {
		return err
	}
	inFlight, err := strconv.Atoi(os.Getenv(envInFlight))
	if err != nil {
		return err
	}
	nc, err := nats.Connect(os.Getenv(envNATS))
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, os.Getenv(envDatabase))
	if err != nil {
		return err
	}
	opt, err := rueidis.ParseURL(os.Getenv(envRedis))
	if err != nil {
		return err
	}
	prefix := os.Getenv(envPrefix)
	wake := rulelog.NotifyVersion(&opt, prefix)
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return err
	}
	m := consumer.NewMatcher(rulelog.NewReader(pool, client, prefix), nil, testSite, log)
	if err := m.Sync(ctx); err != nil {
		return err
	}
	go m.RunSync(ctx, wake, 500*time.Millisecond)
	c := consumer.New(nc, streams.Defaults(), m, consumer.Config{AckWait: ackWait, InFlight: inFlight}, log)
	fmt.Printf("pid %d: %d rules at version %d, consuming\n", os.Getpid(), m.RuleCount(), m.Version())
	go func() {
		tick := time.NewTicker(time.Second)
		for range tick.C {
			fmt.Printf("pid %d: messages %d, acked %d, notifications %d, retries %d, dead letters %d\n", os.Getpid(),
				c.Stats.Messages.Load(), c.Stats.Acked.Load(), c.Stats.Notifications.Load(), c.Stats.Retries.Load(), c.Stats.DeadLetters.Load())
		}
	}()
	return c.Run(ctx)
}

// startHelper starts a consumer process (TestCrashHelperProcess) on b's
// services.
func (b *bundle) startHelper(t *testing.T, name string) *fmntest.Process {
	t.Helper()
	return fmntest.StartProcess(t, name, "TestCrashHelperProcess",
		envNATS+"="+b.nats.URL,
		envDatabase+"="+b.pg.URL,
		envRedis+"="+fmntest.RedisURL(),
		envPrefix+"="+b.prefix,
		envAckWait+"="+crashAckWait.String(),
		envInFlight+"="+strconv.Itoa(crashInFlight),
	)
}

// TestConsumerSurvivesSIGKILL kills a real consumer process in the middle
// of a stream and checks that its successor leaves NOTIFY with every
// expected notification exactly once: messages handled but not acked are
// redelivered (nothing lost) and their notifications deduplicated by
// Nats-Msg-Id (nothing twice).
func TestConsumerSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts consumer processes")
	}
	b := setup(t)
	const users, n = 200, 20000
	user := func(i int) string { return fmt.Sprintf("u%03d", i%users) }

	// 200 users, each with a rule on their own name; every tenth user
	// also wants IRC.
	var wg sync.WaitGroup
	errs := make(chan error, users)
	sem := make(chan struct{}, 8)
	for u := range users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			dests := []rules.Destination{email(user(u) + "@example.org")}
			if u%10 == 0 {
				dests = append(dests, irc(user(u)))
			}
			_, err := b.cmds.Create(b.ctx, user(u), rules.Rule{
				Name:            "my events",
				TrackingRule:    rules.TrackingRule{Name: rules.TrackRelatedEvents},
				GenerationRules: []rules.GenerationRule{genTo(rules.Filters{}, dests...)},
			}, rulelog.Meta{})
			if err != nil {
				errs <- fmt.Errorf("rule of %s: %w", user(u), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Message i is about user i and, every third message, user 7i+3 too;
	// every 50th is by its own user, whose rule then stays silent.
	want := map[string]bool{}
	msgs := make([]*nats.Msg, 0, n)
	for i := range n {
		id := fmt.Sprintf("crash-%05d", i)
		about := []int{i % users}
		if i%3 == 0 {
			about = append(about, (7*i+3)%users)
		}
		agent := "someone"
		if i%50 == 0 {
			agent = user(i)
		}
		h := map[string]string{}
		for _, u := range about {
			h[bus.FilterHeader("user", user(u))] = "true"
			if user(u) == agent {
				continue
			}
			want[notification.ID(id, "email", user(u)+"@example.org")] = true
			if u%10 == 0 {
				want[notification.ID(id, "irc", user(u))] = true
			}
		}
		msgs = append(msgs, busMsg(t, id, bodhiTopic, map[string]any{"agent": agent, "summary": "message " + id}, h))
	}
	start := time.Now()
	publishAsync(t, b.nats.JS, msgs)
	t.Logf("%d rules, %d messages published in %s, %d notifications expected",
		users, n, time.Since(start).Round(time.Millisecond), len(want))

	start = time.Now()
	first := b.startHelper(t, "helper 1")
	eventually(t, 60*time.Second, "the first helper stores 20% of the notifications", func() bool {
		if err := first.Exited(); err != nil {
			t.Fatal(err)
		}
		return streamMsgs(t, b.ctx, b.nats.JS, b.nats.Streams.Notify) >= uint64(len(want)/5)
	})
	first.Kill(t)
	var status syscall.WaitStatus
	if ws, ok := first.State().Sys().(syscall.WaitStatus); ok {
		status = ws
	}
	if !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("helper 1 did not die of SIGKILL: %v", first.State())
	}
	stored := streamMsgs(t, b.ctx, b.nats.JS, b.nats.Streams.Notify)
	ci, err := consumerState(b.ctx, b.nats.JS, b.nats.Streams.Bus, "matcher")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed helper 1 after %s: %d of %d notifications stored; %d messages unacked, %d not delivered",
		time.Since(start).Round(time.Millisecond), stored, len(want), ci.NumAckPending, ci.NumPending)
	if stored >= uint64(len(want)) || ci.NumPending == 0 {
		t.Fatal("helper 1 finished before it was killed: the test needs more messages")
	}
	if ci.NumAckPending == 0 {
		t.Fatal("helper 1 held no unacked message when killed: nothing tests redelivery")
	}

	start = time.Now()
	second := b.startHelper(t, "helper 2")
	waitSettled(t, b.ctx, b.nats, "matcher", 60*time.Second)
	if err := second.Exited(); err != nil {
		t.Fatal(err)
	}
	ci, err = consumerState(b.ctx, b.nats.JS, b.nats.Streams.Bus, "matcher")
	if err != nil {
		t.Fatal(err)
	}
	// Delivered.Consumer counts deliveries: more than n means that the
	// messages helper 1 held unacked went to helper 2 again.
	t.Logf("helper 2 settled in %s; %d deliveries of %d messages", time.Since(start).Round(time.Millisecond), ci.Delivered.Consumer, n)
	if ci.Delivered.Consumer <= n {
		t.Errorf("%d deliveries of %d messages: nothing was redelivered", ci.Delivered.Consumer, n)
	}

	checkIDs(t, notificationIDs(t, b.ctx, b.nats), want)
	if dl := streamMsgs(t, b.ctx, b.nats.JS, b.nats.Streams.DLQ); dl != 0 {
		t.Errorf("DLQ holds %d messages", dl)
	}
}
