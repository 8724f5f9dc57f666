// Package svccache is fmn's shared service cache: the answers of FASJSON
// and dist-git live in Redis with a TTL, shared by every consumer and API
// process, and each process reads them through rueidis client-side
// caching plus a memo of decoded values, so a hot lookup costs a map read.
//
// Consistency rests on Redis' invalidation notices. A process keeps a
// decoded value only while Redis tracks the key for it; a write, delete or
// expiry of the key, by any process, reaches every process that read it,
// which drops its copy. Invalidate deletes keys (bus messages about users,
// groups and project access call it), and a per-key version makes sure a
// fill that raced with an invalidation does not write back the old answer.
// A miss is filled by one process at a time (a lock key in Redis): each
// distinct lookup reaches the web service once per invalidation or expiry,
// however many processes and goroutines ask.
package svccache

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/internal/restclient"
	"github.com/redis/rueidis"
)

// ErrUnavailable wraps Redis errors: the cache cannot answer now. It is
// the same value as the web service clients' ErrUnavailable, so callers
// retry later in both cases.
var ErrUnavailable = restclient.ErrUnavailable

// Config of a Cache. Zero fields take the defaults.
type Config struct {
	// Prefix starts every key the cache writes (e.g. "fmn:svc:").
	Prefix string
	// FillTimeout bounds how long one process may hold a key's fill lock,
	// and how long the others wait for it (default 30s).
	FillTimeout time.Duration
	// VersionTTL is how long a key's version outlives its last
	// invalidation (default 7 days; must exceed any fill).
	VersionTTL time.Duration
	// MaxMemo bounds the decoded values kept in the process (default
	// 200000); past it the memo starts over.
	MaxMemo int
	// NoticeWait bounds how long Invalidate waits for Redis' notice of its
	// own deletes (default 200ms; notices normally take microseconds).
	NoticeWait time.Duration
	// RedisTimeout bounds each Redis call (default 250ms; Redis answers
	// in well under a millisecond). Without it rueidis retries a read for
	// as long as Redis is down, and the lookup (a match) waits as long.
	RedisTimeout time.Duration
	// ProbeInterval is how often an unreachable Redis is pinged (default
	// 250ms). Meanwhile every lookup that needs Redis fails at once with
	// ErrUnavailable rather than wait for RedisTimeout.
	ProbeInterval time.Duration
}

// Stats counts how lookups were answered.
type Stats struct {
	// MemoHits were answered from the process's decoded memo.
	MemoHits int64
	// ClientHits were answered from rueidis' client-side cache.
	ClientHits int64
	// RedisHits were answered by Redis.
	RedisHits int64
	// Fetches asked the web service (and succeeded); FetchErrors failed.
	Fetches, FetchErrors int64
	// Waits waited for another process's fill.
	Waits int64
	// Invalidated counts keys deleted by Invalidate.
	Invalidated int64
	// Unavailable counts lookups and invalidations that failed because
	// Redis was unreachable.
	Unavailable int64
}

// Lookups is the number of answered lookups.
func (s Stats) Lookups() int64 { return s.MemoHits + s.ClientHits + s.RedisHits + s.Fetches }

// HitRate is the share of lookups answered without the web service.
func (s Stats) HitRate() float64 {
	n := s.Lookups()
	if n == 0 {
		return 0
	}
	return float64(n-s.Fetches) / float64(n)
}

// Cache reads and fills entries of Kinds. It is safe for concurrent use.
type Cache struct {
	client rueidis.Client
	cfg    Config
	// life ends the probe (the ctx of New).
	life context.Context
	// down is set when a Redis call failed without an answer from Redis
	// (unreachable, timed out), until a probe answers.
	down atomic.Bool

	mu   sync.RWMutex
	memo map[string]memoEntry
	gen  atomic.Uint64 // bumped under mu by every invalidation
	// tracked holds the keys this process may have in rueidis'
	// client-side cache: marked before each cached read, cleared by the
	// key's invalidation notice.
	tracked map[string]struct{}

	fmu     sync.Mutex
	flights map[string]*flight

	wmu     sync.Mutex
	waiters map[string]chan struct{}

	stats struct {
		memo, client, redis, fetches, fetchErrors, waits, invalidated, unavailable atomic.Int64
	}
}

type memoEntry struct {
	val      any
	notFound bool
	exp      time.Time
}

type flight struct {
	done     chan struct{}
	val      any
	notFound bool
	err      error
}

// New returns a cache on client, whose invalidation notices inv must carry
// (Hook on the client's options). The cache stops following inv when ctx
// ends.
func New(ctx context.Context, client rueidis.Client, inv *Invalidations, cfg Config) *Cache {
	if cfg.FillTimeout <= 0 {
		cfg.FillTimeout = 30 * time.Second
	}
	if cfg.VersionTTL <= 0 {
		cfg.VersionTTL = 7 * 24 * time.Hour
	}
	if cfg.MaxMemo <= 0 {
		cfg.MaxMemo = 200000
	}
	if cfg.NoticeWait <= 0 {
		cfg.NoticeWait = 200 * time.Millisecond
	}
	if cfg.RedisTimeout <= 0 {
		cfg.RedisTimeout = 250 * time.Millisecond
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = 250 * time.Millisecond
	}
	c := &Cache{client: client, cfg: cfg, life: ctx, memo: map[string]memoEntry{}, tracked: map[string]struct{}{},
		flights: map[string]*flight{}, waiters: map[string]chan struct{}{}}
	stop := inv.Subscribe(c.invalidated)
	context.AfterFunc(ctx, stop)
	return c
}

// Stats returns the counters so far.
func (c *Cache) Stats() Stats {
	return Stats{
		MemoHits: c.stats.memo.Load(), ClientHits: c.stats.client.Load(), RedisHits: c.stats.redis.Load(),
		Fetches: c.stats.fetches.Load(), FetchErrors: c.stats.fetchErrors.Load(),
		Waits: c.stats.waits.Load(), Invalidated: c.stats.invalidated.Load(), Unavailable: c.stats.unavailable.Load(),
	}
}

// Available tells whether Redis answered the last call (or probe).
func (c *Cache) Available() bool { return !c.down.Load() }

// errDown is the error of a call not made because Redis is unreachable.
var errDown = fmt.Errorf("%w: redis unreachable", ErrUnavailable)

// checkUp fails at once while Redis is known to be unreachable.
func (c *Cache) checkUp() error {
	if c.down.Load() {
		c.stats.unavailable.Add(1)
		return errDown
	}
	return nil
}

// failed notes the outcome of a Redis call made under ctx: without an
// answer from Redis (unreachable, timed out), and not because ctx ended,
// Redis is taken as unreachable until a probe answers.
func (c *Cache) failed(ctx context.Context, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	if _, ok := rueidis.IsRedisErr(err); ok {
		return
	}
	c.stats.unavailable.Add(1)
	if c.down.CompareAndSwap(false, true) {
		go c.probe()
	}
}

// probe pings Redis every ProbeInterval until it answers, then lets
// lookups use it again.
func (c *Cache) probe() {
	t := time.NewTicker(c.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-c.life.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.life, c.cfg.RedisTimeout)
		err := c.client.Do(ctx, c.client.B().Ping().Build()).Error()
		cancel()
		if err == nil {
			c.down.Store(false)
			return
		}
	}
}

// do runs one command within RedisTimeout.
func (c *Cache) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	r := c.client.Do(rctx, cmd)
	c.failed(ctx, r.NonRedisError())
	return r
}

// doCache reads through the client-side cache within RedisTimeout.
func (c *Cache) doCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	r := c.client.DoCache(rctx, cmd, ttl)
	c.failed(ctx, r.NonRedisError())
	return r
}

// exec runs a script within RedisTimeout.
func (c *Cache) exec(ctx context.Context, s *rueidis.Lua, keys, args []string) error {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	r := s.Exec(rctx, c.client, keys, args)
	c.failed(ctx, r.NonRedisError())
	return r.Error()
}

// Prefix is the prefix of every key of the cache.
func (c *Cache) Prefix() string { return c.cfg.Prefix }

// invalidated drops the memo entries of keys (all when keys is nil) and
// wakes whoever waits for them. It runs on rueidis' reading goroutine.
func (c *Cache) invalidated(keys []string) {
	if keys != nil {
		mine := false
		for _, k := range keys {
			if strings.HasPrefix(k, c.cfg.Prefix) {
				mine = true
				break
			}
		}
		if !mine {
			return
		}
	}
	c.mu.Lock()
	c.gen.Add(1)
	if keys == nil {
		clear(c.memo)
		clear(c.tracked)
	} else {
		for _, k := range keys {
			delete(c.memo, k)
			delete(c.tracked, k)
		}
	}
	c.mu.Unlock()

	c.wmu.Lock()
	if keys == nil {
		for k, ch := range c.waiters {
			close(ch)
			delete(c.waiters, k)
		}
	} else {
		for _, k := range keys {
			if ch, ok := c.waiters[k]; ok {
				close(ch)
				delete(c.waiters, k)
			}
		}
	}
	c.wmu.Unlock()
}

// waiter returns a channel closed at the next invalidation of key.
func (c *Cache) waiter(key string) <-chan struct{} {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ch, ok := c.waiters[key]
	if !ok {
		ch = make(chan struct{})
		c.waiters[key] = ch
	}
	return ch
}

func (c *Cache) recall(key string) (memoEntry, bool) {
	c.mu.RLock()
	e, ok := c.memo[key]
	c.mu.RUnlock()
	if ok && time.Now().Before(e.exp) {
		return e, true
	}
	return memoEntry{}, false
}

// track notes that key is read through the client-side cache, and
// returns the invalidation generation to pass to remember. A key marked
// but no longer tracked by Redis (a notice came between the read and the
// mark) only costs Invalidate a wait of NoticeWait for a notice that will
// not come.
func (c *Cache) track(key string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tracked) >= 4*c.cfg.MaxMemo {
		// Forgetting only costs Invalidate a wait for a notice that may
		// not come.
		clear(c.tracked)
	}
	c.tracked[key] = struct{}{}
	return c.gen.Load()
}

// remember keeps a decoded value read through the client-side cache, unless
// an invalidation came since gen was read: then Redis may no longer track
// the key for this process, and the value could go stale unnoticed.
func (c *Cache) remember(key string, gen uint64, e memoEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.memo) >= c.cfg.MaxMemo {
		clear(c.memo)
	}
	c.memo[key] = e
}

// Stored values: "v" + encoded value, or "n" for a cached "not found".
const (
	markValue    = 'v'
	markNotFound = 'n'
)

// loader says how to decode and fetch one entry.
type loader struct {
	ttl, notFoundTTL time.Duration
	decode           func([]byte) (any, error)
	// fetch asks the web service: the value and its encoding, or notFound.
	fetch func(ctx context.Context) (val any, enc []byte, notFound bool, err error)
}

func (c *Cache) versionKey(key string) string { return c.cfg.Prefix + "ver:" + key[len(c.cfg.Prefix):] }
func (c *Cache) lockKey(key string) string    { return c.cfg.Prefix + "lock:" + key[len(c.cfg.Prefix):] }

// get answers key from the memo, the client-side cache, Redis or, on a
// miss, the web service.
func (c *Cache) get(ctx context.Context, key string, l *loader) (any, bool, error) {
	if e, ok := c.recall(key); ok {
		c.stats.memo.Add(1)
		return e.val, e.notFound, nil
	}
	if err := c.checkUp(); err != nil {
		return nil, false, err
	}
	gen := c.track(key)
	resp := c.doCache(ctx, c.client.B().Get().Key(key).Cache(), l.ttl)
	// Again after the read: an older notice handled during the read
	// cleared the first mark, though Redis now tracks the key anew.
	c.track(key)
	s, err := resp.ToString()
	switch {
	case err == nil:
		val, nf, derr := c.decodeStored(s, l)
		if derr == nil {
			if resp.IsCacheHit() {
				c.stats.client.Add(1)
			} else {
				c.stats.redis.Add(1)
			}
			exp := time.Now().Add(l.ttl)
			if ms := resp.CachePTTL(); ms > 0 {
				exp = time.Now().Add(time.Duration(ms) * time.Millisecond)
			}
			c.remember(key, gen, memoEntry{val: val, notFound: nf, exp: exp})
			return val, nf, nil
		}
		// A value this version cannot read (written by another one):
		// fetch again and overwrite it.
	case rueidis.IsRedisNil(err):
	default:
		return nil, false, fmt.Errorf("%w: redis GET %s: %w", ErrUnavailable, key, err)
	}
	return c.fill(ctx, key, l)
}

func (c *Cache) decodeStored(s string, l *loader) (any, bool, error) {
	if s == "" {
		return nil, false, errors.New("empty value")
	}
	switch s[0] {
	case markNotFound:
		return nil, true, nil
	case markValue:
		v, err := l.decode([]byte(s[1:]))
		return v, false, err
	}
	return nil, false, errors.New("unknown value mark")
}

// fill fetches key once per process at a time: concurrent callers share
// the first one's answer.
func (c *Cache) fill(ctx context.Context, key string, l *loader) (any, bool, error) {
	c.fmu.Lock()
	if f, ok := c.flights[key]; ok {
		c.fmu.Unlock()
		select {
		case <-f.done:
			return f.val, f.notFound, f.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.fmu.Unlock()

	f.val, f.notFound, f.err = c.fillShared(ctx, key, l)

	c.fmu.Lock()
	delete(c.flights, key)
	c.fmu.Unlock()
	close(f.done)
	return f.val, f.notFound, f.err
}

// fillShared fetches key once across processes: the holder of the key's
// lock fetches and stores, the others wait for the stored value.
func (c *Cache) fillShared(ctx context.Context, key string, l *loader) (any, bool, error) {
	verKey, lockKey := c.versionKey(key), c.lockKey(key)
	deadline := time.Now().Add(c.cfg.FillTimeout)
	for {
		ver, err := c.do(ctx, c.client.B().Get().Key(verKey).Build()).ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			return nil, false, fmt.Errorf("%w: redis GET %s: %w", ErrUnavailable, verKey, err)
		}
		if time.Now().After(deadline) {
			// The lock outlived its holder's patience: fetch without it.
			return c.fetchAndStore(ctx, key, verKey, lockKey, ver, "", l)
		}
		token := crand.Text()
		err = c.do(ctx, c.client.B().Set().Key(lockKey).Value(token).Nx().PxMilliseconds(c.cfg.FillTimeout.Milliseconds()).Build()).Error()
		switch {
		case err == nil:
			// Someone may have stored the value since this process saw
			// the key empty (its client-side copy of "empty" can even
			// outlive the store by the time the notice takes to arrive).
			if s, err := c.do(ctx, c.client.B().Get().Key(key).Build()).ToString(); err == nil {
				if val, nf, derr := c.decodeStored(s, l); derr == nil {
					_ = c.exec(context.WithoutCancel(ctx), releaseScript, []string{lockKey}, []string{token})
					c.stats.redis.Add(1)
					return val, nf, nil
				}
			}
			return c.fetchAndStore(ctx, key, verKey, lockKey, ver, token, l)
		case !rueidis.IsRedisNil(err):
			return nil, false, fmt.Errorf("%w: redis SET %s: %w", ErrUnavailable, lockKey, err)
		}
		c.stats.waits.Add(1)
		val, nf, found, err := c.await(ctx, key, lockKey, l, deadline)
		if err != nil || found {
			return val, nf, err
		}
		// The lock is gone and no value came: its holder failed. Try.
	}
}

// await waits until key has a value (found), its fill lock is gone, or
// the deadline passes.
func (c *Cache) await(ctx context.Context, key, lockKey string, l *loader, deadline time.Time) (val any, nf, found bool, err error) {
	t := time.NewTimer(0)
	<-t.C
	defer t.Stop()
	for {
		// Reading through the client-side cache makes Redis notify this
		// process when the value is stored, which wakes it.
		wake := c.waiter(key)
		c.track(key)
		s, err := c.doCache(ctx, c.client.B().Get().Key(key).Cache(), l.ttl).ToString()
		c.track(key)
		if err == nil {
			if val, nf, derr := c.decodeStored(s, l); derr == nil {
				return val, nf, true, nil
			}
			return nil, false, false, nil
		}
		if !rueidis.IsRedisNil(err) {
			return nil, false, false, fmt.Errorf("%w: redis GET %s: %w", ErrUnavailable, key, err)
		}
		held, err := c.do(ctx, c.client.B().Exists().Key(lockKey).Build()).AsInt64()
		if err != nil {
			return nil, false, false, fmt.Errorf("%w: redis EXISTS %s: %w", ErrUnavailable, lockKey, err)
		}
		if held == 0 || time.Now().After(deadline) {
			return nil, false, false, nil
		}
		// The holder's store wakes us; the timer covers a holder that
		// dies, whose lock then expires.
		t.Reset(50 * time.Millisecond)
		select {
		case <-wake:
			if !t.Stop() {
				<-t.C
			}
		case <-t.C:
		case <-ctx.Done():
			return nil, false, false, ctx.Err()
		}
	}
}

// storeScript stores a fetched value only if the key's version is still
// the one read before the fetch (no invalidation in between), then
// releases the fill lock if it is still ours.
var storeScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[2]) or ''
local stored = 0
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  stored = 1
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then
  redis.call('DEL', KEYS[3])
end
return stored
`)

// releaseScript deletes a fill lock if it is still ours.
var releaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (c *Cache) fetchAndStore(ctx context.Context, key, verKey, lockKey, ver, token string, l *loader) (any, bool, error) {
	val, enc, nf, err := l.fetch(ctx)
	if err != nil {
		c.stats.fetchErrors.Add(1)
		if token != "" {
			// Let the next asker try now rather than after FillTimeout.
			_ = c.exec(context.WithoutCancel(ctx), releaseScript, []string{lockKey}, []string{token})
		}
		return nil, false, err
	}
	c.stats.fetches.Add(1)
	ttl := l.ttl
	stored := make([]byte, 0, len(enc)+1)
	if nf {
		ttl = l.notFoundTTL
		stored = append(stored, markNotFound)
	} else {
		stored = append(append(stored, markValue), enc...)
	}
	// ±10% so that entries filled together do not all expire together.
	ttl = ttl - ttl/10 + time.Duration(rand.Int64N(int64(ttl/5)+1))
	ms := strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
	// A failed store leaves the key empty: the next lookup fetches again.
	_ = c.exec(context.WithoutCancel(ctx), storeScript, []string{key, verKey, lockKey},
		[]string{ver, string(stored), ms, token})
	return val, nf, nil
}

// Invalidate deletes keys in Redis, so that every process drops its copy
// and the next lookup fetches a fresh answer, and makes any fill that was
// under way when it ran discard what it fetched. When it returns, this
// process will not answer from an old value: it waits (at most NoticeWait)
// for Redis' notice of the delete to reach the client-side cache, which
// may hold the key on another connection than the delete used.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := c.checkUp(); err != nil {
		return fmt.Errorf("invalidate %d keys: %w", len(keys), err)
	}
	notices := make([]<-chan struct{}, len(keys))
	for i, k := range keys {
		notices[i] = c.waiter(k)
	}
	cmds := make(rueidis.Commands, 0, 3*len(keys))
	for _, k := range keys {
		v := c.versionKey(k)
		cmds = append(cmds,
			c.client.B().Incr().Key(v).Build(),
			c.client.B().Pexpire().Key(v).Milliseconds(c.cfg.VersionTTL.Milliseconds()).Build(),
			c.client.B().Del().Key(k).Build())
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	for _, r := range c.client.DoMulti(rctx, cmds...) {
		if err := r.Error(); err != nil {
			c.failed(ctx, r.NonRedisError())
			return fmt.Errorf("%w: redis: invalidate %d keys: %w", ErrUnavailable, len(keys), err)
		}
	}
	c.stats.invalidated.Add(int64(len(keys)))
	// Wait for the notices of the keys this process may hold; the others
	// get none.
	var wait []<-chan struct{}
	c.mu.RLock()
	for i, k := range keys {
		if _, ok := c.tracked[k]; ok {
			wait = append(wait, notices[i])
		}
	}
	c.mu.RUnlock()
	if len(wait) > 0 {
		t := time.NewTimer(c.cfg.NoticeWait)
	notices:
		for _, ch := range wait {
			select {
			case <-ch:
			case <-t.C:
				break notices
			case <-ctx.Done():
				break notices
			}
		}
		t.Stop()
	}
	c.invalidated(keys)
	return nil
}

// KindConfig describes one kind of entry: how to fetch, encode and decode
// it, and how long it lives.
type KindConfig[T any] struct {
	// Name makes the keys of the kind: <prefix>{<name>:<id>}.
	Name string
	// TTL of a value in Redis (±10%; default 1h).
	TTL time.Duration
	// NotFoundTTL of a cached "not found" (default 10m).
	NotFoundTTL time.Duration
	// NotFound is the error Fetch returns (errors.Is) when id does not
	// exist. That answer is cached too, and Get returns it wrapped. nil:
	// nothing counts as not found.
	NotFound error
	// Fetch asks the web service.
	Fetch func(ctx context.Context, id string) (T, error)
	// Encode and Decode default to JSON. A decoded value is shared by every
	// caller: it must not be modified.
	Encode func(T) ([]byte, error)
	Decode func([]byte) (T, error)
}

// Kind is one kind of entry in a Cache (a user record, the projects a
// user owns...), addressed by id.
type Kind[T any] struct {
	c      *Cache
	cfg    KindConfig[T]
	prefix string
}

// NewKind adds a kind of entry to c.
func NewKind[T any](c *Cache, cfg KindConfig[T]) *Kind[T] {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.NotFoundTTL <= 0 {
		cfg.NotFoundTTL = 10 * time.Minute
	}
	if cfg.Encode == nil {
		cfg.Encode = func(v T) ([]byte, error) { return json.Marshal(v) }
	}
	if cfg.Decode == nil {
		cfg.Decode = func(b []byte) (T, error) {
			var v T
			err := json.Unmarshal(b, &v)
			return v, err
		}
	}
	return &Kind[T]{c: c, cfg: cfg, prefix: c.cfg.Prefix + "{" + cfg.Name + ":"}
}

// Key is the Redis key of id.
func (k *Kind[T]) Key(id string) string { return k.prefix + id + "}" }

// ID is the id of a key of this kind; ok is false for any other key.
func (k *Kind[T]) ID(key string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(key, k.prefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "}")
}

// Get returns the value of id, cached. A cached or fetched "not found" is
// returned as an error wrapping KindConfig.NotFound.
func (k *Kind[T]) Get(ctx context.Context, id string) (T, error) {
	var zero T
	key := k.Key(id)
	var (
		v   any
		nf  bool
		err error
	)
	if e, ok := k.c.recall(key); ok {
		k.c.stats.memo.Add(1)
		v, nf = e.val, e.notFound
	} else {
		v, nf, err = k.c.get(ctx, key, k.loader(id))
	}
	if err != nil {
		return zero, err
	}
	if nf {
		return zero, fmt.Errorf("%s %q: %w", k.cfg.Name, id, k.cfg.NotFound)
	}
	return v.(T), nil
}

// Fetch asks the web service directly, bypassing and not touching the
// cache: for a decision that must not rest on a cached answer.
func (k *Kind[T]) Fetch(ctx context.Context, id string) (T, error) { return k.cfg.Fetch(ctx, id) }

// Invalidate deletes the entries of ids (see Cache.Invalidate).
func (k *Kind[T]) Invalidate(ctx context.Context, ids ...string) error {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, k.Key(id))
	}
	return k.c.Invalidate(ctx, keys...)
}

func (k *Kind[T]) loader(id string) *loader {
	return &loader{
		ttl: k.cfg.TTL, notFoundTTL: k.cfg.NotFoundTTL,
		decode: func(b []byte) (any, error) { return k.cfg.Decode(b) },
		fetch: func(ctx context.Context) (any, []byte, bool, error) {
			v, err := k.cfg.Fetch(ctx, id)
			if err != nil {
				if k.cfg.NotFound != nil && errors.Is(err, k.cfg.NotFound) {
					return nil, nil, true, nil
				}
				return nil, nil, false, err
			}
			enc, err := k.cfg.Encode(v)
			if err != nil {
				return nil, nil, false, fmt.Errorf("%s %q: encode: %w", k.cfg.Name, id, err)
			}
			return v, enc, false, nil
		},
	}
}
