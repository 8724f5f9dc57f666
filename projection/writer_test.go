package projection_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/projection"
	"github.com/fmn-project/fmn/queries"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestWriter: statements wait until Send (or a read) and then go in order;
// Then sees each one's answer; a failing statement is named in the error
// and fails the transaction; the claim of a position the projection is not
// at fails with SQLSTATE FMN01 and takes the statements after it along.
func TestWriter(t *testing.T) {
	t.Parallel()
	ctx, pg := fmntest.Context(t), fmntest.StartPostgres(t)
	if _, err := pg.Pool.Exec(ctx, "CREATE TABLE w (k int PRIMARY KEY, v int NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := pg.Pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	tx, err := pg.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := projection.NewWriter(tx)
	for k := range 3 {
		if _, err := w.Exec(ctx, "INSERT INTO w VALUES ($1, 1)", k); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = w.Exec(ctx, "UPDATE w SET v = 2 WHERE k < 2")
	var updated int64 = -1
	w.Then(func(ct pgconn.CommandTag) error { updated = ct.RowsAffected(); return nil })
	if w.Queued() != 4 || updated != -1 {
		t.Fatalf("%d queued, update answered %d: want 4 queued and no answer yet", w.Queued(), updated)
	}
	// A read sends what is queued first, and sees it.
	var sum int
	if err := w.QueryRow(ctx, "SELECT sum(v) FROM w").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 5 || updated != 2 || w.Queued() != 0 {
		t.Fatalf("sum %d, update answered %d, %d queued: want 5, 2, 0", sum, updated, w.Queued())
	}
	// A failing statement is named, and the rest is not applied.
	_, _ = w.Exec(ctx, "UPDATE w SET v = 3")
	_ = queries.New(w).ProjectionReset(ctx, "writer-test")
	_, _ = w.Exec(ctx, "INSERT INTO w VALUES (0, 0)")
	called := false
	w.Then(func(pgconn.CommandTag) error { called = true; return nil })
	_, _ = w.Exec(ctx, "UPDATE w SET v = 4")
	err = w.Send(ctx)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || !strings.HasPrefix(err.Error(), "INSERT: ") || called {
		t.Fatalf("send: %v (then called: %v), want INSERT's unique violation, no answer", err, called)
	}
	_ = tx.Rollback(ctx)
	if n := count("SELECT count(*) FROM w"); n != 0 {
		t.Fatalf("%d rows after the rollback", n)
	}

	// The claim: BEGIN and COMMIT in the batch itself, on a connection.
	if _, err := pg.Pool.Exec(ctx, "INSERT INTO projection_state VALUES ('writer-test', 7)"); err != nil {
		t.Fatal(err)
	}
	claim := func(at int64) error {
		conn, err := pg.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		w := projection.NewWriter(conn)
		q := queries.New(w)
		_, _ = w.Exec(ctx, "BEGIN")
		_ = q.ProjectionClaim(ctx, "writer-test", at)
		_, _ = w.Exec(ctx, "INSERT INTO w VALUES ($1, 1)", at)
		_, _ = q.ProjectionSet(ctx, "writer-test", at+1)
		_, _ = w.Exec(ctx, "COMMIT")
		err = w.Send(ctx)
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		return err
	}
	err = claim(6)
	if !errors.As(err, &pe) || pe.Code != "FMN01" || !strings.HasPrefix(err.Error(), "ProjectionClaim: ") {
		t.Fatalf("claim of the wrong position: %v, want ProjectionClaim's FMN01", err)
	}
	if n := count("SELECT count(*) FROM w"); n != 0 {
		t.Fatalf("%d rows written after a failed claim", n)
	}
	if err := claim(7); err != nil {
		t.Fatal(err)
	}
	if n := count("SELECT count(*) FROM w WHERE k = 7"); n != 1 || count("SELECT last_seq FROM projection_state WHERE name = 'writer-test'") != 8 {
		t.Fatal("the claimed transaction did not commit its row and position")
	}
}
