package queries_test

import (
	"encoding/json"
	"testing"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/queries"
)

// TestNewPoolJSON: json and jsonb come back as PostgreSQL sends them in a
// json.RawMessage, each value its own copy (pgx reuses its read buffer),
// NULL as nil, and other targets are decoded as encoding/json does.
func TestNewPoolJSON(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	pool, err := queries.NewPool(ctx, fmntest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	rows, err := pool.Query(ctx, `SELECT v::jsonb, v::json FROM (VALUES ('{"b":2,"a":[1, 2]}'), ('null'), ('"x"'), (NULL)) AS t(v)`)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]json.RawMessage
	for rows.Next() {
		var b, j json.RawMessage
		if err := rows.Scan(&b, &j); err != nil {
			t.Fatal(err)
		}
		got = append(got, [2]json.RawMessage{b, j})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{`{"a": [1, 2], "b": 2}`, `{"b":2,"a":[1, 2]}`}, {`null`, `null`}, {`"x"`, `"x"`}}
	if len(got) != 4 {
		t.Fatalf("%d rows, want 4", len(got))
	}
	for i, w := range want {
		if string(got[i][0]) != w[0] || string(got[i][1]) != w[1] {
			t.Errorf("row %d: jsonb %s, json %s; want %s, %s", i, got[i][0], got[i][1], w[0], w[1])
		}
	}
	if got[3][0] != nil || got[3][1] != nil {
		t.Errorf("NULL: %q, %q; want nil", got[3][0], got[3][1])
	}

	// Enough rows for pgx to refill its buffer: a RawMessage that kept
	// pointing into it would change under the later rows.
	rows, err = pool.Query(ctx, `SELECT jsonb_build_object('n', n, 'pad', repeat('x', 100)) FROM generate_series(1, 2000) AS n`)
	if err != nil {
		t.Fatal(err)
	}
	var many []json.RawMessage
	for rows.Next() {
		var r json.RawMessage
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		many = append(many, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i, r := range many {
		var v struct{ N int }
		if err := json.Unmarshal(r, &v); err != nil || v.N != i+1 {
			t.Fatalf("row %d: %s (%v)", i+1, r, err)
		}
	}

	var m map[string]any
	var p *struct{ A []int }
	if err := pool.QueryRow(ctx, `SELECT '{"a":1}'::jsonb, '{"A":[3]}'::jsonb`).Scan(&m, &p); err != nil {
		t.Fatal(err)
	}
	if m["a"] != 1.0 || p == nil || len(p.A) != 1 || p.A[0] != 3 {
		t.Errorf("decoded %v, %+v", m, p)
	}
}
