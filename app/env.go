package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fmn-project/fmn"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/streams"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Env holds the connections of one fmn process.
type Env struct {
	Cfg      config.Config
	Log      *slog.Logger
	NC       *nats.Conn
	JS       jetstream.JetStream
	Embedded *streams.Embedded
	DB       *pgxpool.Pool
	closers  []func()
	// natsURL is the server NC is connected to (the embedded one's when
	// FMN_NATS_URL is empty).
	natsURL string
}

// OnClose adds f to what Close calls: last added, first called.
func (e *Env) OnClose(f func()) { e.closers = append(e.closers, f) }

// Close releases everything the Connect and Dial methods and OnClose
// acquired, in reverse order.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// StreamSetup says what ConnectNATS does about the streams.
type StreamSetup int

const (
	// EnsureStreams creates the streams or reconciles them with the
	// configuration (never lowering replicas unless
	// FMN_STREAM_ALLOW_DOWNSCALE): what servers do.
	EnsureStreams StreamSetup = iota
	// LookupStreams checks that the streams exist and changes nothing:
	// what commands do.
	LookupStreams
)

// How long a server waits for its streams (a cluster forming, leaders
// being elected) and a command for their lookup, retrying meanwhile.
const (
	serverSetupTimeout  = 2 * time.Minute
	commandSetupTimeout = 30 * time.Second
)

// ConnectNATS connects to FMN_NATS_URL, or starts the embedded server when
// it is empty, then ensures or looks up the streams as setup says.
func (e *Env) ConnectNATS(ctx context.Context, setup StreamSetup) error {
	url := e.Cfg.NATSURL
	if url == "" {
		dir := filepath.Join(e.Cfg.DataDir, "nats")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("FMN_DATA_DIR: %w", err)
		}
		srv, err := streams.StartEmbedded(dir, e.Cfg.NATSPort)
		if err != nil && e.Cfg.NATSPort != 0 {
			e.Log.Warn("embedded NATS port taken; using a random one", "port", e.Cfg.NATSPort)
			srv, err = streams.StartEmbedded(dir, 0)
		}
		if err != nil {
			return err
		}
		e.Embedded = srv
		e.closers = append(e.closers, srv.Shutdown)
		url = srv.URL()
	}
	e.natsURL = url
	nc, js, err := e.DialNATS("fmn")
	if err != nil {
		return err
	}
	e.closers = append(e.closers, func() { _ = nc.Drain() })
	e.NC, e.JS = nc, js
	switch setup {
	case EnsureStreams:
		ctx, cancel := context.WithTimeout(ctx, serverSetupTimeout)
		defer cancel()
		if err := streams.Ensure(ctx, js, e.Cfg.Streams, e.Log); err != nil {
			return fmt.Errorf("setting up streams: %w", err)
		}
	case LookupStreams:
		ctx, cancel := context.WithTimeout(ctx, commandSetupTimeout)
		defer cancel()
		if err := streams.Lookup(ctx, js, e.Cfg.Streams, e.Log); err != nil {
			return err
		}
	}
	return nil
}

// DialNATS opens another connection to the NATS server of ConnectNATS,
// named name (as the server's monitoring shows it), that reconnects
// forever and logs its disconnections. The caller closes it.
func (e *Env) DialNATS(name string) (*nats.Conn, jetstream.JetStream, error) {
	log := e.Log
	if name != "fmn" {
		log = log.With("connection", name)
	}
	// Credentials, TLS and the inbox prefix (config refuses credentials
	// and TLS for the embedded server).
	auth, err := e.Cfg.NATSAuth.NATSOptions()
	if err != nil {
		return nil, nil, err
	}
	// Disconnections, reconnections and asynchronous errors (a slow
	// consumer, a permission refused) go to the log, not to standard error.
	opts := append(append(auth,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	), streams.LogOptions(log)...)
	nc, err := nats.Connect(e.natsURL, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("FMN_NATS_URL: cannot connect to NATS at %s (%s): %w",
			config.RedactNATSURL(e.natsURL), e.Cfg.DescribeNATS(), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// ConnectDB opens the PostgreSQL pool. With create, a missing database is
// created first (development).
func (e *Env) ConnectDB(ctx context.Context, create bool) error {
	if create {
		if err := ensureDatabase(ctx, e.Cfg.DatabaseURL); err != nil {
			return err
		}
	}
	pool, err := queries.NewPool(ctx, e.Cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("FMN_DATABASE_URL: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return fmt.Errorf("FMN_DATABASE_URL: cannot reach PostgreSQL at %s: %s (start it with scripts/services.sh postgres)",
			redact.URL(e.Cfg.DatabaseURL), pgErrText(err))
	}
	e.DB = pool
	e.closers = append(e.closers, pool.Close)
	return nil
}

// Migrate applies the schema; it is idempotent. Processes starting at
// once take turns (a transaction-scoped advisory lock): two concurrent
// CREATE ... IF NOT EXISTS of one type or table collide in PostgreSQL's
// catalog ("duplicate key value violates unique constraint
// pg_type_typname_nsp_index"), which made roles started together exit.
//
// A schema already applied as it is (its SHA-256 in schema_applied) is
// not applied again: every role applies it when it starts, and its ALTER
// TABLEs take the tables' strongest lock, even when there is nothing to
// change, until the transaction ends. A role restarting beside running
// ones then held up every reader of rules and users, and deadlocked with
// the statistics projector's batches (the chaos suite's consumer-kill
// trial saw one).
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("applying schema: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockID); err != nil {
		return fmt.Errorf("applying schema: waiting for another process applying it: %w", err)
	}
	digest := schemaDigest()
	// A database an older fmn made has no schema_applied: schema.sql
	// makes it below.
	var known bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass('schema_applied') IS NOT NULL").Scan(&known); err != nil {
		return fmt.Errorf("applying schema: %w", err)
	}
	if known {
		var applied string
		err := tx.QueryRow(ctx, "SELECT sha256 FROM schema_applied WHERE id = 1").Scan(&applied)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("applying schema: %w", err)
		}
		if applied == digest {
			return tx.Commit(ctx)
		}
	}
	if _, err := tx.Exec(ctx, fmn.Schema); err != nil {
		return fmt.Errorf("applying schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_applied (id, sha256, applied_at) VALUES (1, $1, now())
ON CONFLICT (id) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = EXCLUDED.applied_at`, digest); err != nil {
		return fmt.Errorf("applying schema: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("applying schema: %w", err)
	}
	return nil
}

// schemaDigest is the SHA-256 of schema.sql, as schema_applied holds it.
var schemaDigest = sync.OnceValue(func() string {
	sum := sha256.Sum256([]byte(fmn.Schema))
	return hex.EncodeToString(sum[:])
})

// migrateLockID is the advisory lock Migrate holds ("fmn-mig" in ASCII).
const migrateLockID int64 = 0x666d6e2d6d6967

// ensureDatabase creates the database named in dsn when it does not exist,
// connecting to the server's postgres database to do so.
func ensureDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("FMN_DATABASE_URL: %s", pgErrText(err))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return c.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("FMN_DATABASE_URL: cannot reach PostgreSQL at %s: %s (start it with scripts/services.sh postgres)",
			redact.URL(dsn), pgErrText(err))
	}
	name := cfg.Database
	admin := cfg.Copy()
	admin.Database = "postgres"
	ac, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("FMN_DATABASE_URL: database %q does not exist and cannot connect to create it: %s", name, pgErrText(err))
	}
	defer ac.Close(ctx)
	if _, err := ac.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("FMN_DATABASE_URL: creating database %q: %s", name, pgErrText(err))
	}
	return nil
}

// pgErrText is an error's text with any connection string's password
// removed (pgx may quote the DSN).
func pgErrText(err error) string { return redact.Text(err.Error()) }
