package app_test

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Roles started at once all apply the schema: on an empty schema they must
// take turns, not collide in PostgreSQL's catalog (the chaos suite's
// cold-start trial saw two of six processes exit with "duplicate key value
// violates unique constraint pg_type_typname_nsp_index").
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	dsn := emptySchema(t)
	const processes = 6
	var wg sync.WaitGroup
	errs := make(chan error, processes)
	for range processes {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		wg.Go(func() { errs <- app.Migrate(ctx, pool) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}
}

// A database made before rule_generated's key carried count gets the new
// key from Migrate, keeps its counts, and still adds to them; a second
// Migrate changes nothing.
func TestMigrateRuleGeneratedKey(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	pool := emptySchemaPool(t)
	// The table as fmn made it before.
	if _, err := pool.Exec(ctx, `CREATE TABLE rule_generated (
    rule_id bigint NOT NULL,
    bucket  timestamptz NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (rule_id, bucket)
);
INSERT INTO rule_generated VALUES (1, '2026-12-01T10:00:00Z', 3), (1, '2026-12-01T11:00:00Z', 4), (2, '2026-12-01T10:00:00Z', 5)`); err != nil {
		t.Fatal(err)
	}
	keyColumns := func() (all, key int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT indnatts, indnkeyatts FROM pg_index WHERE indexrelid = 'rule_generated_pkey'::regclass`).Scan(&all, &key); err != nil {
			t.Fatal(err)
		}
		return all, key
	}
	if all, key := keyColumns(); all != 2 || key != 2 {
		t.Fatalf("before: key of %d columns, %d of them key columns", all, key)
	}
	for range 2 {
		if err := app.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
		if all, key := keyColumns(); all != 3 || key != 2 {
			t.Fatalf("after Migrate: key of %d columns, %d of them key columns; want (rule_id, bucket) INCLUDE (count)", all, key)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO rule_generated VALUES (1, '2026-12-01T10:00:00Z', 10)
ON CONFLICT (rule_id, bucket) DO UPDATE SET count = rule_generated.count + EXCLUDED.count`); err != nil {
		t.Fatal(err)
	}
	var sum1, sum2 int64
	if err := pool.QueryRow(ctx, `SELECT sum(count) FILTER (WHERE rule_id = 1), sum(count) FILTER (WHERE rule_id = 2) FROM rule_generated`).Scan(&sum1, &sum2); err != nil {
		t.Fatal(err)
	}
	if sum1 != 17 || sum2 != 5 {
		t.Errorf("counts after the migration and an upsert: rule 1 %d, rule 2 %d; want 17 and 5", sum1, sum2)
	}
}

// emptySchemaPool is a pool whose connections use a schema of the test's
// own (emptySchema).
func emptySchemaPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(fmntest.Context(t), emptySchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// emptySchema makes a schema of its own for the test, dropped after it,
// and returns the connection string whose search_path is that schema.
func emptySchema(t *testing.T) string {
	t.Helper()
	ctx := fmntest.Context(t)
	schema := "t_" + fmntest.RandomID()
	admin, err := pgx.Connect(ctx, fmntest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = admin.Close(context.Background())
	})
	u, err := url.Parse(fmntest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// A role starting beside running ones applies an unchanged schema without
// taking any table's lock: an open transaction that read rules and users
// (a projector's batch, an API read) does not hold it up, and it does not
// hold them up. Before, its ALTER TABLEs waited for every such
// transaction and blocked every later one until it committed (and could
// deadlock with the statistics projector). A changed schema is applied.
func TestMigrateUnchangedTakesNoLocks(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	pool := emptySchemaPool(t)
	if err := app.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reader.Rollback(ctx) }()
	if _, err := reader.Exec(ctx, "SELECT count(*) FROM rules; SELECT count(*) FROM users; SELECT count(*) FROM rule_generated"); err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := app.Migrate(quick, pool); err != nil {
		t.Fatalf("Migrate of the unchanged schema beside an open reader: %v", err)
	}

	// An older fmn's schema (another digest): applied again, which waits
	// for the reader's locks, as any schema change must.
	if _, err := pool.Exec(ctx, "UPDATE schema_applied SET sha256 = 'older'"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Migrate(ctx, pool) }()
	select {
	case err := <-done:
		t.Fatalf("Migrate of a changed schema did not wait for the reader (err %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := reader.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var digest string
	if err := pool.QueryRow(ctx, "SELECT sha256 FROM schema_applied").Scan(&digest); err != nil {
		t.Fatal(err)
	}
	if len(digest) != 64 {
		t.Errorf("schema_applied holds %q after the migration, want the schema's SHA-256", digest)
	}
}
