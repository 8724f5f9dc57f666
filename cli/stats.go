package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"

	"github.com/fmn-project/fmn/stats"
)

const statsViews = "summary, rules, users, apps, channels, hourly, deliveries"

// cmdStats prints the statistics projections for admins.
func cmdStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	view := "summary"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		view, args = args[0], args[1:]
	}
	now := time.Now()
	since, until := timeFlag{t: now.Add(-7 * 24 * time.Hour)}, timeFlag{}
	var limit int
	var asJSON, rebuild bool
	var user, appName, channel string
	var ruleID int64
	cfg, fs, err := flags("stats", config.Connection|config.Postgres|config.Stats, args, stderr, `  fmn stats                          # the last 7 days: notifications, deliveries, active users
  fmn stats rules --since 30d --limit 10   # the rules that generate the most
  fmn stats users --json             # per user, for a script
  fmn stats hourly --since 2d --channel email
  fmn stats hourly --rule 42
  fmn stats deliveries --since 24h   # sent, retried and dead per channel
  fmn stats --rebuild                # recompute everything from the streams
Views: `+statsViews+`
`, func(fs *flag.FlagSet) {
		fs.Var(&since, "since", "start: RFC 3339, a date, or a duration before now (default 7d)")
		fs.Var(&until, "until", "end (exclusive), same forms (default now)")
		fs.IntVar(&limit, "limit", 20, "rows of rules, users, apps (0: all)")
		fs.BoolVar(&asJSON, "json", false, "JSON output, for scripts")
		fs.BoolVar(&rebuild, "rebuild", false, "recompute the statistics from NOTIFY and EVENTS")
		fs.StringVar(&user, "user", "", "hourly: one user's notifications")
		fs.StringVar(&appName, "app", "", "hourly: one application's notifications")
		fs.StringVar(&channel, "channel", "", "hourly, deliveries hourly: one channel")
		fs.Int64Var(&ruleID, "rule", 0, "hourly: one rule's notifications")
	})
	if err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		fmt.Fprintf(stderr, "fmn stats: unexpected %q (views: %s; flags after the view)\n", fs.Args()[0], statsViews)
		return errUsage
	}
	if rebuild {
		return rebuildStats(ctx, cfg, stdout, stderr)
	}
	env := &app.Env{Cfg: cfg, Log: newLogger(stderr, cfg.LogLevel)}
	defer env.Close()
	if err := env.ConnectDB(ctx, false); err != nil {
		return err
	}
	if err := app.Migrate(ctx, env.DB); err != nil {
		return err
	}
	rd := stats.NewReader(env.DB)
	r := stats.Range{Since: since.t, Until: until.t}
	var out any
	switch view {
	case "summary":
		out, err = rd.Summary(ctx, r)
	case "rules":
		out, err = rd.TopRules(ctx, r, limit)
	case "users":
		out, err = rd.Top(ctx, stats.DimUser, r, limit)
	case "apps":
		out, err = rd.Top(ctx, stats.DimApp, r, limit)
	case "channels":
		out, err = rd.Top(ctx, stats.DimChannel, r, limit)
	case "hourly":
		switch {
		case ruleID != 0:
			out, err = rd.RuleHourly(ctx, ruleID, r)
		case user != "":
			out, err = rd.Hourly(ctx, stats.DimUser, user, r)
		case appName != "":
			out, err = rd.Hourly(ctx, stats.DimApp, appName, r)
		default:
			out, err = rd.Hourly(ctx, stats.DimChannel, channel, r)
		}
	case "deliveries":
		out, err = rd.Deliveries(ctx, r)
	default:
		fmt.Fprintf(stderr, "fmn stats: unknown view %q (views: %s)\n", view, statsViews)
		return errUsage
	}
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "%s, %s\n", rangeText(r), "hourly buckets (UTC)")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	row := func(cells ...any) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw, "\t")
	}
	n := func(v int64) string { return thousands(uint64(max(v, 0))) }
	switch v := out.(type) {
	case stats.Summary:
		row("notifications generated", n(v.Generated))
		for _, c := range v.ByChannel {
			row("  to "+orNone(c.Key), n(c.Total))
		}
		for _, d := range v.Deliveries {
			row("deliveries "+d.Channel+": sent / retried / dead / paused", n(d.Sent)+" / "+n(d.Retried)+" / "+n(d.Dead)+" / "+n(d.Paused))
		}
		if len(v.Deliveries) == 0 {
			row("deliveries", "none")
		}
		row("active users (an enabled rule, now)", n(v.Activity.ActiveUsers))
		row("users", n(v.Activity.Users))
		row("rules enabled / disabled", n(v.Activity.EnabledRules)+" / "+n(v.Activity.DisabledRules))
	case []stats.RuleCount:
		row("RULE", "NAME", "USER", "GENERATED")
		for _, c := range v {
			row(c.RuleID, orNone(c.Name), orNone(c.User), n(c.Total))
		}
	case []stats.Count:
		row(strings.ToUpper(strings.TrimSuffix(view, "s")), "GENERATED")
		for _, c := range v {
			row(orNone(c.Key), n(c.Total))
		}
	case []stats.HourCount:
		row("HOUR", "GENERATED")
		for _, c := range v {
			row(c.Hour.Format("2006-01-02 15:04"), n(c.Total))
		}
	case []stats.Deliveries:
		row("CHANNEL", "SENT", "RETRIED", "DEAD", "PAUSED")
		for _, d := range v {
			row(d.Channel, n(d.Sent), n(d.Retried), n(d.Dead), n(d.Paused))
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func rangeText(r stats.Range) string {
	until := "now"
	if !r.Until.IsZero() {
		until = r.Until.UTC().Format(time.RFC3339)
	}
	if r.Since.IsZero() {
		return "until " + until
	}
	return "from " + r.Since.UTC().Format(time.RFC3339) + " until " + until
}
