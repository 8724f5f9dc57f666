package projection

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Conn is what a Writer sends its statements over: a transaction, or a
// connection on which the statements themselves begin and end one.
type Conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Writer gathers the statements of a transaction and sends them to
// PostgreSQL together, in one round trip, instead of waiting for each one's
// answer: a projection's writes do not read what they wrote, so they need
// no answer before the next one. It is a queries.DBTX, so that the sqlc
// queries are used as they are:
//
//   - Exec queues the statement and returns an empty command tag and no
//     error; what the statement did and whether it failed are known when
//     the writer sends it. Its arguments are read then too: a caller must
//     not change them (reuse a slice) after Exec. Then attaches a check of its answer: the rows
//     a sqlc :execrows query returns through a Writer read 0, its real
//     count is the command tag Then sees.
//   - Query and QueryRow first send what is queued, then run at once: a
//     read sees every write before it, in order.
//   - Send sends what is queued (Flush-like points: the end of the
//     transaction, or Full when a rebuild has gathered many).
//
// An error names the statement (its sqlc name) and stops the statements
// after it: the transaction fails, as it would have statement by statement.
type Writer struct {
	conn  Conn
	batch pgx.Batch
	// then are the checks of the queued statements' answers (nil for none).
	then []func(pgconn.CommandTag) error
	// rows estimates the rows the queued statements write: the longest
	// array argument of each (set-based inserts take their rows as
	// arrays), or 1.
	rows int
}

// Full says a Writer should send what it holds at maxQueued statements or
// maxRows rows: pgx encodes a whole batch into one buffer before writing
// it, and a buffer of many megabytes costs more in copying as it grows
// than the round trips it saves (a rebuild that sent 1,000 statements at a
// time, some of them inserts of 2,000 rules, spent 4 µs per event more).
const (
	maxQueued = 256
	maxRows   = 4000
)

// NewWriter returns a writer that sends over conn.
func NewWriter(conn Conn) *Writer { return &Writer{conn: conn} }

// Exec queues a statement; see Writer.
func (w *Writer) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	w.batch.Queue(sql, args...)
	w.then = append(w.then, nil)
	rows := 1
	for _, a := range args {
		if v := reflect.ValueOf(a); v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			rows = max(rows, v.Len())
		}
	}
	w.rows += rows
	return pgconn.CommandTag{}, nil
}

// Then checks the answer of the statement queued last when it arrives; an
// error it returns fails the transaction.
func (w *Writer) Then(fn func(pgconn.CommandTag) error) {
	if len(w.then) == 0 {
		panic("projection.Writer.Then: no statement queued")
	}
	w.then[len(w.then)-1] = fn
}

// Query sends what is queued, then runs the query.
func (w *Writer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := w.Send(ctx); err != nil {
		return nil, err
	}
	return w.conn.Query(ctx, sql, args...)
}

// QueryRow sends what is queued, then runs the query.
func (w *Writer) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := w.Send(ctx); err != nil {
		return errRow{err}
	}
	return w.conn.QueryRow(ctx, sql, args...)
}

// Queued is how many statements wait to be sent.
func (w *Writer) Queued() int { return w.batch.Len() }

// Full says the writer holds enough to send (a rebuild applies a whole
// stream in one transaction).
func (w *Writer) Full() bool { return w.batch.Len() >= maxQueued || w.rows >= maxRows }

// Send sends the queued statements in one round trip and checks their
// answers in order. The writer is empty afterwards, whatever happened.
func (w *Writer) Send(ctx context.Context) error {
	n := w.batch.Len()
	if n == 0 {
		return nil
	}
	queued, then := w.batch.QueuedQueries, w.then
	w.batch, w.then, w.rows = pgx.Batch{}, nil, 0
	br := w.conn.SendBatch(ctx, &pgx.Batch{QueuedQueries: queued})
	for i, qq := range queued {
		ct, err := br.Exec()
		if err == nil && then[i] != nil {
			err = then[i](ct)
		}
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("%s: %w", statementName(qq.SQL), err)
		}
	}
	return br.Close()
}

// statementName is the name sqlc gives a query ("-- name: RuleCreate
// :exec"), or the statement's first word.
func statementName(sql string) string {
	if rest, ok := strings.CutPrefix(sql, "-- name: "); ok {
		if name, _, ok := strings.Cut(rest, " "); ok {
			return name
		}
	}
	sql = strings.TrimSpace(sql)
	if word, _, ok := strings.Cut(sql, " "); ok {
		return word
	}
	return sql
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
