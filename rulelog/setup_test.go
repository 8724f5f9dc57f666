package rulelog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
)

// bundle is what a test of the rule log needs: one NATS, one schema, one
// Redis prefix, a running projector and the command side.
type bundle struct {
	ctx    context.Context
	nats   *fmntest.NATS
	pg     *fmntest.Postgres
	redis  rueidis.Client
	prefix string
	proj   *rulelog.Projector
	cmds   *rulelog.Commands
	store  *rulelog.Store
	reader *rulelog.Reader
}

type setupOpts struct {
	noProjector    bool
	projectionWait time.Duration
}

func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	b := &bundle{
		ctx:    fmntest.Context(t),
		nats:   fmntest.StartNATS(t),
		pg:     fmntest.StartPostgres(t),
		prefix: fmntest.RedisPrefix(t),
	}
	b.redis = newRedis(t, b.prefix, nil)
	b.proj = b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{})
	if !o.noProjector {
		if err := b.proj.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.proj.Stop)
	}
	cmds, err := rulelog.NewCommands(b.ctx, b.nats.JS, b.pg.Pool, rulelog.CommandsConfig{
		Stream:         b.nats.Streams.Rules,
		ProjectionWait: o.projectionWait,
		Logger:         testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	b.cmds = cmds
	b.store = rulelog.NewStore(b.pg.Pool)
	b.reader = rulelog.NewReader(b.pg.Pool, b.redis, b.prefix)
	return b
}

// projector returns a projector of b's stream into pool (not started).
func (b *bundle) projector(t *testing.T, pool *pgxpool.Pool, cfg rulelog.ProjectorConfig) *rulelog.Projector {
	cfg.Stream = b.nats.Streams.Rules
	if cfg.Redis == nil {
		cfg.Redis, cfg.RedisPrefix = b.redis, b.prefix
	}
	cfg.Logger = testLogger(t)
	return rulelog.NewProjector(b.nats.JS, pool, cfg)
}

// newRedis connects to the test Redis; with notify, invalidations of the
// version key under prefix signal the returned channel.
func newRedis(t *testing.T, prefix string, notify *<-chan struct{}) rueidis.Client {
	t.Helper()
	return newRedisAt(t, fmntest.RedisURL(), prefix, notify)
}

// newRedisAt is newRedis on the Redis at url.
func newRedisAt(t *testing.T, url, prefix string, notify *<-chan struct{}) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if notify != nil {
		*notify = rulelog.NotifyVersion(&opt, prefix)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	t.Cleanup(func() {
		// Bounded: a test's private Redis may be down by now.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Do(ctx, c.B().Del().Key(rulelog.VersionKey(prefix)).Build()).Error()
		c.Close()
	})
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// rule is a valid rule of user, told apart by name.
func rule(user, name string) rules.Rule {
	return rules.Rule{
		Name:         name,
		TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: json.RawMessage(fmt.Sprintf(`[%q]`, user))},
		GenerationRules: []rules.GenerationRule{{
			Destinations: []rules.Destination{{Protocol: rules.ProtocolEmail, Address: "someone@example.org"}},
			Filters:      rules.Filters{Applications: []string{"bodhi"}},
		}},
	}
}

// dump is every table of the rule projection, row by row, in a fixed order.
func dump(t testing.TB, ctx context.Context, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT row_to_json(t)::text FROM projection_state t WHERE name = 'rules'`,
		`SELECT row_to_json(t)::text FROM users t ORDER BY name`,
		`SELECT row_to_json(t)::text FROM rules t ORDER BY id`,
		`SELECT row_to_json(t)::text FROM rule_tombstones t ORDER BY rule_id`,
		`SELECT row_to_json(t)::text FROM delivery_settings t ORDER BY username`,
	} {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s)
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		b.WriteString("--\n")
	}
	return b.String()
}

// count runs a count(*) query.
func count(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func streamLastSeq(t *testing.T, b *bundle) uint64 {
	t.Helper()
	s, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func waitProjected(t *testing.T, b *bundle, pool *pgxpool.Pool, seq uint64) {
	t.Helper()
	waitProjectedWithin(t, b, pool, seq, 30*time.Second)
}

func waitProjectedWithin(t *testing.T, b *bundle, pool *pgxpool.Pool, seq uint64, within time.Duration) {
	t.Helper()
	store := rulelog.NewStore(pool)
	fmntest.Eventually(t, within, fmt.Sprintf("projection reaches %d", seq), func() bool {
		got, err := store.Projected(b.ctx)
		return err == nil && got >= seq
	})
}

func ptr[T any](v T) *T { return &v }

// appendEvent appends ev straight to the stream, as an import or a
// hand-made event gets there, and returns its sequence.
func (b *bundle) appendEvent(t *testing.T, ev rulelog.Event) uint64 {
	t.Helper()
	msg, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	ack, err := b.nats.JS.PublishMsg(b.ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// appendProjected is appendEvent, then waits until the projection has
// applied the event.
func (b *bundle) appendProjected(t *testing.T, ev rulelog.Event) uint64 {
	t.Helper()
	seq := b.appendEvent(t, ev)
	if err := b.cmds.WaitProjected(b.ctx, seq); err != nil {
		t.Fatal(err)
	}
	return seq
}
