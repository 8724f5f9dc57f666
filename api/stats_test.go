package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/stats"
)

func TestAdminStats(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.srv.RegisterStats(stats.NewReader(b.pg.Pool))
	rule, _ := b.create(t, "alice", newRule("alice", "mine"))
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	// What the statistics projector would have written.
	for _, q := range []string{
		`INSERT INTO rule_generated (rule_id, bucket, count) VALUES (RULE, $1, 5), (RULE, $1 + interval '1 hour', 2)`,
		`INSERT INTO generated_stats (dimension, key, bucket, count) VALUES
			('user', 'alice', $1, 5), ('user', 'alice', $1 + interval '1 hour', 2), ('user', 'bob', $1, 1),
			('app', 'bodhi', $1, 6), ('app', '', $1 + interval '1 hour', 2),
			('channel', 'email', $1, 6), ('channel', 'irc', $1 + interval '1 hour', 2)`,
		`INSERT INTO delivery_stats (channel, result, bucket, count) VALUES
			('email', 'sent', $1, 5), ('email', 'retry', $1, 3), ('email', 'dead', $1, 1), ('irc', 'sent', $1 + interval '1 hour', 2)`,
	} {
		if _, err := b.pg.Pool.Exec(b.ctx, strings.ReplaceAll(q, "RULE", strconv.FormatInt(rule.ID, 10)), hour); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("AdminsOnly", func(t *testing.T) {
		expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/admin/stats", nil), http.StatusForbidden)
		expect(t, b.do(t, "", http.MethodGet, "/api/v1/admin/stats", nil), http.StatusUnauthorized)
	})

	t.Run("Summary", func(t *testing.T) {
		r := b.do(t, "root", http.MethodGet, "/api/v1/admin/stats", nil)
		expect(t, r, http.StatusOK)
		var s api.StatsSummary
		r.json(t, &s)
		if s.Generated != 8 || len(s.ByChannel) != 2 || s.ByChannel[0] != (api.StatsCount{Key: "email", Total: 6}) ||
			len(s.Deliveries) != 2 || s.Deliveries[0] != (api.StatsDeliveries{Channel: "email", Sent: 5, Retried: 3, Dead: 1}) ||
			s.Activity.ActiveUsers != 1 || s.Activity.EnabledRules != 1 {
			t.Errorf("summary %s", r.body)
		}
		// A range that ends before the second hour.
		r = b.do(t, "root", http.MethodGet, "/api/v1/admin/stats?until="+hour.Add(time.Hour).Format(time.RFC3339), nil)
		expect(t, r, http.StatusOK)
		r.json(t, &s)
		if s.Generated != 6 {
			t.Errorf("first hour only: %s", r.body)
		}
	})

	t.Run("Dimensions", func(t *testing.T) {
		var users []api.StatsCount
		r := b.do(t, "root", http.MethodGet, "/api/v1/admin/stats/users?limit=1", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &users)
		if len(users) != 1 || users[0] != (api.StatsCount{Key: "alice", Total: 7}) {
			t.Errorf("users %s", r.body)
		}
		var rules []api.StatsRuleCount
		r = b.do(t, "root", http.MethodGet, "/api/v1/admin/stats/rules", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &rules)
		if len(rules) != 1 || rules[0] != (api.StatsRuleCount{RuleID: rule.ID, Name: "mine", User: "alice", Total: 7}) {
			t.Errorf("rules %s", r.body)
		}
		var hours []api.StatsHour
		r = b.do(t, "root", http.MethodGet, "/api/v1/admin/stats/hourly?application=bodhi", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &hours)
		if len(hours) != 1 || !hours[0].Hour.Equal(hour) || hours[0].Total != 6 {
			t.Errorf("hourly of bodhi %s", r.body)
		}
		var ds []api.StatsDeliveries
		r = b.do(t, "root", http.MethodGet, "/api/v1/admin/stats/deliveries?hourly=true", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &ds)
		if len(ds) != 2 || ds[0].Retried != 3 || ds[1].Sent != 2 {
			t.Errorf("deliveries per hour %s", r.body)
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		for _, q := range []string{
			"/api/v1/admin/stats?since=2026-11-23T10:00:00Z&until=2026-11-23T09:00:00Z",
			"/api/v1/admin/stats/hourly?user=alice&channel=email",
			"/api/v1/admin/stats/deliveries?channel=email",
			"/api/v1/admin/stats?since=yesterday",
		} {
			r := b.do(t, "root", http.MethodGet, q, nil)
			if r.status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d %s", q, r.status, r.body)
			}
		}
	})

	t.Run("Documented", func(t *testing.T) {
		r := b.do(t, "", http.MethodGet, "/api/v1/openapi.json", nil)
		expect(t, r, http.StatusOK)
		for _, p := range []string{"/api/v1/admin/stats", "/api/v1/admin/stats/rules", "/api/v1/admin/stats/hourly", "/api/v1/admin/stats/deliveries"} {
			if !strings.Contains(string(r.body), `"`+p+`"`) {
				t.Errorf("the OpenAPI document lacks %s", p)
			}
		}
	})
}
