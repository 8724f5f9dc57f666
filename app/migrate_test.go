package app_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

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
	schema := "t_" + fmntest.RandomID()
	admin, err := pgx.Connect(ctx, fmntest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(fmntest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	const processes = 6
	var wg sync.WaitGroup
	errs := make(chan error, processes)
	for range processes {
		pool, err := pgxpool.New(ctx, u.String())
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
