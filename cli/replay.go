package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/bus"

	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/replay"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/svccache"
	"github.com/fmn-project/fmn/wire"
	"github.com/redis/rueidis"
)

const replayUsage = `usage:
  fmn replay bus [flags]       run BUS history through the rules, without side effects
  fmn replay notify [flags]    re-deliver the notifications of a channel and time range
  fmn replay rules [flags]     a user's or a rule's history; a rule as it was; --rebuild
  fmn replay stats --rebuild   recompute the statistics from NOTIFY and EVENTS
Run "fmn replay COMMAND -h" for the flags and examples.
`

// cmdReplay dispatches the operators' replay commands.
func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, replayUsage)
		return errUsage
	}
	switch args[0] {
	case "bus":
		return cmdReplayBus(ctx, args[1:], stdin, stdout, stderr)
	case "notify":
		return cmdReplayNotify(ctx, args[1:], stdin, stdout, stderr)
	case "rules":
		return cmdReplayRules(ctx, args[1:], stdout, stderr)
	case "stats":
		return cmdReplayStats(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, replayUsage)
	return errUsage
}

// cmdReplayBus answers "why did (or didn't) this message notify anyone".
func cmdReplayBus(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	since, until := timeFlag{}, timeFlag{}
	var (
		fromSeq, toSeq           uint64
		topic, rulesFile         string
		ids, users               listFlag
		ruleIDs                  listFlag
		explain, resend, yes     bool
		asJSON, matchedOnly, qui bool
	)
	cfg, _, err := flags("replay bus", config.Connection|config.Postgres|config.Redis|config.Directory|config.Site, args, stderr, `  # Why did alice not get a notification for this message?
  fmn replay bus --explain --user alice --message-id 6c1c9a5e-8e43-4d7b-9a3f-2f1f7f3b9d01
  # What would rule 42 have sent in the last six hours?
  fmn replay bus --since 6h --explain --rule 42 --matched-only
  # Every koji message of a morning, through a rule file, as JSON lines
  fmn replay bus --since 2026-11-23T06:00:00Z --until 2026-11-23T12:00:00Z --topic 'org.fedoraproject.*.koji.*' --rules my-rules.json --json
  # Send again what sequences 1000-2000 should have sent (asks first)
  fmn replay bus --from-seq 1000 --to-seq 2000 --resend
`, func(fs *flag.FlagSet) {
		fs.Var(&since, "since", "first stored time: RFC 3339, a date, or a duration before now (6h, 7d)")
		fs.Var(&until, "until", "end of the stored time range (exclusive), same forms")
		fs.Uint64Var(&fromSeq, "from-seq", 0, "first BUS sequence")
		fs.Uint64Var(&toSeq, "to-seq", 0, "last BUS sequence")
		fs.StringVar(&topic, "topic", "", "shell-style glob the topic must match (as the rules' topic filter)")
		fs.Var(&ids, "message-id", "message id (repeat, or comma-separated); the replay stops once all are found")
		fs.StringVar(&rulesFile, "rules", "", "rule set: a JSON file (list, one rule, or one per line) instead of the projection")
		fs.BoolVar(&explain, "explain", false, "say for each message why the rules of --user or --rule did or did not match")
		fs.Var(&users, "user", "with --explain: explain this user's rules")
		fs.Var(&ruleIDs, "rule", "with --explain: explain this rule (id)")
		fs.BoolVar(&resend, "resend", false, "publish the resulting notifications again (asks first)")
		fs.BoolVar(&yes, "yes", false, "with --resend: do not ask")
		fs.BoolVar(&asJSON, "json", false, "one JSON object per message")
		fs.BoolVar(&matchedOnly, "matched-only", false, "print only messages that notify someone (or are explained)")
		fs.BoolVar(&qui, "q", false, "no summary on stderr")
	})
	if err != nil {
		return err
	}
	if explain != (len(users)+len(ruleIDs) > 0) {
		fmt.Fprintln(stderr, "fmn replay bus: --explain needs --user or --rule, and they need --explain")
		return errUsage
	}
	env, err := operatorEnv(ctx, cfg, stderr, rulesFile == "")
	if err != nil {
		return err
	}
	defer env.Close()

	var set []rules.Rule
	origin := "the rules projection"
	if rulesFile != "" {
		origin = rulesFile
		f, err := os.Open(rulesFile)
		if err != nil {
			return err
		}
		set, err = replay.LoadRules(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", rulesFile, err)
		}
	} else {
		stored, err := rulelog.NewStore(env.DB).Rules(ctx, rulelog.RuleFilter{})
		if err != nil {
			return err
		}
		for _, r := range stored {
			set = append(set, r.Rule)
		}
	}
	var explainIDs []int64
	for _, u := range users {
		n := 0
		for _, r := range set {
			if r.User.Name == u {
				explainIDs = append(explainIDs, r.ID)
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("%s has no rules in %s: nothing can notify them", u, origin)
		}
	}
	for _, v := range ruleIDs {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("--rule %q is not a rule id", v)
		}
		if !slices.ContainsFunc(set, func(r rules.Rule) bool { return r.ID == id }) {
			return fmt.Errorf("rule %d is not in %s", id, origin)
		}
		if !slices.Contains(explainIDs, id) {
			explainIDs = append(explainIDs, id)
		}
	}
	owned := 0
	for _, r := range set {
		if !r.Disabled && (r.TrackingRule.Name == rules.TrackArtifactsOwned || r.TrackingRule.Name == rules.TrackArtifactsGroupOwned) {
			owned++
		}
	}
	var lk rules.Lookups
	switch {
	case owned > 0 && cfg.DistGitURL == "":
		fmt.Fprintf(stderr, "note: %d rules track dist-git ownership, and FMN_DISTGIT_URL is not set: they match nothing here\n", owned)
	case owned > 0:
		// Ownership as dist-git has it now, not as it was then.
		if lk, err = replayLookups(ctx, env, cfg); err != nil {
			return err
		}
	}

	// A batch job with a small live heap: collect garbage less often.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	pr := &replay.Progress{}
	stop := startProgress(stderr, "replay bus", pr.Done, pr.Total)
	var resendable []replay.Resendable
	site := notification.Site{Name: cfg.SiteName, PublicURL: cfg.PublicURL}
	enc := json.NewEncoder(out)
	rep, err := replay.Bus(ctx, env.JS, replay.BusOptions{
		Stream: cfg.Streams.Bus, Topic: topic, MessageIDs: ids, Rules: set, Lookups: lk, Site: site, Render: resend,
		Explain: explainIDs, Progress: pr, Log: env.Log,
		Selection: replay.Selection{Since: since.t, Until: until.t, FromSeq: fromSeq, ToSeq: toSeq},
	}, func(m *replay.BusMessage) error {
		for _, n := range m.Notifications {
			resendable = append(resendable, replay.Resendable{N: n, Source: fmt.Sprintf("%s:%d", cfg.Streams.Bus, m.Seq)})
		}
		if len(resendable) > maxResend {
			return fmt.Errorf("--resend: more than %d notifications; narrow the selection (a resend is held in memory until confirmed)", maxResend)
		}
		if matchedOnly && len(m.Matches) == 0 && !anyMatched(m.Explanations) {
			return nil
		}
		if asJSON {
			return enc.Encode(busJSON(m, explain))
		}
		printBusMessage(out, m, explain)
		return nil
	})
	stop()
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if !qui {
		fmt.Fprintf(stderr, "replayed %s messages (%s selected, %s invalid) through %d rules of %s in %s: %s msgs/s; %s notified someone, %s notifications\n",
			thousands(rep.Read), thousands(rep.Selected), thousands(rep.Invalid), rep.Rules, origin,
			rep.Elapsed.Round(time.Millisecond), thousands(uint64(rep.Rate())), thousands(rep.Matched), thousands(rep.Notifications))
	}
	if len(rep.Missing) > 0 {
		fmt.Fprintf(stderr, "not found in %s: %s\n", cfg.Streams.Bus, strings.Join(rep.Missing, ", "))
	}
	if !resend {
		return nil
	}
	return resendNotifications(ctx, env, resendable, yes, stdin, stdout, stderr)
}

// replayLookups answers ownership through dist-git and the shared cache,
// as the consumer does.
func replayLookups(ctx context.Context, env *app.Env, cfg config.Config) (rules.Lookups, error) {
	ropt, err := rueidis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("FMN_REDIS_URL: %s", redact.Text(err.Error(), redact.URLSecrets(cfg.RedisURL)...))
	}
	inv := svccache.Hook(&ropt)
	client, err := rueidis.NewClient(ropt)
	if err != nil {
		return nil, fmt.Errorf("FMN_REDIS_URL: cannot reach Redis at %s: %v", redact.URL(cfg.RedisURL), err)
	}
	env.OnClose(client.Close)
	dir, err := app.NewDirectory(ctx, cfg, client, inv, env.Log)
	if err != nil || dir == nil {
		return nil, err
	}
	return dir, nil
}

// maxResend bounds one resend run: it is held in memory until confirmed.
const maxResend = 200_000

func anyMatched(es []rules.Explanation) bool {
	return slices.ContainsFunc(es, func(e rules.Explanation) bool { return e.Matched })
}

// resendNotifications asks, then publishes the list as one run.
func resendNotifications(ctx context.Context, env *app.Env, list []replay.Resendable, yes bool, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(list) == 0 {
		fmt.Fprintln(stderr, "nothing to resend")
		return nil
	}
	run := replay.Resend{RunID: replay.NewRunID(time.Now()), By: operatorName(), Stream: env.Cfg.Streams.Notify}
	byChannel := map[string]int{}
	for _, x := range list {
		byChannel[x.N.Protocol]++
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(byChannel)) {
		parts = append(parts, fmt.Sprintf("%d %s", byChannel[c], c))
	}
	q := fmt.Sprintf("Resend %d notifications (%s) to their recipients as run %s?", len(list), strings.Join(parts, ", "), run.RunID)
	if !yes && !confirm(stdin, stderr, q) {
		fmt.Fprintln(stderr, "resend cancelled: nothing was published")
		return errNotConfirmed
	}
	pr := &replay.Progress{}
	stop := startProgress(stderr, "resend", pr.Done, pr.Total)
	rep, err := run.Publish(ctx, env.JS, list, pr)
	stop()
	if err != nil {
		return fmt.Errorf("run %s: published %d before: %w", run.RunID, rep.Published, err)
	}
	fmt.Fprintf(stdout, "resent %d notifications as run %s (Nats-Msg-Id resend:%s:<notification id>, header %s)\n",
		rep.Published, run.RunID, run.RunID, wire.HeaderResendRun)
	return nil
}

// printBusMessage writes one message, its notifications and explanations;
// with explain, also what fmn read from it (the fields of fmn inspect).
func printBusMessage(w io.Writer, m *replay.BusMessage, explain bool) {
	topic := strings.TrimPrefix(m.Subject, wire.BusPrefix)
	fmt.Fprintf(w, "#%d %s %s id=%s: ", m.Seq, m.Stored.UTC().Format(time.RFC3339), topic, m.ID)
	switch {
	case m.Parsed == nil:
		fmt.Fprintf(w, "invalid (the consumer dead-letters it): %v\n", m.Err)
		return
	case m.Err != nil:
		fmt.Fprintf(w, "lookup failed (the consumer would retry): %v\n", m.Err)
	case len(m.Matches) == 0:
		fmt.Fprintln(w, "no rule matched")
	default:
		parts := make([]string, 0, len(m.Matches))
		for _, x := range m.Matches {
			ids := make([]string, len(x.RuleIDs))
			for i, id := range x.RuleIDs {
				ids[i] = strconv.FormatInt(id, 10)
			}
			parts = append(parts, fmt.Sprintf("%s %s (%s; rule %s)", x.Destination.Protocol, x.Destination.Address, x.User, strings.Join(ids, ",")))
		}
		fmt.Fprintf(w, "%d notification(s): %s\n", len(m.Matches), strings.Join(parts, ", "))
	}
	if explain && m.Parsed != nil {
		fmt.Fprintln(w, "  read from the message:")
		m.Parsed.Fields(nil).WriteText(w, "    ")
	}
	for _, e := range m.Explanations {
		printExplanation(w, e)
	}
}

func printExplanation(w io.Writer, e rules.Explanation) {
	verdict := "MATCHED"
	if !e.Matched {
		verdict = "NOT MATCHED: " + e.Refusal()
	}
	fmt.Fprintf(w, "  rule %d %q of %s: %s\n", e.RuleID, e.RuleName, e.User, verdict)
	if e.Disabled {
		return
	}
	fmt.Fprintf(w, "    tracking rule %s: %s — %s\n", e.Tracking.Name, passed(e.Tracking.Passed), e.Tracking.Detail)
	for _, g := range e.Generations {
		dests := make([]string, len(g.Destinations))
		for i, d := range g.Destinations {
			dests[i] = d.Protocol + " " + d.Address
		}
		fmt.Fprintf(w, "    generation rule %d (%s): %s\n", g.Index, strings.Join(dests, ", "), passed(g.Passed))
		for _, f := range g.Filters {
			fmt.Fprintf(w, "      %s: %s — %s\n", f.Name, passed(f.Passed), f.Detail)
		}
	}
}

func passed(ok bool) string {
	if ok {
		return "passed"
	}
	return "REFUSED"
}

type busMessageJSON struct {
	Seq           uint64                       `json:"seq"`
	Stored        time.Time                    `json:"stored"`
	Topic         string                       `json:"topic"`
	ID            string                       `json:"id"`
	Error         string                       `json:"error,omitempty"`
	App           string                       `json:"app,omitempty"`
	Agent         string                       `json:"agent,omitempty"`
	Usernames     []string                     `json:"usernames,omitempty"`
	Matches       []replay.Match               `json:"matches"`
	Notifications []*notification.Notification `json:"notifications,omitempty"`
	Explanations  []rules.Explanation          `json:"explanations,omitempty"`
	// Fields is what fmn read from the message (with --explain).
	Fields *bus.Fields `json:"fields,omitempty"`
}

func busJSON(m *replay.BusMessage, explain bool) busMessageJSON {
	j := busMessageJSON{Seq: m.Seq, Stored: m.Stored.UTC(), Topic: strings.TrimPrefix(m.Subject, wire.BusPrefix), ID: m.ID,
		Matches: m.Matches, Notifications: m.Notifications, Explanations: m.Explanations}
	if j.Matches == nil {
		j.Matches = []replay.Match{}
	}
	if m.Err != nil {
		j.Error = m.Err.Error()
	}
	if p := m.Parsed; p != nil {
		j.App, j.Agent, j.Usernames = p.App, p.Agent, p.Usernames
		if explain {
			f := p.Fields(nil)
			j.Fields = &f
		}
	}
	return j
}

// cmdReplayNotify re-delivers stored notifications.
func cmdReplayNotify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	since, until := timeFlag{}, timeFlag{}
	var channel, user, address string
	var yes, list, withResends bool
	cfg, _, err := flags("replay notify", config.Connection, args, stderr, `  # The mail relay lost an hour of mail: send it again (asks first)
  fmn replay notify --channel email --since 2026-11-23T09:00:00Z --until 2026-11-23T10:00:00Z
  # Only what alice should have had today, without asking
  fmn replay notify --channel email --since 2026-11-23 --user alice --yes
  # Just list
  fmn replay notify --channel irc --since 2h --list
`, func(fs *flag.FlagSet) {
		fs.StringVar(&channel, "channel", "", "channel to re-deliver (email, irc, matrix); required")
		fs.Var(&since, "since", "first stored time: RFC 3339, a date, or a duration before now (6h, 7d); required")
		fs.Var(&until, "until", "end of the range (exclusive), same forms; default now")
		fs.StringVar(&user, "user", "", "only this user's notifications")
		fs.StringVar(&address, "address", "", "only notifications to this address")
		fs.BoolVar(&withResends, "with-resends", false, "include notifications that were resends already")
		fs.BoolVar(&list, "list", false, "list the notifications; publish nothing")
		fs.BoolVar(&yes, "yes", false, "do not ask before publishing")
	})
	if err != nil {
		return err
	}
	if channel == "" || since.t.IsZero() {
		fmt.Fprintln(stderr, "fmn replay notify: --channel and --since are required")
		return errUsage
	}
	env, err := operatorEnv(ctx, cfg, stderr, false)
	if err != nil {
		return err
	}
	defer env.Close()
	pr := &replay.Progress{}
	stop := startProgress(stderr, "read notify."+channel, pr.Done, pr.Total)
	var found []replay.Resendable
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if list {
		fmt.Fprintln(tw, "SEQ\tSTORED\tUSER\tADDRESS\tRULES\tSUMMARY")
	}
	skipped, err := replay.Notifications(ctx, env.JS, replay.NotifyOptions{
		Stream: cfg.Streams.Notify, Channel: channel, User: user, Address: address, WithResends: withResends, Progress: pr,
		Selection: replay.Selection{Since: since.t, Until: until.t},
	}, func(sn replay.StoredNotification) error {
		found = append(found, replay.Resendable{N: sn.Notification, Source: sn.Source(cfg.Streams.Notify)})
		if list {
			n := sn.Notification
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\n", sn.Seq, sn.Stored.UTC().Format(time.RFC3339), n.User, n.Address, n.RuleIDs, clip(n.Summary, 60))
		}
		return nil
	})
	stop()
	_ = tw.Flush()
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "%d undecodable messages skipped\n", skipped)
	}
	fmt.Fprintf(stderr, "%d notifications on notify.%s in the range\n", len(found), channel)
	if list {
		return nil
	}
	return resendNotifications(ctx, env, found, yes, stdin, stdout, stderr)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// cmdReplayRules tells the rule history, or rebuilds the projection.
func cmdReplayRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rebuild, asJSON bool
	var user string
	var ruleID int64
	at := timeFlag{}
	cfg, _, err := flags("replay rules", config.Connection|config.Postgres|config.Redis, args, stderr, `  fmn replay rules --user alice            # who changed alice's rules, when, from which request
  fmn replay rules --rule 42                # the history of rule 42
  fmn replay rules --rule 42 --at 2026-11-20T12:00:00Z   # rule 42 as it was then
  fmn replay rules --user alice --at 3d --json            # alice's rules three days ago
  fmn replay rules --rebuild                # drop the rule tables and rebuild them from the RULES stream
`, func(fs *flag.FlagSet) {
		fs.BoolVar(&rebuild, "rebuild", false, "rebuild the rule projection from the stream")
		fs.StringVar(&user, "user", "", "the user whose rule history to print")
		fs.Int64Var(&ruleID, "rule", 0, "the rule whose history to print")
		fs.Var(&at, "at", "show the rule(s) as they were at this time instead")
		fs.BoolVar(&asJSON, "json", false, "JSON output")
	})
	if err != nil {
		return err
	}
	if rebuild {
		if user != "" || ruleID != 0 || !at.t.IsZero() {
			fmt.Fprintln(stderr, "fmn replay rules: --rebuild takes no --user, --rule or --at")
			return errUsage
		}
		return rebuildRules(ctx, cfg, stdout, stderr)
	}
	if (user == "") == (ruleID == 0) {
		fmt.Fprintln(stderr, "fmn replay rules: say --user NAME or --rule ID (or --rebuild)")
		return errUsage
	}
	env, err := operatorEnv(ctx, cfg, stderr, false)
	if err != nil {
		return err
	}
	defer env.Close()
	h := replay.History{JS: env.JS, Stream: cfg.Streams.Rules}
	if ruleID != 0 {
		if user, err = h.RuleOwner(ctx, ruleID); err != nil {
			return err
		}
	}
	if !at.t.IsZero() {
		list, err := h.At(ctx, user, ruleID, at.t)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		if len(list) == 0 {
			what := user + " had no rules"
			if ruleID != 0 {
				what = fmt.Sprintf("rule %d did not exist (not created yet, or deleted)", ruleID)
			}
			fmt.Fprintf(stdout, "at %s %s\n", at.t.UTC().Format(time.RFC3339), what)
			return nil
		}
		fmt.Fprintf(stdout, "as at %s:\n", at.t.UTC().Format(time.RFC3339))
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		for _, r := range list {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	enc := json.NewEncoder(stdout)
	n := 0
	err = h.Events(ctx, user, ruleID, time.Time{}, func(e replay.HistoryEntry) error {
		n++
		if asJSON {
			return enc.Encode(e)
		}
		printHistoryEntry(stdout, e)
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 && !asJSON {
		fmt.Fprintf(stdout, "no rule events for %s\n", user)
	}
	return nil
}

func printHistoryEntry(w io.Writer, e replay.HistoryEntry) {
	req := e.Event.RequestID
	if req == "" {
		req = "-"
	}
	what := e.Event.Type
	if e.RuleID != 0 {
		what += fmt.Sprintf(" rule %d", e.RuleID)
	}
	if e.Event.Rule != nil && e.Event.Rule.Name != "" {
		what += fmt.Sprintf(" %q", e.Event.Rule.Name)
	}
	fmt.Fprintf(w, "%s  #%d  %s  by %s  request %s\n", e.When().UTC().Format(time.RFC3339), e.Seq, what, e.Event.Actor, req)
	if e.Event.Type == rulelog.EventRuleCreated {
		return
	}
	for _, c := range e.Changes {
		before, after := c.Before, c.After
		if before == "" {
			before = "(none)"
		}
		if after == "" {
			after = "(none)"
		}
		fmt.Fprintf(w, "    %s: %s → %s\n", c.Field, before, after)
	}
}

// cmdReplayStats is fmn stats --rebuild under replay's name.
func cmdReplayStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rebuild bool
	cfg, _, err := flags("replay stats", config.Connection|config.Postgres|config.Stats, args, stderr, "  fmn replay stats --rebuild   # the same as fmn stats --rebuild\n",
		func(fs *flag.FlagSet) {
			fs.BoolVar(&rebuild, "rebuild", false, "recompute the statistics from the streams")
		})
	if err != nil {
		return err
	}
	if !rebuild {
		fmt.Fprintln(stderr, "fmn replay stats: say --rebuild")
		return errUsage
	}
	return rebuildStats(ctx, cfg, stdout, stderr)
}

// rebuildStats recomputes the statistics projections from the streams.
func rebuildStats(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	env, err := operatorEnv(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer env.Close()
	p := stats.NewProjector(env.JS, env.DB, cfg.Streams, env.Log)
	p.Retention = cfg.StatsRetention
	var done, total atomic.Uint64
	stop := startProgress(stderr, "rebuild statistics", done.Load, total.Load)
	start := time.Now()
	res, err := p.Rebuild(ctx, stats.RebuildOptions{OnProgress: func(d, t uint64) { done.Store(d); total.Store(t) }})
	stop()
	if err != nil {
		return err
	}
	for _, f := range res.Feeds {
		fmt.Fprintf(stdout, "%s: %s messages of %s, projection at sequence %d", f.Projection, thousands(f.Messages), f.Stream, f.LastSeq)
		if !f.KeptBefore.IsZero() {
			fmt.Fprintf(stdout, " (the stream's oldest messages expired: buckets before %s kept as they were)", f.KeptBefore.Format(time.RFC3339))
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "statistics rebuilt in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// rebuildRules drops the rule tables and rebuilds them from the stream.
func rebuildRules(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	log := newLogger(stderr, cfg.LogLevel)
	env := &app.Env{Cfg: cfg, Log: log}
	defer env.Close()
	if err := env.ConnectNATS(ctx, app.LookupStreams); err != nil {
		return err
	}
	if err := env.ConnectDB(ctx, false); err != nil {
		return err
	}
	if err := app.Migrate(ctx, env.DB); err != nil {
		return err
	}
	ropt, err := rueidis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("FMN_REDIS_URL: not a Redis URL")
	}
	client, err := rueidis.NewClient(ropt)
	if err != nil {
		return fmt.Errorf("FMN_REDIS_URL: cannot reach Redis: %v", err)
	}
	defer client.Close()
	p := rulelog.NewProjector(env.JS, env.DB, rulelog.ProjectorConfig{
		Stream: cfg.Streams.Rules, Redis: client, RedisPrefix: cfg.RedisPrefix, Logger: log,
	})
	start := time.Now()
	last, err := p.Rebuild(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rule projection rebuilt up to sequence %d in %s\n", last, time.Since(start).Round(time.Millisecond))
	return nil
}
