package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/cli/clitest"

	"github.com/emersion/go-smtp"
	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/wire"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ops is what the operators' commands are tested against: real NATS,
// PostgreSQL and Redis, a rule projector, and the flags that point the
// CLI at them.
type ops struct {
	ctx   context.Context
	nats  *fmntest.NATS
	pg    *fmntest.Postgres
	cmds  *rulelog.Commands
	flags []string
	cfg   config.Config
	s     *clitest.Ops
}

// setupOps prepares the services (clitest.Start) under the tests' short
// field names.
func setupOps(t *testing.T, projector bool) *ops {
	t.Helper()
	s := clitest.Start(t, projector)
	return &ops{s: s, ctx: s.Ctx, nats: s.NATS, pg: s.PG, cmds: s.Cmds, flags: s.Flags, cfg: s.Cfg}
}

// run runs fmn with the test's flags after the command words.
func (o *ops) run(t *testing.T, stdin string, words []string, extra ...string) (int, string, string) {
	t.Helper()
	return o.s.Run(t, stdin, words, extra...)
}

func (o *ops) rule(t *testing.T, user string, r rules.Rule) int64 {
	t.Helper()
	sr, err := o.cmds.Create(o.ctx, user, r, rulelog.Meta{Actor: user, RequestID: "req-" + fmntest.RandomID()})
	if err != nil {
		t.Fatal(err)
	}
	return sr.ID
}

// publish stores a bus message as the bridge does and returns its id.
func (o *ops) publish(t *testing.T, topic string, users []string, body map[string]any) string {
	t.Helper()
	id := uuid.NewString()
	m := nats.NewMsg(wire.BusSubject(topic))
	m.Header.Set(wire.HeaderMsgID, id)
	m.Header.Set(bus.HeaderSchema, "base.message")
	m.Header.Set(bus.HeaderSeverity, "20")
	for _, u := range users {
		m.Header.Set("fedora_messaging_user_"+u, "true")
	}
	m.Data, _ = json.Marshal(body)
	if _, err := o.nats.JS.PublishMsg(o.ctx, m); err != nil {
		t.Fatal(err)
	}
	return id
}

func (o *ops) streamMsgs(t *testing.T, name string) uint64 {
	t.Helper()
	st, err := o.nats.JS.Stream(o.ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(o.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func mailRule(name string, tr rules.TrackingRule, f rules.Filters, dests ...rules.Destination) rules.Rule {
	return rules.Rule{Name: name, TrackingRule: tr, GenerationRules: []rules.GenerationRule{{Destinations: dests, Filters: f}}}
}

var (
	relatedEvents = rules.TrackingRule{Name: rules.TrackRelatedEvents, Params: json.RawMessage("null")}
	aliceMail     = rules.Destination{Protocol: "email", Address: "alice@example.org"}
)

// TestOperatorExplainsMissingNotification is the operator's question: alice
// says she got nothing for a Bodhi comment about her update. The replay
// names the filter that refused it, with the values compared.
func TestOperatorExplainsMissingNotification(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	id := o.rule(t, "alice", mailRule("Koji only", relatedEvents, rules.Filters{Applications: []string{"koji"}}, aliceMail))
	o.rule(t, "bob", mailRule("mine", relatedEvents, rules.Filters{}, rules.Destination{Protocol: "email", Address: "bob@example.org"}))
	o.publish(t, "org.fedoraproject.prod.koji.build.state.change", []string{"alice"}, map[string]any{"agent_name": "kojira"})
	msgID := o.publish(t, "org.fedoraproject.prod.bodhi.update.comment", []string{"alice", "bob"},
		map[string]any{"agent_name": "carol", "summary": "carol commented on alice's update"})

	code, out, errs := o.run(t, "", []string{"replay", "bus", "--explain", "--user", "alice", "--message-id", msgID})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("fmn replay bus --explain --user alice --message-id %s:\n%s", msgID, out)
	for _, want := range []string{
		"#2 ", "id=" + msgID, "1 notification(s): email bob@example.org (bob; rule",
		fmt.Sprintf(`rule %d "Koji only" of alice: NOT MATCHED: generation rule 1: filter applications refused it: application "bodhi" is not in [koji]`, id),
		`tracking rule related-events: passed — owner "alice" is among the message's users [alice bob]`,
		`applications: REFUSED — application "bodhi" is not in [koji]`,
		// What fmn read from the message, as fmn inspect prints it.
		"  read from the message:\n    schema:      base.message\n    extractor:   generic\n    app:         bodhi\n    agent:       carol\n",
		"    summary:     carol commented on alice's update\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "#1 ") {
		t.Error("the koji message was printed although only one id was asked for")
	}
	if !strings.Contains(errs, "replayed 2 messages (1 selected") {
		t.Errorf("summary: %s", errs)
	}

	// The same as JSON, for scripts.
	code, out, _ = o.run(t, "", []string{"replay", "bus", "--json", "-q", "--explain", "--rule", strconv.FormatInt(id, 10), "--message-id", msgID})
	var j struct {
		ID           string              `json:"id"`
		Explanations []rules.Explanation `json:"explanations"`
		Fields       bus.Fields          `json:"fields"`
	}
	if err := json.Unmarshal([]byte(out), &j); code != 0 || err != nil || j.ID != msgID || len(j.Explanations) != 1 ||
		j.Explanations[0].Matched || j.Explanations[0].Generations[0].Filters[2].Name != "applications" ||
		j.Fields.Agent != "carol" || j.Fields.Extractor != "generic" || len(j.Fields.Usernames) != 2 {
		t.Errorf("--json: %d %v %s", code, err, out)
	}

	// A user without rules is told so.
	if code, _, errs := o.run(t, "", []string{"replay", "bus", "--explain", "--user", "zoe"}); code != 1 || !strings.Contains(errs, "zoe has no rules") {
		t.Errorf("user without rules: %d %s", code, errs)
	}
}

// TestReplayBusResend: a resend without confirmation publishes nothing;
// confirmed, it publishes with ids that name the run.
func TestReplayBusResend(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	o.rule(t, "alice", mailRule("mine", relatedEvents, rules.Filters{}, aliceMail))
	msgID := o.publish(t, "org.fedoraproject.prod.bodhi.update.comment", []string{"alice"}, map[string]any{"agent_name": "carol"})
	args := []string{"replay", "bus", "--resend", "--message-id", msgID}

	for _, answer := range []string{"", "no\n", "maybe\n"} {
		code, _, errs := o.run(t, answer, args)
		if code != 1 || !strings.Contains(errs, "Resend 1 notifications (1 email)") || !strings.Contains(errs, "nothing was published") {
			t.Errorf("answer %q: exit %d, %s", answer, code, errs)
		}
	}
	if n := o.streamMsgs(t, o.nats.Streams.Notify); n != 0 {
		t.Fatalf("NOTIFY holds %d notifications after unconfirmed resends", n)
	}

	code, out, errs := o.run(t, "yes\n", args)
	if code != 0 || !strings.Contains(out, "resent 1 notifications as run ") {
		t.Fatalf("confirmed: %d %s %s", code, out, errs)
	}
	run := regexp.MustCompile(`as run (\S+)`).FindStringSubmatch(out)[1]
	st, _ := o.nats.JS.Stream(o.ctx, o.nats.Streams.Notify)
	m, err := st.GetMsg(o.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get(wire.HeaderMsgID); !strings.HasPrefix(id, "resend:"+run+":") || m.Header.Get(wire.HeaderResendRun) != run ||
		m.Header.Get(wire.HeaderResendOf) != o.nats.Streams.Bus+":1" {
		t.Errorf("resent message headers %v", m.Header)
	}
	// --yes is the scripts' confirmation; a new run is a new resend.
	if code, out, _ := o.run(t, "", args, "--yes"); code != 0 || !strings.Contains(out, "resent 1") || o.streamMsgs(t, o.nats.Streams.Notify) != 2 {
		t.Errorf("--yes: %d %s", code, out)
	}
}

func TestReplayRulesHistoryCLI(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	id := o.rule(t, "alice", mailRule("mine", relatedEvents, rules.Filters{}, aliceMail))
	before := time.Now()
	r := mailRule("mine", relatedEvents, rules.Filters{Applications: []string{"koji"}}, aliceMail)
	if _, err := o.cmds.Update(o.ctx, "alice", id, r, nil, rulelog.Meta{Actor: "alice", RequestID: "req-update-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.cmds.SetDisabled(o.ctx, id, true, rulelog.Meta{Actor: "admin-bob", RequestID: "req-admin-2"}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := o.run(t, "", []string{"replay", "rules", "--user", "alice"})
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	t.Logf("fmn replay rules --user alice:\n%s", out)
	for _, want := range []string{
		fmt.Sprintf("rule.created rule %d \"mine\"  by alice", id),
		"rule.updated rule", "by alice  request req-update-1", `generation_rules[0].filters.applications: null → ["koji"]`,
		"rule.disabled rule", "by admin-bob  request req-admin-2", "disabled: false → true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	code, out, _ = o.run(t, "", []string{"replay", "rules", "--rule", strconv.FormatInt(id, 10), "--json", "--at", before.UTC().Format(time.RFC3339Nano)})
	var at []rules.Rule
	if err := json.Unmarshal([]byte(out), &at); code != 0 || err != nil || len(at) != 1 || len(at[0].GenerationRules[0].Filters.Applications) != 0 || at[0].Disabled {
		t.Errorf("rule as it was before the update: %d %v %s", code, err, out)
	}
	if code, _, errs := o.run(t, "", []string{"replay", "rules"}); code != 2 || !strings.Contains(errs, "--user NAME or --rule ID") {
		t.Errorf("no selection: %d %s", code, errs)
	}
}

func TestOpsHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"replay", "bus", "-h"}, {"replay", "notify", "-h"}, {"replay", "rules", "-h"}, {"replay", "stats", "-h"},
		{"dlq", "list", "-h"}, {"dlq", "show", "-h"}, {"dlq", "retry", "-h"}, {"dlq", "drop", "-h"}, {"stats", "-h"}, {"stats", "rules", "-h"},
	} {
		if code, _, errs := runCLI(t, "", args...); code != 0 || !strings.Contains(errs, "Examples:") || !strings.Contains(errs, "fmn "+args[0]) {
			t.Errorf("%v: %d %s", args, code, errs)
		}
	}
	if code, _, errs := runCLI(t, "", "replay"); code != 2 || !strings.Contains(errs, "fmn replay bus") {
		t.Errorf("fmn replay: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, "", "dlq", "retry", "--nats-url", "nats://127.0.0.1:1"); code != 2 || !strings.Contains(errs, "fmn dlq retry") {
		t.Errorf("dlq retry without SEQ: %d %s", code, errs)
	}
}

// system runs roles of fmn in-process on the test's services, mailing smtp.
func (o *ops) system(t *testing.T, smtpSrv *fmntest.SMTPServer, so *senders.Options, roles ...string) {
	t.Helper()
	o.systemStarted(t, smtpSrv, so, make(chan *app.System, 1), roles...)
}

// quietLog logs only with go test -v.
func quietLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestDeadLetterRetried: a notification that exhausted its retries is
// listed with its reason, retried with fmn dlq retry, and delivered.
func TestDeadLetterRetried(t *testing.T) {
	t.Parallel()
	o := setupOps(t, false)
	srv := fmntest.StartSMTP(t, "fmn-bot", "Sm7p-pa55word")
	var mu sync.Mutex
	busy := true
	srv.Reject = func(rcpt string) *smtp.SMTPError {
		mu.Lock()
		defer mu.Unlock()
		if busy && rcpt == "alice@example.org" {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy, try later"}
		}
		return nil
	}
	o.system(t, srv, &senders.Options{MaxDeliver: 3, BackOff: []time.Duration{20 * time.Millisecond}},
		"projector", "consumer", "stats", "sender-email")
	o.rule(t, "alice", mailRule("mine", relatedEvents, rules.Filters{}, aliceMail))
	// The matcher follows the projection within a second.
	var msgID string
	fmntest.Eventually(t, 10*time.Second, "a notification for alice", func() bool {
		if msgID == "" || o.streamMsgs(t, o.nats.Streams.Notify) == 0 {
			msgID = o.publish(t, "org.fedoraproject.prod.bodhi.update.comment", []string{"alice"}, map[string]any{"agent_name": "carol", "summary": "hello alice"})
			time.Sleep(100 * time.Millisecond)
		}
		return o.streamMsgs(t, o.nats.Streams.Notify) > 0
	})
	fmntest.Eventually(t, 15*time.Second, "a dead letter", func() bool { return o.streamMsgs(t, o.nats.Streams.DLQ) == 1 })

	code, out, errs := o.run(t, "", []string{"dlq", "list", "--channel", "email"})
	t.Logf("fmn dlq list --channel email:\n%s", out)
	if code != 0 || !strings.Contains(out, "dlq.notify.email") || !strings.Contains(out, "gave up after 3 attempts") ||
		!strings.Contains(out, "451") || !strings.Contains(out, "alice alice@example.org") {
		t.Fatalf("dlq list: %d\n%s\n%s", code, out, errs)
	}
	seq := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out, _ := o.run(t, "", []string{"dlq", "show"}, seq); code != 0 || !strings.Contains(out, "reason:   gave up after 3 attempts") {
		t.Errorf("dlq show: %d %s", code, out)
	}
	if len(srv.Mails()) != 0 {
		t.Fatal("mail delivered although the relay refused it")
	}

	mu.Lock()
	busy = false
	mu.Unlock()
	code, out, errs = o.run(t, "", []string{"dlq", "retry"}, seq)
	if code != 0 || !strings.Contains(out, "retried dead letter "+seq+": NOTIFY:") {
		t.Fatalf("dlq retry: %d %s %s", code, out, errs)
	}
	fmntest.Eventually(t, 10*time.Second, "the retried notification delivered", func() bool { return len(srv.Mails()) == 1 })
	if m := srv.Mails()[0]; !slices.Contains(m.To, "alice@example.org") || !strings.Contains(string(m.Data), "hello alice") {
		t.Errorf("mail %+v", m)
	}
	if n := o.streamMsgs(t, o.nats.Streams.DLQ); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if code, out, _ := o.run(t, "", []string{"dlq", "list"}); code != 0 || !strings.Contains(out, "(no dead letters)") {
		t.Errorf("dlq list after the retry: %s", out)
	}
	// The statistics count the attempts, and the retried notification as
	// generated once.
	rd := stats.NewReader(o.pg.Pool)
	fmntest.Eventually(t, 10*time.Second, "delivery statistics", func() bool {
		d, err := rd.Deliveries(o.ctx, stats.Range{})
		return err == nil && len(d) == 1 && d[0] == stats.Deliveries{Channel: "email", Sent: 1, Retried: 2, Dead: 1}
	})
	// NOTIFY has its own feed, which may still be behind the deliveries'.
	fmntest.WaitCaughtUp(t, o.ctx, o.nats.JS, o.pg.Pool, o.nats.Streams.Notify, stats.ProjectionName, 10*time.Second)
	if s, err := rd.Summary(o.ctx, stats.Range{}); err != nil || s.Generated != 1 {
		t.Errorf("generated %d (%v), want 1", s.Generated, err)
	}
}

func TestReplayNotifyCLI(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	for i, u := range []string{"alice", "bob", "alice"} {
		n := map[string]any{"id": fmt.Sprintf("n%d", i), "protocol": "email", "address": u + "@example.org", "user": u,
			"rule_ids": []int64{1}, "summary": "hello " + u}
		data, _ := json.Marshal(n)
		if _, err := o.nats.JS.Publish(o.ctx, wire.NotifySubject("email"), data); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"replay", "notify", "--channel", "email", "--since", "1h", "--user", "alice"}
	code, out, errs := o.run(t, "", append(slices.Clone(args), "--list"))
	if code != 0 || strings.Count(out, "alice@example.org") != 2 || strings.Contains(out, "bob@") || !strings.Contains(errs, "2 notifications on notify.email") {
		t.Fatalf("--list: %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := o.run(t, "no\n", args); code != 1 || !strings.Contains(errs, "nothing was published") || o.streamMsgs(t, o.nats.Streams.Notify) != 3 {
		t.Errorf("unconfirmed: %d %s", code, errs)
	}
	code, out, errs = o.run(t, "", args, "--yes")
	if code != 0 || !strings.Contains(out, "resent 2 notifications as run") || o.streamMsgs(t, o.nats.Streams.Notify) != 5 {
		t.Fatalf("--yes: %d %s %s", code, out, errs)
	}
	st, _ := o.nats.JS.Stream(o.ctx, o.nats.Streams.Notify)
	m, err := st.GetMsg(o.ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Header.Get(wire.HeaderMsgID), "resend:") || !strings.HasSuffix(m.Header.Get(wire.HeaderMsgID), ":n0") ||
		m.Header.Get(wire.HeaderResendOf) != o.nats.Streams.Notify+":1" {
		t.Errorf("resent headers %v", m.Header)
	}
	// Resends are not resent again by a later run over the same range.
	if code, _, errs := o.run(t, "", append(slices.Clone(args), "--list")); code != 0 || !strings.Contains(errs, "2 notifications") {
		t.Errorf("after the resend: %s", errs)
	}
}

func TestDLQDropCLI(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	for i := range 3 {
		dl := nats.NewMsg(wire.DLQBus)
		dl.Data = []byte("{not json")
		dl.Header.Set(wire.HeaderReason, "body is not valid JSON")
		dl.Header.Set(wire.HeaderSource, "bus.org.example.x")
		if _, err := o.nats.JS.PublishMsg(o.ctx, dl, jetstream.WithMsgID(fmt.Sprint("bus-", i))); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := o.run(t, "", []string{"dlq", "list", "--json", "--channel", "bus"})
	if code != 0 || strings.Count(out, `"reason":"body is not valid JSON"`) != 3 || !strings.Contains(out, `"body_text":"{not json"`) {
		t.Errorf("list --json: %d %s", code, out)
	}
	if code, _, errs := o.run(t, "", []string{"dlq", "drop", "--all", "--channel", "bus"}); code != 1 || o.streamMsgs(t, o.nats.Streams.DLQ) != 3 {
		t.Errorf("drop --all unconfirmed: %d %s", code, errs)
	}
	if code, out, _ := o.run(t, "", []string{"dlq", "drop"}, "2"); code != 0 || !strings.Contains(out, "dropped dead letter 2") || o.streamMsgs(t, o.nats.Streams.DLQ) != 2 {
		t.Errorf("drop 2: %d %s", code, out)
	}
	if code, _, errs := o.run(t, "", []string{"dlq", "retry"}, "1"); code != 1 || !strings.Contains(errs, "id is lost") {
		t.Errorf("retry of a bus message without id: %d %s", code, errs)
	}
	if code, out, _ := o.run(t, "yes\n", []string{"dlq", "drop", "--all"}); code != 0 || strings.Count(out, "dropped") != 2 || o.streamMsgs(t, o.nats.Streams.DLQ) != 0 {
		t.Errorf("drop --all confirmed: %d %s", code, out)
	}
}

// systemStarted is ops.system handing over the running System.
func (o *ops) systemStarted(t *testing.T, smtpSrv *fmntest.SMTPServer, so *senders.Options, sysc chan<- *app.System, roles ...string) {
	t.Helper()
	o.s.SystemStarted(t, quietLog(t), smtpSrv, so, sysc, roles...)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
