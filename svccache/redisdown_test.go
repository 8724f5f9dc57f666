package svccache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/svccache"
)

// While Redis is down (refusing connections, or hanging), a lookup that
// needs it fails with ErrUnavailable within RedisTimeout instead of
// waiting for Redis (a match would wait as long), the next ones fail at
// once until Redis answers a probe, and then lookups work again.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	for _, outage := range fmntest.RedisOutages {
		t.Run(outage.Name, func(t *testing.T) {
			t.Parallel()
			const timeout = time.Second
			rd := fmntest.StartRedis(t)
			b := setup(t)
			b.svc.set("a", "one")
			b.svc.set("b", "two")
			b.svc.set("c", "three")
			p := b.processAt(t, rd.URL, svccache.Config{RedisTimeout: timeout, ProbeInterval: 100 * time.Millisecond})
			if v := get(t, b.ctx, p, "a"); v != "one" {
				t.Fatalf("got %q", v)
			}

			outage.Down(rd)
			// rueidis retries a read until the context ends: here 30s.
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			defer cancel()
			start := time.Now()
			_, err := p.kind.Get(ctx, "b")
			took := time.Since(start)
			t.Logf("first lookup during the outage: %v after %s", err, took.Round(time.Millisecond))
			if !errors.Is(err, svccache.ErrUnavailable) {
				t.Fatalf("first lookup during the outage: %v, want ErrUnavailable", err)
			}
			if took > timeout+fmntest.Scaled(time.Second) {
				t.Fatalf("first lookup during the outage took %s", took.Round(time.Millisecond))
			}
			if p.cache.Available() {
				t.Fatal("Redis still available after a lookup timed out")
			}
			// Now at once, without waiting for Redis again.
			start = time.Now()
			_, err = p.kind.Get(ctx, "c")
			if took := time.Since(start); !errors.Is(err, svccache.ErrUnavailable) || took > timeout/2 {
				t.Fatalf("next lookup during the outage: %v after %s; want ErrUnavailable at once", err, took.Round(time.Millisecond))
			}
			start = time.Now()
			err = p.kind.Invalidate(ctx, "a")
			if took := time.Since(start); !errors.Is(err, svccache.ErrUnavailable) || took > timeout/2 {
				t.Fatalf("invalidation during the outage: %v after %s; want ErrUnavailable at once", err, took.Round(time.Millisecond))
			}
			if s := p.cache.Stats(); s.Unavailable < 3 {
				t.Errorf("stats %+v: want at least 3 unavailable", s)
			}

			outage.Up(rd)
			fmntest.Eventually(t, 10*time.Second, "Redis available again", p.cache.Available)
			fmntest.Eventually(t, 5*time.Second, "lookups answered again", func() bool {
				v, err := p.kind.Get(ctx, "b")
				return err == nil && v == "two"
			})
			if err := p.kind.Invalidate(ctx, "a"); err != nil {
				t.Fatalf("invalidation after the outage: %v", err)
			}
		})
	}
}
