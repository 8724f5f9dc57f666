// Package fmntest gives tests isolated real services: an embedded
// nats-server with JetStream per test, a PostgreSQL schema per test and a
// Redis key prefix per test.
package fmntest

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/streams"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is one test's embedded JetStream server with fmn's streams.
type NATS struct {
	URL     string
	Conn    *nats.Conn
	JS      jetstream.JetStream
	Streams streams.Config
	Server  *streams.Embedded
	dir     string
}

// StartNATS starts an embedded nats-server on a random loopback port with
// storage in t.TempDir(), and creates the streams.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	dir := t.TempDir()
	srv, err := streams.StartEmbedded(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{Server: srv, dir: dir}
	t.Cleanup(func() { n.Server.Shutdown() })
	nc, err := nats.Connect(srv.URL(), append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)},
		streams.LogOptions(Logger(t, slog.LevelWarn))...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := streams.Defaults()
	if err := streams.Ensure(Context(t), js, cfg, Logger(t, slog.LevelWarn)); err != nil {
		t.Fatal(err)
	}
	n.URL, n.Conn, n.JS, n.Streams = srv.URL(), nc, js, cfg
	return n
}

// Restart shuts the server down, waits for down, and starts it again on
// the same port and storage, as an operator restarting a node would:
// clients see a disconnection, then reconnect to what they had.
func (n *NATS) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	n.Stop()
	time.Sleep(down)
	n.Start(t)
}

// Stop shuts the server down; Start starts it again.
func (n *NATS) Stop() { n.Server.Shutdown() }

// Start starts the server again after Stop, on the same port and storage.
func (n *NATS) Start(t testing.TB) {
	t.Helper()
	u, err := url.Parse(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(Scaled(10 * time.Second))
	for {
		srv, err := streams.StartEmbedded(n.dir, port)
		if err == nil {
			n.Server = srv
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarting NATS on port %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logger is a structured logger writing to the test's log from level on.
// Lines logged after the test ended (by a goroutine that outlived it) are
// dropped.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(NewLogWriter(t), &slog.HandlerOptions{Level: level}))
}

// LogWriter passes what is written to the test log, line by line, until
// the test ends.
type LogWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

// NewLogWriter returns a LogWriter for t.
func NewLogWriter(t testing.TB) *LogWriter {
	w := &LogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return w
}

func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Postgres is one test's schema in the test database.
type Postgres struct {
	// URL connects with search_path set to the test's schema.
	URL    string
	Schema string
	Pool   *pgxpool.Pool
}

// DatabaseURL is the test database: FMN_TEST_DATABASE_URL or the local one.
func DatabaseURL() string {
	if u := os.Getenv("FMN_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisURL is the test Redis: FMN_TEST_REDIS_URL or the local one.
func RedisURL() string {
	if u := os.Getenv("FMN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// AMQPURL is the test RabbitMQ: FMN_TEST_AMQP_URL or the local one.
func AMQPURL() string {
	if u := os.Getenv("FMN_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// StartPostgres creates a fresh schema with fmn's tables and drops it when
// the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	return StartPostgresWith(t, fmn.Schema)
}

// StartPostgresWith creates a fresh schema with the tables ddl creates
// (another system's, say FMN v3's) and drops it when the test ends.
func StartPostgresWith(t testing.TB, ddl string) *Postgres {
	t.Helper()
	ctx := Context(t)
	schema := "t_" + RandomID()
	admin, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v (start it with scripts/services.sh)", DatabaseURL(), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), DatabaseURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pool, err := queries.NewPool(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, ddl); err != nil {
		t.Fatalf("apply schema: %v", err)
	}
	return &Postgres{URL: u.String(), Schema: schema, Pool: pool}
}

// RedisPrefix returns a key prefix unique to this test.
func RedisPrefix(t testing.TB) string {
	return "fmntest:" + RandomID() + ":"
}

// RandomID is 12 random hex characters.
func RandomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Context is cancelled when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// TimeScale is how much longer than on a quiet machine tests wait for
// something to happen: FMN_TEST_TIME_SCALE when set (a number >= 1), else 4
// under the race detector (which slows code five to ten times, and CI runs
// every package at once on two cores), else 1. Deadlines in tests bound a
// wait for an outcome; they are not performance assertions.
func TimeScale() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("FMN_TEST_TIME_SCALE"), 64); err == nil && v >= 1 {
		return v
	}
	if raceEnabled {
		return 4
	}
	return 1
}

// Scaled is d times TimeScale.
func Scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * TimeScale())
}

// Eventually polls cond every 10ms until it holds or the deadline (within,
// scaled by TimeScale) passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Scaled(within))
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", Scaled(within), what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitCaughtUp waits (within, scaled) until the projection named
// projection has applied stream up to the last message it holds now.
func WaitCaughtUp(t testing.TB, ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, stream, projection string, within time.Duration) {
	t.Helper()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, within, "projection "+projection+" has applied "+stream, func() bool {
		var last int64
		err := pool.QueryRow(ctx, "SELECT last_seq FROM projection_state WHERE name = $1", projection).Scan(&last)
		return err == nil && uint64(last) >= info.State.LastSeq
	})
}
