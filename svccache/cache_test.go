package svccache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/svccache"
	"github.com/redis/rueidis"
)

var errNoSuch = errors.New("no such thing")

// service is a fake web service: a value per id, counting fetches.
type service struct {
	mu      sync.Mutex
	values  map[string]string
	fetches map[string]int
	fail    error
	// gate, when set, blocks each fetch until it receives.
	gate chan struct{}
}

func newService() *service {
	return &service{values: map[string]string{}, fetches: map[string]int{}}
}

func (s *service) set(id, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[id] = v
}

func (s *service) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[id]
}

func (s *service) fetch(ctx context.Context, id string) (string, error) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches[id]++
	if s.fail != nil {
		return "", s.fail
	}
	v, ok := s.values[id]
	if !ok {
		return "", errNoSuch
	}
	return v, nil
}

// process is one fmn process's view: its own Redis client (with its own
// client-side cache) and Cache.
type process struct {
	client rueidis.Client
	inv    *svccache.Invalidations
	cache  *svccache.Cache
	kind   *svccache.Kind[string]
}

type bundle struct {
	ctx    context.Context
	prefix string
	svc    *service
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{ctx: fmntest.Context(t), prefix: fmntest.RedisPrefix(t) + "svc:", svc: newService()}
	t.Cleanup(func() { cleanRedis(t, b.prefix) })
	return b
}

func (b *bundle) process(t *testing.T) *process {
	t.Helper()
	return b.processAt(t, fmntest.RedisURL(), svccache.Config{})
}

// processAt is a process on the Redis at url, with cfg (Prefix and
// FillTimeout set by the bundle).
func (b *bundle) processAt(t *testing.T, url string, cfg svccache.Config) *process {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	inv := svccache.Hook(&opt)
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	t.Cleanup(client.Close)
	cfg.Prefix, cfg.FillTimeout = b.prefix, 5*time.Second
	c := svccache.New(b.ctx, client, inv, cfg)
	k := svccache.NewKind(c, svccache.KindConfig[string]{Name: "thing", NotFound: errNoSuch, Fetch: b.svc.fetch})
	return &process{client: client, inv: inv, cache: c, kind: k}
}

// cleanRedis deletes every key under prefix.
func cleanRedis(t testing.TB, prefix string) {
	opt, err := rueidis.ParseURL(fmntest.RedisURL())
	if err != nil {
		return
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return
	}
	defer c.Close()
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		if len(e.Elements) > 0 {
			_ = c.Do(ctx, c.B().Del().Key(e.Elements...).Build()).Error()
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

func get(t *testing.T, ctx context.Context, p *process, id string) string {
	t.Helper()
	v, err := p.kind.Get(ctx, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return v
}

func TestCache(t *testing.T) {
	t.Parallel()

	t.Run("a value is fetched once, then answered from the memo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.svc.set("a", "one")
		p := b.process(t)
		for range 100 {
			if v := get(t, b.ctx, p, "a"); v != "one" {
				t.Fatalf("got %q", v)
			}
		}
		if n := b.svc.count("a"); n != 1 {
			t.Fatalf("%d fetches", n)
		}
		s := p.cache.Stats()
		if s.Fetches != 1 || s.MemoHits < 97 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("not found is cached", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := b.process(t)
		for range 10 {
			if _, err := p.kind.Get(b.ctx, "ghost"); !errors.Is(err, errNoSuch) {
				t.Fatalf("error %v", err)
			}
		}
		if n := b.svc.count("ghost"); n != 1 {
			t.Fatalf("%d fetches", n)
		}
	})

	t.Run("a failure is not cached", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.svc.set("a", "one")
		b.svc.fail = errors.New("service down")
		p := b.process(t)
		for range 3 {
			if _, err := p.kind.Get(b.ctx, "a"); err == nil || errors.Is(err, errNoSuch) {
				t.Fatalf("error %v", err)
			}
		}
		b.svc.mu.Lock()
		b.svc.fail = nil
		b.svc.mu.Unlock()
		if v := get(t, b.ctx, p, "a"); v != "one" {
			t.Fatalf("got %q", v)
		}
		if n := b.svc.count("a"); n != 4 {
			t.Fatalf("%d fetches, want 3 failed + 1", n)
		}
	})

	t.Run("invalidate makes the next lookup fetch, once", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.svc.set("a", "one")
		p := b.process(t)
		get(t, b.ctx, p, "a")
		b.svc.set("a", "two")
		if err := p.kind.Invalidate(b.ctx, "a"); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if v := get(t, b.ctx, p, "a"); v != "two" {
				t.Fatalf("got %q", v)
			}
		}
		if n := b.svc.count("a"); n != 2 {
			t.Fatalf("%d fetches", n)
		}
	})

	t.Run("once Invalidate returns, the old answer is gone from every layer", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := b.process(t)
		// rueidis may hold a key on another connection than the delete
		// uses; the notice then arrives after the delete's reply.
		for i := range 300 {
			old, cur := fmt.Sprint("v", i), fmt.Sprint("v", i+1)
			b.svc.set("a", old)
			get(t, b.ctx, p, "a")
			get(t, b.ctx, p, "a") // from the memo or the client-side cache
			b.svc.set("a", cur)
			if err := p.kind.Invalidate(b.ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if v := get(t, b.ctx, p, "a"); v != cur {
				t.Fatalf("round %d: got %q after the invalidation, want %q", i, v, cur)
			}
			if err := p.kind.Invalidate(b.ctx, "a"); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("a fill that raced with an invalidation does not store its stale answer", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.svc.set("a", "old")
		b.svc.gate = make(chan struct{})
		p := b.process(t)
		done := make(chan string)
		go func() {
			v, _ := p.kind.Get(b.ctx, "a")
			done <- v
		}()
		// The fill holds the lock once it fetches; wait for that.
		fmntest.Eventually(t, 5*time.Second, "fill under way", func() bool {
			n, _ := p.client.Do(b.ctx, p.client.B().Exists().Key(b.prefix+"lock:{thing:a}").Build()).AsInt64()
			return n == 1
		})
		// The fetch read "old"; the service changes and the bus says so
		// before the fetch's answer is stored.
		b.svc.gate <- struct{}{}
		b.svc.mu.Lock()
		b.svc.gate = nil
		b.svc.mu.Unlock()
		if err := p.kind.Invalidate(b.ctx, "a"); err != nil {
			t.Fatal(err)
		}
		b.svc.set("a", "new")
		<-done
		if v := get(t, b.ctx, p, "a"); v != "new" {
			t.Fatalf("got %q after the invalidation", v)
		}
	})
}

// Two fmn processes share one Redis: an invalidation by one reaches the
// other's client-side cache and memo, and a miss is fetched by one of them.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()

	t.Run("an invalidation by one is seen by the other", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.svc.set("a", "one")
		p1, p2 := b.process(t), b.process(t)
		var seen atomic.Bool
		key := p2.kind.Key("a")
		p2.inv.Subscribe(func(keys []string) {
			if keys == nil || slices.Contains(keys, key) {
				seen.Store(true)
			}
		})
		if get(t, b.ctx, p1, "a") != "one" || get(t, b.ctx, p2, "a") != "one" {
			t.Fatal("first reads")
		}
		// p2 now answers from its own memo, without Redis.
		before := p2.cache.Stats()
		get(t, b.ctx, p2, "a")
		if after := p2.cache.Stats(); after.MemoHits != before.MemoHits+1 {
			t.Fatalf("p2 did not answer from its memo: %+v → %+v", before, after)
		}
		b.svc.set("a", "two")
		if err := p1.kind.Invalidate(b.ctx, "a"); err != nil {
			t.Fatal(err)
		}
		fmntest.Eventually(t, 2*time.Second, "p2 notified of the invalidation", seen.Load)
		if v := get(t, b.ctx, p2, "a"); v != "two" {
			t.Fatalf("p2 still answers %q", v)
		}
		if v := get(t, b.ctx, p1, "a"); v != "two" {
			t.Fatalf("p1 answers %q", v)
		}
		if n := b.svc.count("a"); n != 2 {
			t.Fatalf("%d fetches, want one per invalidation", n)
		}
	})

	t.Run("a miss is fetched by one process while the other waits", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.svc.set("a", "one")
		b.svc.gate = make(chan struct{})
		p1, p2 := b.process(t), b.process(t)
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			p := p1
			if i%2 == 1 {
				p = p2
			}
			wg.Go(func() {
				v, err := p.kind.Get(b.ctx, "a")
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			})
		}
		fmntest.Eventually(t, 5*time.Second, "the other process waits", func() bool {
			return p1.cache.Stats().Waits+p2.cache.Stats().Waits > 0
		})
		close(b.svc.gate)
		wg.Wait()
		for i, v := range got {
			if v != "one" {
				t.Fatalf("caller %d got %q", i, v)
			}
		}
		if n := b.svc.count("a"); n != 1 {
			t.Fatalf("%d fetches", n)
		}
	})
}
