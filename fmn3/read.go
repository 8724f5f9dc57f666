// Package fmn3 imports a running FMN v3's rules into fmn: it reads FMN v3's
// PostgreSQL tables (users, rules, tracking_rules, generation_rules,
// filters, destinations, generated, as FMN v3's SQLAlchemy models define
// them), turns each rule into fmn's rule model, validates it, and appends
// one rule.created event per rule to the RULES stream, keeping FMN's rule
// id, so that the /rules/<id> links in mail people already received still
// lead to their rule. The generated counts go to the statistics
// (stats.Import).
package fmn3

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Source is one FMN v3 rule as its tables hold it.
type Source struct {
	ID       int64
	User     string
	Name     *string
	Disabled bool
	// Tracking is nil when the rule has no tracking_rules row.
	Tracking   *SourceTracking
	Generation []SourceGeneration
}

// SourceTracking is a tracking_rules row.
type SourceTracking struct {
	Name string
	// Params is the JSON column as stored; nil for SQL NULL.
	Params json.RawMessage
}

// SourceGeneration is a generation_rules row with its filters and
// destinations, in id order.
type SourceGeneration struct {
	ID           int64
	Filters      []SourceFilter
	Destinations []SourceDestination
}

// SourceFilter is a filters row.
type SourceFilter struct {
	Name   string
	Params json.RawMessage
}

// SourceDestination is a destinations row.
type SourceDestination struct {
	Protocol, Address string
}

// Generated is FMN v3's generated rows of one rule and hour, summed.
type Generated struct {
	RuleID int64
	Hour   time.Time
	Count  int64
}

// Snapshot is what Read found in an FMN v3 database.
type Snapshot struct {
	Rules     []Source
	Generated []Generated
	Users     int
	// UserNames are every FMN v3 user, with rules or without.
	UserNames []string
}

// Read reads every rule of an FMN v3 database, in one repeatable-read
// transaction, so that a database in use gives a consistent picture.
func Read(ctx context.Context, pool *pgxpool.Pool) (*Snapshot, error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("FMN v3 database: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	s := &Snapshot{}
	var user string
	rows, _ := tx.Query(ctx, `SELECT name FROM users ORDER BY id`)
	if _, err := pgx.ForEachRow(rows, []any{&user}, func() error {
		s.UserNames = append(s.UserNames, user)
		return nil
	}); err != nil {
		return nil, readErr("users", err)
	}
	s.Users = len(s.UserNames)

	byID := map[int64]int{}
	rows, _ = tx.Query(ctx, `SELECT r.id, u.name, r.name, r.disabled
		FROM rules r JOIN users u ON u.id = r.user_id ORDER BY r.id`)
	var src Source
	_, err = pgx.ForEachRow(rows, []any{&src.ID, &src.User, &src.Name, &src.Disabled}, func() error {
		byID[src.ID] = len(s.Rules)
		s.Rules = append(s.Rules, src)
		src = Source{}
		return nil
	})
	if err != nil {
		return nil, readErr("rules", err)
	}

	var (
		ruleID int64
		name   string
		params *string
	)
	rows, _ = tx.Query(ctx, `SELECT rule_id, name, params::text FROM tracking_rules ORDER BY id`)
	_, err = pgx.ForEachRow(rows, []any{&ruleID, &name, &params}, func() error {
		if i, ok := byID[ruleID]; ok {
			s.Rules[i].Tracking = &SourceTracking{Name: name, Params: raw(params)}
		}
		return nil
	})
	if err != nil {
		return nil, readErr("tracking_rules", err)
	}

	// generation rule id → (rule index, generation index)
	type at struct{ rule, gen int }
	gens := map[int64]at{}
	var genID int64
	rows, _ = tx.Query(ctx, `SELECT id, rule_id FROM generation_rules ORDER BY id`)
	_, err = pgx.ForEachRow(rows, []any{&genID, &ruleID}, func() error {
		if i, ok := byID[ruleID]; ok {
			gens[genID] = at{i, len(s.Rules[i].Generation)}
			s.Rules[i].Generation = append(s.Rules[i].Generation, SourceGeneration{ID: genID})
		}
		return nil
	})
	if err != nil {
		return nil, readErr("generation_rules", err)
	}

	rows, _ = tx.Query(ctx, `SELECT generation_rule_id, name, params::text FROM filters ORDER BY id`)
	_, err = pgx.ForEachRow(rows, []any{&genID, &name, &params}, func() error {
		if g, ok := gens[genID]; ok {
			gr := &s.Rules[g.rule].Generation[g.gen]
			gr.Filters = append(gr.Filters, SourceFilter{Name: name, Params: raw(params)})
		}
		return nil
	})
	if err != nil {
		return nil, readErr("filters", err)
	}

	var protocol, address string
	rows, _ = tx.Query(ctx, `SELECT generation_rule_id, protocol, address FROM destinations ORDER BY id`)
	_, err = pgx.ForEachRow(rows, []any{&genID, &protocol, &address}, func() error {
		if g, ok := gens[genID]; ok {
			gr := &s.Rules[g.rule].Generation[g.gen]
			gr.Destinations = append(gr.Destinations, SourceDestination{Protocol: protocol, Address: address})
		}
		return nil
	})
	if err != nil {
		return nil, readErr("destinations", err)
	}

	// FMN v3 writes "when" as a timestamp without time zone from the
	// server's clock (UTC in Fedora's deployment): read as UTC.
	var (
		hour  time.Time
		count int64
	)
	rows, _ = tx.Query(ctx, `SELECT rule_id, date_trunc('hour', "when"), sum(coalesce(count, 0))::bigint
		FROM generated GROUP BY 1, 2 ORDER BY 1, 2`)
	_, err = pgx.ForEachRow(rows, []any{&ruleID, &hour, &count}, func() error {
		if _, ok := byID[ruleID]; ok && count > 0 {
			s.Generated = append(s.Generated, Generated{RuleID: ruleID,
				Hour: time.Date(hour.Year(), hour.Month(), hour.Day(), hour.Hour(), 0, 0, 0, time.UTC), Count: count})
		}
		return nil
	})
	if err != nil {
		return nil, readErr("generated", err)
	}
	return s, nil
}

func raw(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

func readErr(table string, err error) error {
	return fmt.Errorf("read FMN v3 table %s: %w (is this FMN v3's database?)", table, err)
}
