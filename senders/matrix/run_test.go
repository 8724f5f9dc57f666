package matrix_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/senders/matrix"
	"github.com/fmn-project/fmn/senders/senderstest"
)

// TestRunFailover runs two Matrix sender processes on one NATS: one holds
// the lease and sends, and when it stops the other takes over and delivers
// the rest, in the same direct room, each message once.
func TestRunFailover(t *testing.T) {
	t.Parallel()
	hs := startDendrite(t)
	b := setup(t, hs)
	n := fmntest.StartNATS(t)
	cfg := config(t, b.proxy.URL, b.bot.Token)
	lc := lease.Config{TTL: 2 * time.Second, Renew: 500 * time.Millisecond, Poll: 100 * time.Millisecond}

	type process struct {
		cancel context.CancelFunc
		done   chan error
	}
	start := func(name string) *process {
		ctx, cancel := context.WithCancel(context.Background())
		p := &process{cancel: cancel, done: make(chan error, 1)}
		l := lc
		l.Holder = name
		go func() { p.done <- matrix.Run(ctx, n.JS, n.Streams, cfg, l, senderstest.FastOptions(5), nil, nil) }()
		t.Cleanup(func() {
			cancel()
			if err := <-p.done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
		return p
	}
	procs := map[string]*process{"one": start("one"), "two": start("two")}

	var holder string
	fmntest.Eventually(t, 10*time.Second, "a lease holder", func() bool {
		holder = senderstest.LeaseHolder(t, n.JS, lease.Config{Key: matrix.LeaseKey})
		return holder != ""
	})
	var want []string
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			line := fmt.Sprintf("[app] notification %d", i)
			want = append(want, line)
			senderstest.Publish(t, n, matrix.Channel, sample(fmt.Sprint("f", i), b.rcpt.ID, line))
		}
	}
	publish(0, 3)
	b.rcpt.waitMessages(t, b.bot.ID, 3)

	// The holder stops (releasing the lease, as on shutdown); the other
	// one, waiting, takes over.
	p := procs[holder]
	p.cancel()
	if err := <-p.done; err != nil {
		t.Fatalf("%s: %v", holder, err)
	}
	p.done <- nil // for the cleanup
	publish(3, 6)
	msgs := b.rcpt.waitMessages(t, b.bot.ID, 6)
	if got := bodies(msgs, b.bot.ID); !slices.Equal(got, want) {
		t.Errorf("received %q\nwant %q", got, want)
	}
	rooms := map[string]bool{}
	for _, m := range msgs {
		rooms[m.Room] = true
	}
	if len(rooms) != 1 {
		t.Errorf("messages in %d rooms, want one direct room", len(rooms))
	}
	if h := senderstest.LeaseHolder(t, n.JS, lease.Config{Key: matrix.LeaseKey}); h == holder || h == "" {
		t.Errorf("lease held by %q, want the other process", h)
	}
	senderstest.Settled(t, n, matrix.Channel)
}
