package rulelog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
)

// While Redis is down (refusing connections, or hanging), the projector
// goes on applying rule events at full speed, the reader's Redis calls
// fail within their bound instead of waiting for Redis, and the projection
// can be followed through PostgreSQL and the progress notes; when Redis is
// back, the projector publishes the version there again.
func TestProjectionWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	for _, outage := range fmntest.RedisOutages {
		t.Run(outage.Name, func(t *testing.T) {
			t.Parallel()
			rd := fmntest.StartRedis(t)
			b := setup(t, setupOpts{noProjector: true})
			projRedis := newRedisAt(t, rd.URL, b.prefix, nil)
			p := b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{Redis: projRedis, RedisPrefix: b.prefix})
			if err := p.Start(b.ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Stop)
			check := newRedisAt(t, rd.URL, b.prefix+"check:", nil)
			redisVersion := func() (uint64, error) {
				ctx, cancel := context.WithTimeout(b.ctx, time.Second)
				defer cancel()
				return check.Do(ctx, check.B().Get().Key(rulelog.VersionKey(b.prefix)).Build()).AsUint64()
			}
			// A consumer's reader, connected before the outage.
			reader := rulelog.NewReader(b.pg.Pool, newRedisAt(t, rd.URL, b.prefix, nil), b.prefix)
			notes := make(chan uint64, 100)
			sub, err := rulelog.FollowProgress(b.nats.Conn, "", func(seq uint64) { notes <- seq })
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sub.Unsubscribe() })

			first, err := b.cmds.Create(b.ctx, "alice", rule("alice", "before"), rulelog.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			fmntest.Eventually(t, 5*time.Second, "the version in Redis", func() bool {
				v, err := redisVersion()
				return err == nil && v == first.Version
			})

			outage.Down(rd)
			// Bounded, however Redis fails (rueidis would retry the read
			// until the context ends: here 30s).
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			defer cancel()
			for name, call := range map[string]func() error{
				"Version": func() error { _, err := reader.Version(ctx); return err },
				"Ping":    func() error { return reader.Ping(ctx) },
			} {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if err == nil {
					t.Errorf("%s during the outage: no error", name)
				}
				if took > fmntest.Scaled(time.Second) {
					t.Errorf("%s during the outage took %s, want at most %s", name, took.Round(time.Millisecond), fmntest.Scaled(time.Second))
				}
				t.Logf("%s during the outage: %v after %s", name, err, took.Round(time.Millisecond))
			}

			// Each change is projected, and announced, at once.
			var last uint64
			for i := range 4 {
				start := time.Now()
				r, err := b.cmds.Create(b.ctx, "bob", rule("bob", fmt.Sprintf("during %d", i)), rulelog.Meta{})
				if err != nil {
					t.Fatalf("create %d during the outage: %v", i, err)
				}
				if took := time.Since(start); took > fmntest.Scaled(time.Second) {
					t.Errorf("create %d during the outage took %s", i, took.Round(time.Millisecond))
				}
				last = r.Version
			}
			if v, err := reader.Projected(b.ctx); err != nil || v != last {
				t.Fatalf("projected during the outage: %d, %v; want %d", v, err, last)
			}
			timeout := time.After(fmntest.Scaled(time.Second))
			for seen := uint64(0); seen < last; {
				select {
				case seen = <-notes:
				case <-timeout:
					t.Fatalf("the progress notes reached %d, want %d", seen, last)
				}
			}

			outage.Up(rd)
			fmntest.Eventually(t, 10*time.Second, "the version back in Redis", func() bool {
				v, err := redisVersion()
				return err == nil && v == last
			})
			if err := reader.Ping(b.ctx); err != nil {
				t.Fatalf("Ping after the outage: %v", err)
			}
			fmntest.Eventually(t, 5*time.Second, "Version answered by Redis again", func() bool {
				v, err := reader.Version(b.ctx)
				return err == nil && v == last
			})
		})
	}
}
