package rulelog_test

import (
	"testing"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/rulelog"
)

func TestGeneratedLastWeek(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	r, err := b.cmds.Create(b.ctx, "alice", rule("alice", "counted"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.cmds.Create(b.ctx, "alice", rule("alice", "quiet"), rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, at := range []time.Time{now, now.Add(-time.Minute), now.Add(-48 * time.Hour)} {
		if err := b.store.AddGenerated(b.ctx, r.ID, at, 2); err != nil {
			t.Fatal(err)
		}
	}
	// What the statistics projector writes: rows of one hour add up.
	old := now.Add(-30 * 24 * time.Hour)
	if err := queries.New(b.pg.Pool).GeneratedAddMany(b.ctx, queries.GeneratedAddManyParams{
		RuleIds: []int64{r.ID, r.ID, r.ID},
		Buckets: []time.Time{now, now, old},
		Counts:  []int64{1, 3, 100},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.Rule(b.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.GeneratedLastWeek != 10 {
		t.Fatalf("generated_last_week %d, want 10 (the 30-day-old 100 left out)", got.GeneratedLastWeek)
	}
	list, err := b.store.UserRules(b.ctx, "alice")
	if err != nil || len(list) != 2 || list[0].GeneratedLastWeek != 10 || list[1].ID != other.ID || list[1].GeneratedLastWeek != 0 {
		t.Fatalf("user rules: %+v, %v", list, err)
	}
	n, err := b.store.DeleteGeneratedBefore(b.ctx, now.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("retention deleted %d buckets (%v), want 1", n, err)
	}
	if c := count(t, b.ctx, b.pg.Pool, `SELECT count(*) FROM rule_generated WHERE bucket <> date_trunc('hour', bucket, 'UTC')`); c != 0 {
		t.Fatalf("%d buckets are not whole UTC hours", c)
	}
}
