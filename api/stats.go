package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/stats"
)

// StatsReader is the query side of the statistics projections
// (stats.Reader).
type StatsReader interface {
	Summary(ctx context.Context, r stats.Range) (stats.Summary, error)
	TopRules(ctx context.Context, r stats.Range, limit int) ([]stats.RuleCount, error)
	Top(ctx context.Context, dim string, r stats.Range, limit int) ([]stats.Count, error)
	Hourly(ctx context.Context, dim, key string, r stats.Range) ([]stats.HourCount, error)
	RuleHourly(ctx context.Context, ruleID int64, r stats.Range) ([]stats.HourCount, error)
	Deliveries(ctx context.Context, r stats.Range) ([]stats.Deliveries, error)
	DeliveriesHourly(ctx context.Context, channel string, r stats.Range) ([]stats.DeliveryHour, error)
}

// StatsHandlers serve /admin/stats…: the statistics projections, for
// admins only; and /users/{username}/rules/{id}/stats, a rule's own
// statistics, for its owner.
type StatsHandlers struct {
	s  *Server
	rd StatsReader
}

// defaultStatsWindow is the range of a request without since.
const defaultStatsWindow = 7 * 24 * time.Hour

// StatsRange is the time range of a statistics request. Statistics are
// kept in hourly buckets (UTC): a range covers the buckets it overlaps.
type StatsRange struct {
	Since time.Time `query:"since" doc:"Start (RFC 3339); default 7 days ago." example:"2026-11-16T00:00:00Z"`
	Until time.Time `query:"until" doc:"End, exclusive (RFC 3339); default now." example:"2026-11-23T00:00:00Z"`
}

func (r StatsRange) stats(now time.Time) stats.Range {
	if r.Since.IsZero() {
		r.Since = now.Add(-defaultStatsWindow)
	}
	return stats.Range{Since: r.Since, Until: r.Until}
}

type statsTopInput struct {
	StatsRange
	Limit int `query:"limit" minimum:"1" maximum:"10000" default:"100" doc:"At most this many rows, largest first."`
}

type statsHourlyInput struct {
	StatsRange
	User    string `query:"user" maxLength:"255" doc:"Only this user's notifications." example:"alice"`
	App     string `query:"application" maxLength:"255" doc:"Only this application's notifications." example:"bodhi"`
	Channel string `query:"channel" maxLength:"64" doc:"Only this channel's notifications." example:"email"`
	Rule    int64  `query:"rule" minimum:"0" doc:"Only this rule's notifications (a notification of several rules counts for each)." example:"12"`
}

type statsDeliveriesInput struct {
	StatsRange
	Hourly  bool   `query:"hourly" doc:"Per hour instead of per channel."`
	Channel string `query:"channel" maxLength:"64" doc:"With hourly: only this channel." example:"email"`
}

// StatsSummary is the overview of a range.
type StatsSummary struct {
	Since      time.Time         `json:"since" doc:"Start of the range."`
	Until      time.Time         `json:"until" doc:"End of the range (exclusive)."`
	Generated  int64             `json:"generated" doc:"Notifications generated (each once, whatever the number of rules that produced it)."`
	ByChannel  []StatsCount      `json:"generated_by_channel" doc:"Notifications generated per channel."`
	Deliveries []StatsDeliveries `json:"deliveries" doc:"Delivery attempts per channel."`
	Activity   StatsActivity     `json:"activity"`
}

// StatsCount is a total for one user, application or channel.
type StatsCount struct {
	Key   string `json:"key" doc:"The user, application or channel; empty for messages without application." example:"alice"`
	Total int64  `json:"total" doc:"Notifications generated." example:"42"`
}

// StatsRuleCount is a rule's total.
type StatsRuleCount struct {
	RuleID int64  `json:"rule_id" example:"12"`
	Name   string `json:"name" doc:"Empty when the rule was deleted since." example:"My packages"`
	User   string `json:"user" doc:"Empty when the rule was deleted since." example:"alice"`
	Total  int64  `json:"total" doc:"Notifications it generated (a notification of several rules counts for each)." example:"42"`
}

// StatsHour is the total of one hour.
type StatsHour struct {
	Hour  time.Time `json:"hour" doc:"Start of the hour (UTC)."`
	Total int64     `json:"total" example:"42"`
}

// StatsDeliveries counts delivery attempts by result.
type StatsDeliveries struct {
	Channel string    `json:"channel,omitempty" example:"email"`
	Hour    time.Time `json:"hour,omitzero" doc:"Start of the hour (UTC), per hour only."`
	Sent    int64     `json:"sent" doc:"Delivered."`
	Retried int64     `json:"retried" doc:"Failed transiently and tried again later."`
	Dead    int64     `json:"dead" doc:"Given up on: stored in the dead letters."`
	Paused  int64     `json:"paused" doc:"Dropped: the user had paused the destination."`
}

// StatsActivity comes from the rules, now.
type StatsActivity struct {
	ActiveUsers   int64 `json:"active_users" doc:"Users with at least one enabled rule."`
	Users         int64 `json:"users" doc:"Every user fmn knows."`
	EnabledRules  int64 `json:"enabled_rules"`
	DisabledRules int64 `json:"disabled_rules"`
}

type statsSummaryOutput struct{ Body StatsSummary }
type statsCountsOutput struct{ Body []StatsCount }
type statsRulesOutput struct{ Body []StatsRuleCount }
type statsHoursOutput struct{ Body []StatsHour }
type statsDeliveriesOutput struct{ Body []StatsDeliveries }

// maxRuleStatsDays is the longest range of a rule's daily statistics.
const maxRuleStatsDays = 90

type ruleStatsInput struct {
	Username string `path:"username" maxLength:"255" doc:"The rule's owner: must be you." example:"alice"`
	ID       int64  `path:"id" minimum:"1" doc:"The rule's id." example:"12"`
	Days     int    `query:"days" minimum:"1" maximum:"90" default:"30" doc:"The number of days (UTC), today included."`
}

// RuleStats is what one rule generated per day.
type RuleStats struct {
	RuleID int64          `json:"rule_id" example:"12"`
	Since  time.Time      `json:"since" doc:"Start of the first day (00:00 UTC)."`
	Total  int64          `json:"total" doc:"Notifications the rule generated over the days." example:"42"`
	Daily  []RuleStatsDay `json:"daily" doc:"One entry per day, oldest first, days without any included (total 0)."`
}

// RuleStatsDay is a rule's total of one day.
type RuleStatsDay struct {
	Day   time.Time `json:"day" doc:"Start of the day (00:00 UTC)."`
	Total int64     `json:"total" example:"3"`
}

type ruleStatsOutput struct{ Body RuleStats }

// RegisterStats adds the statistics operations to the API, reading from
// rd. Only admins reach them, except a rule's own statistics, which its
// owner reads.
func (s *Server) RegisterStats(rd StatsReader) {
	(&StatsHandlers{s: s, rd: rd}).Register(s.api)
}

// Register adds the operations.
func (h *StatsHandlers) Register(api huma.API) {
	huma.Register(api, adminOp("admin-stats", http.MethodGet, "/admin/stats", "Statistics overview",
		"Notifications generated (in total and per channel), delivery attempts per channel (sent, retried, dead), "+
			"and the active users (with at least one enabled rule) and rules now."), h.summary)
	huma.Register(api, adminOp("admin-stats-rules", http.MethodGet, "/admin/stats/rules", "Notifications per rule",
		"The rules that generated the most notifications in the range."), h.rules)
	huma.Register(api, adminOp("admin-stats-users", http.MethodGet, "/admin/stats/users", "Notifications per user",
		"The users who were sent the most notifications in the range."), h.dim(stats.DimUser))
	huma.Register(api, adminOp("admin-stats-applications", http.MethodGet, "/admin/stats/applications", "Notifications per application",
		"Notifications per application of the bus messages that caused them."), h.dim(stats.DimApp))
	huma.Register(api, adminOp("admin-stats-channels", http.MethodGet, "/admin/stats/channels", "Notifications per channel",
		"Notifications per channel (email, irc, matrix)."), h.dim(stats.DimChannel))
	huma.Register(api, adminOp("admin-stats-hourly", http.MethodGet, "/admin/stats/hourly", "Notifications per hour",
		"Notifications per hour, of everyone or of one user, application, channel or rule; hours without any are left out."), h.hourly)
	huma.Register(api, adminOp("admin-stats-deliveries", http.MethodGet, "/admin/stats/deliveries", "Delivery attempts",
		"Delivery attempts per channel, or per hour, by result: sent, retried, dead."), h.deliveries)

	o := op("get-user-rule-stats", http.MethodGet, "/users/{username}/rules/{id}/stats", "Notifications of one of your rules per day",
		"The notifications the rule generated per day (UTC) over the last days, today included; a notification "+
			"counts once per rule that generated it.", "users/rules")
	o.Errors = append(o.Errors, http.StatusForbidden, http.StatusNotFound)
	huma.Register(api, o, h.ruleDaily)
}

func (h *StatsHandlers) ruleDaily(ctx context.Context, in *ruleStatsInput) (*ruleStatsOutput, error) {
	if _, err := mustOwn(ctx, in.Username, "see"); err != nil {
		return nil, err
	}
	if _, err := (&RuleHandlers{h.s}).ownRule(ctx, in.Username, in.ID); err != nil {
		return nil, err
	}
	days := in.Days
	if days <= 0 {
		days = 30
	}
	days = min(days, maxRuleStatsDays)
	now := time.Now().UTC()
	since := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(days - 1))
	list, err := h.rd.RuleHourly(ctx, in.ID, stats.Range{Since: since})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out := RuleStats{RuleID: in.ID, Since: since, Daily: make([]RuleStatsDay, days)}
	for i := range out.Daily {
		out.Daily[i].Day = since.AddDate(0, 0, i)
	}
	for _, c := range list {
		i := int(c.Hour.UTC().Sub(since) / (24 * time.Hour))
		if c.Hour.Before(since) || i >= days {
			continue
		}
		out.Daily[i].Total += c.Total
		out.Total += c.Total
	}
	return &ruleStatsOutput{Body: out}, nil
}

func (h *StatsHandlers) fail(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable("The request took too long: try again.")
	}
	h.s.log.ErrorContext(ctx, "statistics read failed", slog.Any("error", err))
	return unavailable("The statistics are unavailable: try again later.")
}

func checkRange(r StatsRange) error {
	if !r.Until.IsZero() && !r.Since.IsZero() && !r.Until.After(r.Since) {
		return huma.Error422UnprocessableEntity(fmt.Sprintf("until (%s) must be after since (%s)",
			r.Until.Format(time.RFC3339), r.Since.Format(time.RFC3339)))
	}
	return nil
}

func (h *StatsHandlers) summary(ctx context.Context, in *StatsRange) (*statsSummaryOutput, error) {
	if err := checkRange(*in); err != nil {
		return nil, err
	}
	now := time.Now()
	r := in.stats(now)
	s, err := h.rd.Summary(ctx, r)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out := StatsSummary{Since: r.Since.UTC(), Until: r.Until.UTC(), Generated: s.Generated,
		ByChannel: counts(s.ByChannel), Deliveries: deliveries(s.Deliveries), Activity: StatsActivity(s.Activity)}
	if out.Until.IsZero() {
		out.Until = now.UTC()
	}
	return &statsSummaryOutput{Body: out}, nil
}

func (h *StatsHandlers) rules(ctx context.Context, in *statsTopInput) (*statsRulesOutput, error) {
	if err := checkRange(in.StatsRange); err != nil {
		return nil, err
	}
	list, err := h.rd.TopRules(ctx, in.stats(time.Now()), in.Limit)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out := make([]StatsRuleCount, len(list))
	for i, c := range list {
		out[i] = StatsRuleCount(c)
	}
	return &statsRulesOutput{Body: out}, nil
}

func (h *StatsHandlers) dim(dim string) func(context.Context, *statsTopInput) (*statsCountsOutput, error) {
	return func(ctx context.Context, in *statsTopInput) (*statsCountsOutput, error) {
		if err := checkRange(in.StatsRange); err != nil {
			return nil, err
		}
		list, err := h.rd.Top(ctx, dim, in.stats(time.Now()), in.Limit)
		if err != nil {
			return nil, h.fail(ctx, err)
		}
		return &statsCountsOutput{Body: counts(list)}, nil
	}
}

func (h *StatsHandlers) hourly(ctx context.Context, in *statsHourlyInput) (*statsHoursOutput, error) {
	if err := checkRange(in.StatsRange); err != nil {
		return nil, err
	}
	n := 0
	for _, set := range []bool{in.User != "", in.App != "", in.Channel != "", in.Rule != 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, huma.Error422UnprocessableEntity("Give at most one of user, application, channel and rule")
	}
	r := in.stats(time.Now())
	var (
		list []stats.HourCount
		err  error
	)
	switch {
	case in.Rule != 0:
		list, err = h.rd.RuleHourly(ctx, in.Rule, r)
	case in.User != "":
		list, err = h.rd.Hourly(ctx, stats.DimUser, in.User, r)
	case in.App != "":
		list, err = h.rd.Hourly(ctx, stats.DimApp, in.App, r)
	default:
		list, err = h.rd.Hourly(ctx, stats.DimChannel, in.Channel, r)
	}
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out := make([]StatsHour, len(list))
	for i, c := range list {
		out[i] = StatsHour{Hour: c.Hour, Total: c.Total}
	}
	return &statsHoursOutput{Body: out}, nil
}

func (h *StatsHandlers) deliveries(ctx context.Context, in *statsDeliveriesInput) (*statsDeliveriesOutput, error) {
	if err := checkRange(in.StatsRange); err != nil {
		return nil, err
	}
	r := in.stats(time.Now())
	if !in.Hourly {
		if in.Channel != "" {
			return nil, huma.Error422UnprocessableEntity("channel goes with hourly=true; without it every channel is listed")
		}
		list, err := h.rd.Deliveries(ctx, r)
		if err != nil {
			return nil, h.fail(ctx, err)
		}
		return &statsDeliveriesOutput{Body: deliveries(list)}, nil
	}
	list, err := h.rd.DeliveriesHourly(ctx, in.Channel, r)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out := make([]StatsDeliveries, len(list))
	for i, d := range list {
		out[i] = StatsDeliveries{Channel: in.Channel, Hour: d.Hour, Sent: d.Sent, Retried: d.Retried, Dead: d.Dead, Paused: d.Paused}
	}
	return &statsDeliveriesOutput{Body: out}, nil
}

func counts(list []stats.Count) []StatsCount {
	out := make([]StatsCount, len(list))
	for i, c := range list {
		out[i] = StatsCount(c)
	}
	return out
}

func deliveries(list []stats.Deliveries) []StatsDeliveries {
	out := make([]StatsDeliveries, len(list))
	for i, d := range list {
		out[i] = StatsDeliveries{Channel: d.Channel, Sent: d.Sent, Retried: d.Retried, Dead: d.Dead, Paused: d.Paused}
	}
	return out
}
