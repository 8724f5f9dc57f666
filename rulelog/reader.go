package rulelog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/rules"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
)

// VersionKey is the Redis key that holds the projection's last applied
// sequence, under a deployment's key prefix.
func VersionKey(prefix string) string { return prefix + "rules:version" }

// DefaultRedisTimeout bounds each Redis call on the rule-propagation path
// (the version read, the projector's bump). Redis answers in well under a
// millisecond; past this it is taken as unreachable, so that a consumer
// falls back to PostgreSQL and the one-second contract holds. Without a
// deadline rueidis retries a read for as long as Redis is down.
const DefaultRedisTimeout = 250 * time.Millisecond

// Reader follows the projected rule set for consumers: Version says cheaply
// (from rueidis' client-side cache) whether anything changed, and Changes
// loads what did.
type Reader struct {
	pool  *pgxpool.Pool
	redis rueidis.Client
	key   string
	// CacheTTL bounds how long Version trusts its cached value without an
	// invalidation (default 1 minute); invalidations normally come first.
	CacheTTL time.Duration
	// RedisTimeout bounds Version's read of Redis (default
	// DefaultRedisTimeout); past it Version fails, and the caller reads
	// PostgreSQL instead (Changes).
	RedisTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// NewReader reads the tables through pool and the version through client
// under prefix. Without a client, Version reads projection_state.
func NewReader(pool *pgxpool.Pool, client rueidis.Client, prefix string) *Reader {
	return &Reader{pool: pool, redis: client, key: VersionKey(prefix), CacheTTL: time.Minute,
		RedisTimeout: DefaultRedisTimeout, Logger: slog.Default()}
}

// Version is the projection's version as the projector last published it;
// 0 when it never did. Served from the client-side cache until Redis
// invalidates the key. A Redis that does not answer within RedisTimeout
// is an error.
func (r *Reader) Version(ctx context.Context) (uint64, error) {
	if r.redis == nil {
		return projected(ctx, queries.New(r.pool))
	}
	ctx, cancel := context.WithTimeout(ctx, r.redisTimeout())
	defer cancel()
	v, err := r.redis.DoCache(ctx, r.redis.B().Get().Key(r.key).Cache(), r.CacheTTL).AsUint64()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", r.key, err)
	}
	return v, nil
}

// Projected is the projection's version read from PostgreSQL
// (projection_state), not from Redis: the authority Version caches.
func (r *Reader) Projected(ctx context.Context) (uint64, error) {
	return projected(ctx, queries.New(r.pool))
}

// Ping tells whether Redis answers within RedisTimeout (nil without a
// client: nothing to wait for). Unlike Version, it cannot be answered
// from the client-side cache, so it notices a connection that hangs.
func (r *Reader) Ping(ctx context.Context) error {
	if r.redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.redisTimeout())
	defer cancel()
	if err := r.redis.Do(ctx, r.redis.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis PING: %w", err)
	}
	return nil
}

func (r *Reader) redisTimeout() time.Duration {
	if r.RedisTimeout <= 0 {
		return DefaultRedisTimeout
	}
	return r.RedisTimeout
}

// Changes returns what changed after version since: the rules whose last
// event is newer (disabled ones included: a consumer drops them), the ids
// of rules deleted since, and the version the answer is complete for, to
// pass as since next time. since 0 loads every rule. All three come from
// one snapshot.
func (r *Reader) Changes(ctx context.Context, since uint64) (changed []rules.Rule, deleted []int64, version uint64, err error) {
	tx, err := r.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := queries.New(tx)
	if version, err = projected(ctx, q); err != nil {
		return nil, nil, 0, err
	}
	rows, err := q.RuleListChangedSince(ctx, int64(since))
	if err != nil {
		return nil, nil, 0, dbErr("list changed rules", err)
	}
	changed = make([]rules.Rule, len(rows))
	for i, row := range rows {
		sr, err := ruleFromRow(row)
		if err != nil {
			return nil, nil, 0, err
		}
		changed[i] = sr.Rule
	}
	// Nothing held before version 0 can have been deleted.
	if since > 0 {
		if deleted, err = q.TombstoneListSince(ctx, int64(since)); err != nil {
			return nil, nil, 0, dbErr("list deleted rules", err)
		}
	}
	return changed, deleted, version, nil
}

// NotifyVersion hooks into opt, before the client is made from it, a
// callback that signals the returned channel whenever Redis invalidates the
// version key under prefix, and when the client's cache is flushed
// (reconnection). An OnInvalidations already set is still called. Pass the
// channel to Watch.
func NotifyVersion(opt *rueidis.ClientOption, prefix string) <-chan struct{} {
	key := VersionKey(prefix)
	ch := make(chan struct{}, 1)
	prev := opt.OnInvalidations
	opt.OnInvalidations = func(msgs []rueidis.RedisMessage) {
		if prev != nil {
			prev(msgs)
		}
		hit := msgs == nil
		for _, m := range msgs {
			if k, err := m.ToString(); err == nil && k == key {
				hit = true
				break
			}
		}
		if hit {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return ch
}
