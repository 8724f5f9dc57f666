package live_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/live"
	"github.com/redis/rueidis"
)

func tickets(t *testing.T, ttl time.Duration) (*live.Tickets, rueidis.Client) {
	t.Helper()
	opt, err := rueidis.ParseURL(fmntest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", fmntest.RedisURL(), err)
	}
	t.Cleanup(c.Close)
	return &live.Tickets{Redis: c, Prefix: fmntest.RedisPrefix(t), TTL: ttl}, c
}

func TestTickets(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)

	t.Run("works once", func(t *testing.T) {
		t.Parallel()
		tk, _ := tickets(t, 0)
		ticket, ttl, err := tk.Issue(ctx, "alice")
		if err != nil || ttl != 30*time.Second || len(ticket) < 20 {
			t.Fatalf("Issue = %q, %s, %v", ticket, ttl, err)
		}
		if u, err := tk.Redeem(ctx, ticket); err != nil || u != "alice" {
			t.Fatalf("Redeem = %q, %v", u, err)
		}
		if _, err := tk.Redeem(ctx, ticket); !errors.Is(err, live.ErrBadTicket) {
			t.Fatalf("second Redeem: %v, want ErrBadTicket", err)
		}
	})

	t.Run("of two concurrent uses, one wins", func(t *testing.T) {
		t.Parallel()
		tk, _ := tickets(t, 0)
		ticket, _, _ := tk.Issue(ctx, "alice")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				if _, err := tk.Redeem(ctx, ticket); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d uses succeeded", wins)
		}
	})

	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		tk, c := tickets(t, 50*time.Millisecond)
		ticket, _, _ := tk.Issue(ctx, "alice")
		fmntest.Eventually(t, 5*time.Second, "ticket gone from Redis", func() bool {
			keys, err := c.Do(ctx, c.B().Keys().Pattern(tk.Prefix+"*").Build()).AsStrSlice()
			return err == nil && len(keys) == 0
		})
		if _, err := tk.Redeem(ctx, ticket); !errors.Is(err, live.ErrBadTicket) {
			t.Fatalf("Redeem after expiry: %v, want ErrBadTicket", err)
		}
	})

	t.Run("Redis holds no ticket, only its hash", func(t *testing.T) {
		t.Parallel()
		tk, c := tickets(t, 0)
		ticket, _, _ := tk.Issue(ctx, "alice")
		keys, err := c.Do(ctx, c.B().Keys().Pattern(tk.Prefix+"*").Build()).AsStrSlice()
		if err != nil || len(keys) != 1 || strings.Contains(keys[0], ticket) {
			t.Errorf("keys %v, %v", keys, err)
		}
	})

	t.Run("unknown and empty tickets", func(t *testing.T) {
		t.Parallel()
		tk, _ := tickets(t, 0)
		for _, s := range []string{"", "nope", strings.Repeat("x", 100)} {
			if _, err := tk.Redeem(ctx, s); !errors.Is(err, live.ErrBadTicket) {
				t.Errorf("Redeem(%q) = %v", s, err)
			}
		}
	})
}
