package fmn3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/cli"
	"github.com/fmn-project/fmn/fmn3"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go/jetstream"
)

// bundle: an FMN v3 database (its schema from testdata/fmn3/schema.sql),
// fmn's NATS and database, and fmn's rules projector running.
type bundle struct {
	ctx   context.Context
	nats  *fmntest.NATS
	fmn   *fmntest.Postgres
	fmn3  *fmntest.Postgres
	store *rulelog.Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ddl, err := os.ReadFile("../testdata/fmn3/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{
		ctx:  fmntest.Context(t),
		nats: fmntest.StartNATS(t),
		fmn:  fmntest.StartPostgres(t),
		fmn3: fmntest.StartPostgresWith(t, string(ddl)),
	}
	proj := rulelog.NewProjector(b.nats.JS, b.fmn.Pool, rulelog.ProjectorConfig{
		Stream: b.nats.Streams.Rules, Logger: fmntest.Logger(t, 0),
	})
	if err := proj.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proj.Stop)
	b.store = rulelog.NewStore(b.fmn.Pool)
	return b
}

func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := b.fmn3.Pool.Exec(b.ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// fmnRule is one FMN v3 rule to write into its tables.
type fmnRule struct {
	id       int
	user     string
	name     any // string or nil
	disabled bool
	tracking string
	params   any // JSON text or nil
	gens     []fmnGen
}

type fmnGen struct {
	filters map[string]string // name → params JSON
	dests   [][2]string
}

func (b *bundle) insert(t *testing.T, rs ...fmnRule) {
	t.Helper()
	for _, r := range rs {
		b.exec(t, `INSERT INTO users (name) VALUES ($1) ON CONFLICT DO NOTHING`, r.user)
		b.exec(t, `INSERT INTO rules (id, name, disabled, user_id) SELECT $1, $2, $3, id FROM users WHERE name = $4`,
			r.id, r.name, r.disabled, r.user)
		b.exec(t, `INSERT INTO tracking_rules (rule_id, name, params) VALUES ($1, $2, $3::json)`, r.id, r.tracking, r.params)
		for _, g := range r.gens {
			var gid int
			if err := b.fmn3.Pool.QueryRow(b.ctx, `INSERT INTO generation_rules (rule_id) VALUES ($1) RETURNING id`, r.id).Scan(&gid); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"applications", "excluded_applications", "severities", "topic", "my_actions", "not-a-filter"} {
				if p, ok := g.filters[name]; ok {
					b.exec(t, `INSERT INTO filters (generation_rule_id, name, params) VALUES ($1, $2, $3::json)`, gid, name, p)
				}
			}
			for _, d := range g.dests {
				b.exec(t, `INSERT INTO destinations (generation_rule_id, protocol, address) VALUES ($1, $2, $3)`, gid, d[0], d[1])
			}
		}
	}
}

func email(addr string) [2]string { return [2]string{"email", addr} }

// TestImport imports rules of every tracking rule and filter, a disabled
// one, one without a name, several generation rules and destinations, and
// broken ones, and reads every rule back from fmn's projection.
func TestImport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.insert(t,
		fmnRule{id: 3, user: "alice", name: "My packages", tracking: "artifacts-owned", params: `["alice"]`,
			gens: []fmnGen{{dests: [][2]string{email("alice@example.org")}}}},
		fmnRule{id: 7, user: "alice", name: nil, tracking: "related-events", params: nil,
			gens: []fmnGen{
				{filters: map[string]string{"applications": `["bodhi", "koji"]`, "severities": `["warning", "error"]`, "my_actions": `false`},
					dests: [][2]string{email("alice@example.org"), {"irc", "alice"}}},
				{filters: map[string]string{"topic": `"org.fedoraproject.*.bodhi.update.*"`, "my_actions": `true`},
					dests: [][2]string{{"matrix", "@alice:fedora.im"}}},
			}},
		fmnRule{id: 12, user: "bob", name: "Infra", disabled: true, tracking: "artifacts-group-owned", params: `["infra-sig"]`,
			gens: []fmnGen{{filters: map[string]string{"excluded_applications": `["copr"]`}, dests: [][2]string{email("bob@example.org")}}}},
		fmnRule{id: 20, user: "bob", name: "Followed", tracking: "artifacts-followed",
			params: `[{"name": "firefox", "type": "rpms"}, {"name": "httpd", "type": "containers"}]`,
			gens:   []fmnGen{{filters: map[string]string{"topic": `null`}, dests: [][2]string{email("bob@example.org"), {"irc", "bob"}}}}},
		fmnRule{id: 21, user: "carol", name: "People", tracking: "users-followed", params: `["alice", "bob"]`,
			gens: []fmnGen{{dests: [][2]string{{"matrix", "@carol:example.org"}}}}},
		fmnRule{id: 40, user: "dave", name: "", tracking: "related-events", params: `""`,
			gens: []fmnGen{{dests: [][2]string{email("dave@example.org")}}}},
		// Broken: fmn refuses these, with the reason.
		fmnRule{id: 30, user: "carol", name: "Stars", tracking: "artifacts-starred", params: `["x"]`,
			gens: []fmnGen{{dests: [][2]string{email("carol@example.org")}}}},
		fmnRule{id: 31, user: "carol", name: "Bad matrix", tracking: "users-followed", params: `["bob"]`,
			gens: []fmnGen{{dests: [][2]string{{"matrix", "carol"}}}}},
		fmnRule{id: 32, user: "dave", name: "Odd filter", tracking: "users-followed", params: `["bob"]`,
			gens: []fmnGen{{filters: map[string]string{"not-a-filter": `1`}, dests: [][2]string{email("dave@example.org")}}}},
		fmnRule{id: 33, user: "dave", name: "Bad email", tracking: "users-followed", params: `["bob"]`,
			gens: []fmnGen{{dests: [][2]string{email("not an address")}}}},
	)
	// erin deleted every rule in FMN: fmn must know her, so that it gives
	// her no default rules.
	b.exec(t, `INSERT INTO users (name) VALUES ('erin')`)
	now := time.Now().UTC()
	b.exec(t, `INSERT INTO generated (rule_id, "when", count) VALUES (3, $1, 5), (3, $1, 3), (3, $2, 2), (7, $1, 1)`,
		now.Add(-2*time.Hour).Truncate(time.Hour).Add(time.Minute), now.Add(-30*24*time.Hour))

	want := map[int64]string{
		3: `{"id":3,"name":"My packages","disabled":false,"user":{"name":"alice"},"tracking_rule":{"name":"artifacts-owned","params":["alice"]},
			"generation_rules":[{"destinations":[{"protocol":"email","address":"alice@example.org"}],
			"filters":{"applications":[],"excluded_applications":[],"severities":[],"topic":null,"my_actions":false}}],"generated_last_week":8}`,
		7: `{"id":7,"name":"","disabled":false,"user":{"name":"alice"},"tracking_rule":{"name":"related-events","params":null},
			"generation_rules":[
			{"destinations":[{"protocol":"email","address":"alice@example.org"},{"protocol":"irc","address":"alice"}],
			 "filters":{"applications":["bodhi","koji"],"excluded_applications":[],"severities":["warning","error"],"topic":null,"my_actions":false}},
			{"destinations":[{"protocol":"matrix","address":"@alice:fedora.im"}],
			 "filters":{"applications":[],"excluded_applications":[],"severities":[],"topic":"org.fedoraproject.*.bodhi.update.*","my_actions":true}}],
			"generated_last_week":1}`,
		12: `{"id":12,"name":"Infra","disabled":true,"user":{"name":"bob"},"tracking_rule":{"name":"artifacts-group-owned","params":["infra-sig"]},
			"generation_rules":[{"destinations":[{"protocol":"email","address":"bob@example.org"}],
			"filters":{"applications":[],"excluded_applications":["copr"],"severities":[],"topic":null,"my_actions":false}}],"generated_last_week":0}`,
		20: `{"id":20,"name":"Followed","disabled":false,"user":{"name":"bob"},"tracking_rule":{"name":"artifacts-followed",
			"params":[{"name":"firefox","type":"rpms"},{"name":"httpd","type":"containers"}]},
			"generation_rules":[{"destinations":[{"protocol":"email","address":"bob@example.org"},{"protocol":"irc","address":"bob"}],
			"filters":{"applications":[],"excluded_applications":[],"severities":[],"topic":null,"my_actions":false}}],"generated_last_week":0}`,
		21: `{"id":21,"name":"People","disabled":false,"user":{"name":"carol"},"tracking_rule":{"name":"users-followed","params":["alice","bob"]},
			"generation_rules":[{"destinations":[{"protocol":"matrix","address":"@carol:example.org"}],
			"filters":{"applications":[],"excluded_applications":[],"severities":[],"topic":null,"my_actions":false}}],"generated_last_week":0}`,
		40: `{"id":40,"name":"","disabled":false,"user":{"name":"dave"},"tracking_rule":{"name":"related-events","params":null},
			"generation_rules":[{"destinations":[{"protocol":"email","address":"dave@example.org"}],
			"filters":{"applications":[],"excluded_applications":[],"severities":[],"topic":null,"my_actions":false}}],"generated_last_week":0}`,
	}
	refused := map[int64]string{
		30: `unknown tracking rule "artifacts-starred"`,
		31: `@username:server.tld`,
		32: `unknown filter "not-a-filter"`,
		33: `not an address`,
	}
	cfg := fmn3.Config{JS: b.nats.JS, Stream: b.nats.Streams.Rules, DB: b.fmn.Pool}

	t.Run("dry run changes nothing and lists the refused", func(t *testing.T) {
		snap, err := fmn3.Read(b.ctx, b.fmn3.Pool)
		if err != nil {
			t.Fatal(err)
		}
		dry := cfg
		dry.DryRun = true
		rep, err := fmn3.Import(b.ctx, dry, snap)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		rep.Print(&out)
		t.Log(out.String())
		if rep.Imported != len(want) || rep.Disabled != 1 || rep.Unnamed != 2 || rep.AdvancedTo != 41 || rep.UsersAdded != 1 {
			t.Errorf("dry run: %+v", rep)
		}
		checkRefused(t, rep, refused, out.String())
		if !strings.Contains(out.String(), "would import 6 rules (1 disabled), keeping their ids (3 to 40)") {
			t.Errorf("dry run says:\n%s", out.String())
		}
		if info := streamInfo(t, b); info != 0 {
			t.Errorf("dry run appended: RULES at %d", info)
		}
	})

	t.Run("import keeps ids and FMN's JSON", func(t *testing.T) {
		snap, err := fmn3.Read(b.ctx, b.fmn3.Pool)
		if err != nil {
			t.Fatal(err)
		}
		var progress bytes.Buffer
		c := cfg
		c.Out, c.ProgressEvery = &progress, 2
		rep, err := fmn3.Import(b.ctx, c, snap)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		rep.Print(&out)
		t.Log(progress.String() + out.String())
		if rep.Imported != len(want) || rep.Already != 0 || rep.GeneratedHours != 3 || rep.UsersAdded != 1 {
			t.Errorf("import: %+v", rep)
		}
		if _, err := b.store.User(b.ctx, "erin"); err != nil {
			t.Errorf("FMN user without rules: %v", err)
		}
		if !strings.Contains(progress.String(), "appended 4 of 6 rules") {
			t.Errorf("no progress lines:\n%s", progress.String())
		}
		checkRefused(t, rep, refused, out.String())
		for id, js := range want {
			sr, err := b.store.Rule(b.ctx, id)
			if err != nil {
				t.Errorf("rule %d: %v", id, err)
				continue
			}
			assertJSON(t, id, sr.Rule, js)
		}
		for id := range refused {
			if _, err := b.store.Rule(b.ctx, id); err == nil {
				t.Errorf("refused rule %d was imported", id)
			}
		}
	})

	t.Run("a new rule never takes an FMN id", func(t *testing.T) {
		cmds, err := rulelog.NewCommands(b.ctx, b.nats.JS, b.fmn.Pool, rulelog.CommandsConfig{Stream: b.nats.Streams.Rules})
		if err != nil {
			t.Fatal(err)
		}
		defer cmds.Close()
		sr, err := cmds.Create(b.ctx, "alice", rules.Rule{Name: "new", TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents},
			GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "email", Address: "alice@example.org"}}}}}, rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if sr.ID <= 40 {
			t.Errorf("new rule got id %d, within FMN's ids", sr.ID)
		}
		// Imported rules change like any other: the update names the FMN id.
		r := mustRule(t, b, 20)
		r.Name = "renamed"
		if _, err := cmds.Update(b.ctx, "bob", 20, r, nil, rulelog.Meta{}); err != nil {
			t.Errorf("update imported rule 20: %v", err)
		}
		if err := cmds.Delete(b.ctx, "carol", 21, nil, rulelog.Meta{}); err != nil {
			t.Errorf("delete imported rule 21: %v", err)
		}
	})

	t.Run("a second run adds nothing and says so", func(t *testing.T) {
		before := streamInfo(t, b)
		var stdout, stderr bytes.Buffer
		code := cli.Main(b.ctx, []string{"import", "fmn3", "--from", b.fmn3.URL,
			"--nats-url", b.nats.URL, "--database-url", b.fmn.URL}, nil, &stdout, &stderr)
		t.Log(stdout.String() + stderr.String())
		if code != 0 {
			t.Fatalf("fmn import fmn3: exit %d", code)
		}
		if after := streamInfo(t, b); after != before {
			t.Errorf("second run appended: RULES %d → %d", before, after)
		}
		for _, s := range []string{"nothing to import", "5 rules were imported before", "1 rules were imported before and deleted in fmn since",
			"refused rule 30 of carol"} {
			if !strings.Contains(stdout.String(), s) {
				t.Errorf("second run does not say %q", s)
			}
		}
		sr, err := b.store.Rule(b.ctx, 3)
		if err != nil || sr.GeneratedLastWeek != 8 {
			t.Errorf("rule 3 after a second run: generated_last_week %d, %v", sr.GeneratedLastWeek, err)
		}
	})
}

// TestImportRefusesStreamBelowFMNIds: a RULES stream that holds events
// below FMN's highest id would let new rules take FMN ids.
func TestImportRefusesStreamBelowFMNIds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.insert(t, fmnRule{id: 500, user: "alice", name: "x", tracking: "related-events",
		gens: []fmnGen{{dests: [][2]string{email("alice@example.org")}}}})
	cmds, err := rulelog.NewCommands(b.ctx, b.nats.JS, b.fmn.Pool, rulelog.CommandsConfig{Stream: b.nats.Streams.Rules})
	if err != nil {
		t.Fatal(err)
	}
	defer cmds.Close()
	if err := cmds.EnsureUser(b.ctx, "bob", rulelog.Meta{}, nil); err != nil {
		t.Fatal(err)
	}
	snap, err := fmn3.Read(b.ctx, b.fmn3.Pool)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fmn3.Import(b.ctx, fmn3.Config{JS: b.nats.JS, Stream: b.nats.Streams.Rules, DB: b.fmn.Pool, DryRun: true}, snap)
	if err != nil || !strings.Contains(rep.Blocked, "below FMN's highest rule id 500") {
		t.Errorf("dry run into a used stream: %+v, %v", rep, err)
	}
	_, err = fmn3.Import(b.ctx, fmn3.Config{JS: b.nats.JS, Stream: b.nats.Streams.Rules, DB: b.fmn.Pool}, snap)
	if err == nil || !strings.Contains(err.Error(), "below FMN's highest rule id 500") {
		t.Fatalf("import into a used stream: %v", err)
	}
	if _, err := b.store.Rule(b.ctx, 500); err == nil {
		t.Error("rule 500 was imported")
	}
}

func checkRefused(t *testing.T, rep fmn3.Report, refused map[int64]string, out string) {
	t.Helper()
	if len(rep.Refused) != len(refused) {
		t.Errorf("refused %d rules, want %d: %+v", len(rep.Refused), len(refused), rep.Refused)
	}
	for _, r := range rep.Refused {
		why, ok := refused[r.ID]
		if !ok {
			t.Errorf("rule %d refused: %v", r.ID, r.Reasons)
			continue
		}
		if !strings.Contains(strings.Join(r.Reasons, "; "), why) {
			t.Errorf("rule %d refused for %v, want a reason with %q", r.ID, r.Reasons, why)
		}
		if !strings.Contains(out, "refused rule ") {
			t.Errorf("report does not list refused rule %d", r.ID)
		}
	}
}

func assertJSON(t *testing.T, id int64, r rules.Rule, want string) {
	t.Helper()
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("rule %d: bad want: %v", id, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("rule %d:\n got %s\nwant %s", id, gb, wb)
	}
}

func mustRule(t *testing.T, b *bundle, id int64) rules.Rule {
	t.Helper()
	sr, err := b.store.Rule(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return sr.Rule
}

func streamInfo(t *testing.T, b *bundle) uint64 {
	t.Helper()
	st, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestImportCompletesInterrupted: a run that stopped after appending some
// rules is completed by the next, which appends only the others.
func TestImportCompletesInterrupted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for id := 1; id <= 5; id++ {
		b.insert(t, fmnRule{id: id * 10, user: "alice", name: "r", disabled: id == 2, tracking: "users-followed", params: `["bob"]`,
			gens: []fmnGen{{dests: [][2]string{email("alice@example.org")}}}})
	}
	snap, err := fmn3.Read(b.ctx, b.fmn3.Pool)
	if err != nil {
		t.Fatal(err)
	}
	// The first run moved the stream past id 50 and appended rules 10 and
	// 20, as Import appends them, then stopped.
	st, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(b.ctx, jetstream.WithPurgeSequence(51)); err != nil {
		t.Fatal(err)
	}
	for _, s := range snap.Rules[:2] {
		r, problems := fmn3.Convert(s)
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		body := r
		body.ID = 0
		msg, err := rulelog.Event{Type: rulelog.EventRuleCreated, User: "alice", RuleID: r.ID, Rule: &body, Actor: fmn3.Actor, Time: time.Now()}.Message()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.nats.JS.PublishMsg(b.ctx, msg, jetstream.WithMsgID(fmn3.MsgID(r.ID, body))); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := fmn3.Import(b.ctx, fmn3.Config{JS: b.nats.JS, Stream: b.nats.Streams.Rules, DB: b.fmn.Pool}, snap)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 3 || rep.Already != 2 || rep.AdvancedTo != 0 || rep.FirstID != 30 {
		t.Errorf("second run: %+v", rep)
	}
	if last := streamInfo(t, b); last != 55 {
		t.Errorf("RULES ends at %d, want 55: 2 + 3 events after 50", last)
	}
	for id := int64(10); id <= 50; id += 10 {
		sr, err := b.store.Rule(b.ctx, id)
		if err != nil {
			t.Errorf("rule %d: %v", id, err)
			continue
		}
		if sr.Disabled != (id == 20) {
			t.Errorf("rule %d disabled = %v", id, sr.Disabled)
		}
	}
}
