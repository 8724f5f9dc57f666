package fmn3_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmn3"
)

// TestImportScale imports FMN_IMPORT_SCALE FMN v3 rules (e.g. 50000) of
// one tenth as many users, each with a tracking rule, a generation rule,
// two filters, a destination and generated counts, and says how long it
// took. Skipped without FMN_IMPORT_SCALE.
//
//	FMN_IMPORT_SCALE=50000 go test ./fmn3 -run TestImportScale -v
func TestImportScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FMN_IMPORT_SCALE"))
	if n <= 0 {
		t.Skip("set FMN_IMPORT_SCALE=50000 to import that many rules")
	}
	b := setup(t)
	users := max(n/10, 1)
	b.exec(t, `INSERT INTO users (id, name) SELECT i, 'user' || i FROM generate_series(1, $1) i`, users)
	b.exec(t, `INSERT INTO rules (id, name, disabled, user_id)
		SELECT i, 'rule ' || i, i % 20 = 0, 1 + i % $2 FROM generate_series(1, $1) i`, n, users)
	b.exec(t, `INSERT INTO tracking_rules (rule_id, name, params)
		SELECT i, CASE i % 4 WHEN 0 THEN 'artifacts-owned' WHEN 1 THEN 'users-followed' WHEN 2 THEN 'related-events' ELSE 'artifacts-followed' END,
		       CASE i % 4 WHEN 2 THEN NULL WHEN 3 THEN ('[{"name": "pkg' || i || '", "type": "rpms"}]')::json
		            ELSE ('["user' || (1 + i % $2) || '"]')::json END
		FROM generate_series(1, $1) i`, n, users)
	b.exec(t, `INSERT INTO generation_rules (id, rule_id) SELECT i, i FROM generate_series(1, $1) i`, n)
	b.exec(t, `INSERT INTO filters (generation_rule_id, name, params)
		SELECT i, 'applications', '["bodhi", "koji"]'::json FROM generate_series(1, $1) i
		UNION ALL SELECT i, 'my_actions', 'true'::json FROM generate_series(1, $1) i`, n)
	b.exec(t, `INSERT INTO destinations (generation_rule_id, protocol, address)
		SELECT i, 'email', 'user' || (1 + i % $2) || '@example.org' FROM generate_series(1, $1) i`, n, users)
	b.exec(t, `INSERT INTO generated (rule_id, "when", count)
		SELECT i, now() - (i % 48) * interval '1 hour', 1 + i % 7 FROM generate_series(1, $1) i`, n)

	start := time.Now()
	snap, err := fmn3.Read(b.ctx, b.fmn3.Pool)
	if err != nil {
		t.Fatal(err)
	}
	read := time.Since(start)
	rep, err := fmn3.Import(b.ctx, fmn3.Config{JS: b.nats.JS, Stream: b.nats.Streams.Rules, DB: b.fmn.Pool, Out: fmntestWriter{t}}, snap)
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	if rep.Imported != n || len(rep.Refused) != 0 {
		t.Fatalf("imported %d of %d, refused %d: %+v", rep.Imported, n, len(rep.Refused), rep.Refused[:min(3, len(rep.Refused))])
	}
	if sr, err := b.store.Rule(b.ctx, int64(n)); err != nil || sr.ID != int64(n) {
		t.Fatalf("rule %d: %v", n, err)
	}
	t.Logf("imported %d FMN v3 rules of %d users in %s (read %s, %.0f rules/s)", n, users, total.Round(time.Millisecond),
		read.Round(time.Millisecond), float64(n)/total.Seconds())
}

type fmntestWriter struct{ t *testing.T }

func (w fmntestWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
