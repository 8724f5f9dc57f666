package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/fmn-project/fmn/queries"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ImportedCount is a count of notifications a rule generated in one hour
// of another system's history (FMN v3's generated table).
type ImportedCount struct {
	RuleID int64
	// Hour is the start of the hour (UTC) the notifications were counted in.
	Hour  time.Time
	Count int64
}

// Import adds another system's history to rule_generated, so that
// generated_last_week and the admin statistics include what rules
// generated before fmn ran them. The statistics projector stays the one
// writer of the table: the history is written here, in one transaction,
// and importing the same counts again changes nothing (a bucket keeps the
// larger of its count and the imported one). The history is not on a
// stream, so a rebuild of the statistics (fmn replay stats --rebuild)
// does not bring it back; import it again after one.
func Import(ctx context.Context, pool *pgxpool.Pool, counts []ImportedCount) error {
	if len(counts) == 0 {
		return nil
	}
	p := queries.RuleGeneratedImportParams{
		RuleIds: make([]int64, 0, len(counts)),
		Buckets: make([]time.Time, 0, len(counts)),
		Counts:  make([]int64, 0, len(counts)),
	}
	// One row per (rule, hour): the statement's upsert touches a row once.
	type key struct {
		rule int64
		hour time.Time
	}
	at := map[key]int{}
	for _, c := range counts {
		if c.Count <= 0 {
			continue
		}
		k := key{c.RuleID, c.Hour.UTC().Truncate(time.Hour)}
		if i, ok := at[k]; ok {
			p.Counts[i] += c.Count
			continue
		}
		at[k] = len(p.RuleIds)
		p.RuleIds = append(p.RuleIds, k.rule)
		p.Buckets = append(p.Buckets, k.hour)
		p.Counts = append(p.Counts, c.Count)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := queries.New(tx)
		if err := q.RuleGeneratedImport(ctx, p); err != nil {
			return fmt.Errorf("import generated counts: %w", err)
		}
		// The answers of GET /users/{u}/rules may change for anyone.
		if err := q.UserGeneratedVersionBumpAll(ctx); err != nil {
			return fmt.Errorf("bump answer versions: %w", err)
		}
		return nil
	})
}
