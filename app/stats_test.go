package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// figures are every statistic, as the test computes them from first
// principles and as fmn reports them.
type figures struct {
	Generated  int64
	PerRule    map[int64]int64
	PerUser    map[string]int64
	PerApp     map[string]int64
	PerChannel map[string]int64
	Deliveries map[string]stats.Deliveries
	Activity   stats.Activity
}

func readFigures(t *testing.T, ctx context.Context, rd *stats.Reader) figures {
	t.Helper()
	f := figures{PerRule: map[int64]int64{}, PerUser: map[string]int64{}, PerApp: map[string]int64{}, PerChannel: map[string]int64{},
		Deliveries: map[string]stats.Deliveries{}}
	s, err := rd.Summary(ctx, stats.Range{})
	if err != nil {
		t.Fatal(err)
	}
	f.Generated, f.Activity = s.Generated, s.Activity
	for _, d := range s.Deliveries {
		f.Deliveries[d.Channel] = d
	}
	rs, err := rd.TopRules(ctx, stats.Range{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		f.PerRule[r.RuleID] = r.Total
	}
	for dim, m := range map[string]map[string]int64{stats.DimUser: f.PerUser, stats.DimApp: f.PerApp, stats.DimChannel: f.PerChannel} {
		cs, err := rd.Top(ctx, dim, stats.Range{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			m[c.Key] = c.Total
		}
	}
	return f
}

func (f figures) String() string {
	b, _ := json.MarshalIndent(f, "", "  ")
	return string(b)
}

// TestStatisticsGroundTruth runs fmn on a known workload — messages,
// rules, a relay that refuses one recipient for good and another twice —
// and checks every statistic against what the test computes itself; then
// rebuilds the projections from the streams and checks them again.
func TestStatisticsGroundTruth(t *testing.T) {
	t.Parallel()
	o := setupOps(t, false)
	srv := fmntest.StartSMTP(t, "fmn-bot", "Sm7p-pa55word")
	var mu sync.Mutex
	carolRefusals := 2
	srv.Reject = func(rcpt string) *smtp.SMTPError {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case rcpt == "bob@example.org":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		case rcpt == "carol@example.org" && carolRefusals > 0:
			carolRefusals--
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy"}
		}
		return nil
	}
	sysc := make(chan *app.System, 1)
	o.systemStarted(t, srv, &senders.Options{MaxDeliver: 5, BackOff: []time.Duration{20 * time.Millisecond}}, sysc,
		"projector", "consumer", "stats", "sender-email")
	sys := <-sysc

	email := func(u string) rules.Destination {
		return rules.Destination{Protocol: "email", Address: u + "@example.org"}
	}
	set := map[string][]rules.Rule{
		"alice": {
			mailRule("mine", relatedEvents, rules.Filters{}, email("alice")),
			mailRule("bob on koji", rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: json.RawMessage(`["bob"]`)},
				rules.Filters{Applications: []string{"koji"}}, email("alice"), rules.Destination{Protocol: "irc", Address: "alice"}),
		},
		"bob":   {mailRule("mine", relatedEvents, rules.Filters{}, email("bob"))},
		"carol": {mailRule("requests", rules.TrackingRule{Name: rules.TrackArtifactsFollowed, Params: json.RawMessage(`[{"name":"python-requests","type":"rpms"}]`)}, rules.Filters{}, email("carol"))},
		"dave":  {mailRule("mine", relatedEvents, rules.Filters{}, email("dave"))},
	}
	var all []rules.Rule
	var last uint64
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		for _, r := range set[u] {
			sr, err := o.cmds.Create(o.ctx, u, r, rulelog.Meta{Actor: u})
			if err != nil {
				t.Fatal(err)
			}
			last = sr.Version
			all = append(all, sr.Rule)
		}
	}
	dave, err := o.cmds.SetDisabled(o.ctx, all[4].ID, true, rulelog.Meta{Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	all[4] = dave.Rule
	last = dave.Version
	fmntest.Eventually(t, 5*time.Second, "the matcher has the rules", func() bool { return sys.Matcher.Version() >= last })

	// The workload.
	const count = 60
	start := time.Now().UTC()
	var msgs []*nats.Msg
	for i := range count {
		app := []string{"bodhi", "koji", "copr"}[i%3]
		users := [][]string{{"alice"}, {"bob"}, {"alice", "bob"}, {"dave"}}[i%4]
		agent := "zed"
		if i%5 == 0 {
			agent = "bob"
		}
		m := nats.NewMsg(wire.BusSubject("org.fedoraproject.prod." + app + ".event"))
		m.Header.Set(wire.HeaderMsgID, uuid.NewString())
		m.Header.Set(bus.HeaderSchema, "base.message")
		for _, u := range users {
			m.Header.Set("fedora_messaging_user_"+u, "true")
		}
		if i%6 == 0 {
			m.Header.Set("fedora_messaging_rpm_python-requests", "true")
		}
		m.Data, _ = json.Marshal(map[string]any{"agent_name": agent, "summary": fmt.Sprintf("event %d", i)})
		if _, err := o.nats.JS.PublishMsg(o.ctx, m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}

	want := groundTruth(t, all, msgs)
	want.Activity = stats.Activity{ActiveUsers: 3, Users: 4, EnabledRules: 4, DisabledRules: 1}
	t.Logf("ground truth: %d messages, %d notifications, deliveries %v", count, want.Generated, want.Deliveries)

	rd := stats.NewReader(o.pg.Pool)
	var got figures
	fmntest.Eventually(t, 20*time.Second, "the statistics reach the ground truth", func() bool {
		got = readFigures(t, o.ctx, rd)
		return got.String() == want.String()
	})
	hourly, err := rd.Hourly(o.ctx, "", "", stats.Range{})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, h := range hourly {
		sum += h.Total
		if h.Hour.Before(start.Truncate(time.Hour)) || h.Hour.After(time.Now()) {
			t.Errorf("bucket %s outside the run", h.Hour)
		}
	}
	if sum != want.Generated {
		t.Errorf("hourly buckets sum to %d, want %d", sum, want.Generated)
	}

	// Rebuilt from the streams (while the projectors run), every figure
	// is the same.
	if _, err := o.pg.Pool.Exec(o.ctx, "UPDATE generated_stats SET count = count + 1000; DELETE FROM delivery_stats"); err != nil {
		t.Fatal(err)
	}
	code, out, errs := o.run(t, "", []string{"stats", "--rebuild"})
	if code != 0 || !strings.Contains(out, "statistics rebuilt") {
		t.Fatalf("fmn stats --rebuild: %d %s %s", code, out, errs)
	}
	t.Logf("fmn stats --rebuild:\n%s", out)
	if got := readFigures(t, o.ctx, rd); got.String() != want.String() {
		t.Errorf("after the rebuild:\n%s\nwant\n%s", got, want)
	}
	if code, out, errs := o.run(t, "", []string{"replay", "stats", "--rebuild"}); code != 0 {
		t.Errorf("fmn replay stats --rebuild: %d %s %s", code, out, errs)
	} else if got := readFigures(t, o.ctx, rd); got.String() != want.String() {
		t.Errorf("after the second rebuild:\n%s", got)
	}

	// The command line shows the same figures.
	code, out, _ = o.run(t, "", []string{"stats", "users", "--json"})
	var users []stats.Count
	if err := json.Unmarshal([]byte(out), &users); code != 0 || err != nil {
		t.Fatalf("fmn stats users --json: %d %v %s", code, err, out)
	}
	for _, c := range users {
		if want.PerUser[c.Key] != c.Total {
			t.Errorf("fmn stats users: %s %d, want %d", c.Key, c.Total, want.PerUser[c.Key])
		}
	}
	code, out, _ = o.run(t, "", []string{"stats"})
	t.Logf("fmn stats:\n%s", out)
	for _, line := range []string{
		fmt.Sprintf("notifications generated  %d", want.Generated),
		fmt.Sprintf("deliveries email: sent / retried / dead / paused  %d / %d / %d / %d", want.Deliveries["email"].Sent, want.Deliveries["email"].Retried, want.Deliveries["email"].Dead, want.Deliveries["email"].Paused),
		"active users (an enabled rule, now)  3",
	} {
		if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(line), " ")) {
			t.Errorf("fmn stats lacks %q", line)
		}
	}
}

// groundTruth matches msgs against every enabled rule directly and counts
// as the design says: one notification per destination and message, every
// rule that produced it counted; deliveries as the relay of
// TestStatisticsGroundTruth answers.
func groundTruth(t *testing.T, all []rules.Rule, msgs []*nats.Msg) figures {
	t.Helper()
	f := figures{PerRule: map[int64]int64{}, PerUser: map[string]int64{}, PerApp: map[string]int64{}, PerChannel: map[string]int64{},
		Deliveries: map[string]stats.Deliveries{}}
	var cs []*rules.Compiled
	for _, r := range all {
		c, err := rules.Compile(r)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	d := stats.Deliveries{Channel: "email"}
	for _, m := range msgs {
		p, err := bus.ParseNATS(m.Subject, m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		byDest := map[rules.Destination][]int64{}
		owner := map[rules.Destination]string{}
		for _, c := range cs {
			dests, _ := c.Match(context.Background(), p, nil)
			for _, x := range dests {
				byDest[x] = append(byDest[x], c.ID())
				owner[x] = c.User()
			}
		}
		for _, x := range slices.SortedFunc(maps.Keys(byDest), func(a, b rules.Destination) int { return strings.Compare(a.Address, b.Address) }) {
			f.Generated++
			for _, id := range byDest[x] {
				f.PerRule[id]++
			}
			f.PerUser[owner[x]]++
			f.PerApp[p.App]++
			f.PerChannel[x.Protocol]++
			if x.Protocol == "email" {
				if x.Address == "bob@example.org" {
					d.Dead++
				} else {
					d.Sent++
				}
			}
		}
	}
	d.Retried = 2 // carol's first two attempts
	f.Deliveries["email"] = d
	return f
}

// systemStarted is ops.system handing over the running System.
func (o *ops) systemStarted(t *testing.T, smtpSrv *fmntest.SMTPServer, so *senders.Options, sysc chan<- *app.System, roles ...string) {
	t.Helper()
	o.s.SystemStarted(t, quietLog(t), smtpSrv, so, sysc, roles...)
}
