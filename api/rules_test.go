package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/stats"
)

// TestFMNBehaviours holds the FMN behaviours of the design's API section,
// one subtest each.
func TestFMNBehaviours(t *testing.T) {
	t.Parallel()

	t.Run("create echoes all default filters", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", newRule("alice", "Defaults"))
		expect(t, r, http.StatusOK)
		var raw map[string]any
		r.json(t, &raw)
		gen := raw["generation_rules"].([]any)[0].(map[string]any)
		want := `{"applications":[],"excluded_applications":[],"my_actions":false,"severities":[],"topic":null}`
		if got, _ := json.Marshal(gen["filters"]); string(got) != want {
			t.Errorf("filters = %s, want %s", got, want)
		}
		for _, k := range []string{"id", "name", "disabled", "user", "tracking_rule", "generation_rules", "generated_last_week"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("rule JSON lacks %q: %s", k, r.body)
			}
		}
		if _, ok := raw["$schema"]; ok {
			t.Errorf("rule JSON has $schema: %s", r.body)
		}
		if r.header.Get("ETag") == "" || !strings.HasSuffix(r.header.Get("Location"), fmt.Sprintf("/rules/%v", raw["id"])) {
			t.Errorf("ETag %q, Location %q", r.header.Get("ETag"), r.header.Get("Location"))
		}
		// The same from a read.
		g := b.do(t, "alice", http.MethodGet, fmt.Sprintf("/api/v1/users/alice/rules/%v", raw["id"]), nil)
		expect(t, g, http.StatusOK)
		var again map[string]any
		g.json(t, &again)
		gen = again["generation_rules"].([]any)[0].(map[string]any)
		if got, _ := json.Marshal(gen["filters"]); string(got) != want {
			t.Errorf("read filters = %s, want %s", got, want)
		}
	})

	t.Run("related-events params null", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		for _, tr := range []map[string]any{{"name": "related-events"}, {"name": "related-events", "params": nil}} {
			body := newRule("alice", "Mine")
			body["tracking_rule"] = tr
			r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
			expect(t, r, http.StatusOK)
			var raw struct {
				TrackingRule map[string]json.RawMessage `json:"tracking_rule"`
			}
			r.json(t, &raw)
			if p, ok := raw.TrackingRule["params"]; !ok || string(p) != "null" {
				t.Errorf("params = %s (present %v), want null", p, ok)
			}
		}
		body := newRule("alice", "Mine")
		body["tracking_rule"] = map[string]any{"name": "related-events", "params": []string{"alice"}}
		r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
		expect(t, r, http.StatusUnprocessableEntity)
		if p := r.problem(t); !strings.Contains(p.Detail, "takes no params") {
			t.Errorf("detail %q", p.Detail)
		}
	})

	t.Run("bad destinations are 422 with the message", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		for _, tt := range []struct {
			dest map[string]string
			want string
		}{
			{map[string]string{"protocol": "matrix", "address": "alice"}, "should be in the form @username:server.tld"},
			{map[string]string{"protocol": "matrix", "address": "@alice"}, "should be in the form @username:server.tld"},
			{map[string]string{"protocol": "email", "address": "alice.example.org"}, "does not look like local@domain"},
			{map[string]string{"protocol": "email", "address": "Alice <alice@example.org>"}, "does not look like local@domain"},
		} {
			body := newRule("alice", "Bad")
			body["generation_rules"] = []map[string]any{{"destinations": []map[string]string{tt.dest}}}
			r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
			expect(t, r, http.StatusUnprocessableEntity)
			p := r.problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Location != "body.generation_rules[0].destinations[0].address" ||
				!strings.Contains(p.Errors[0].Message, tt.want) || !strings.Contains(p.Detail, tt.want) {
				t.Errorf("%v: problem %+v", tt.dest, p)
			}
		}
		if b.accounts.calls != 0 {
			t.Errorf("malformed rules cost %d account lookups", b.accounts.calls)
		}
	})

	t.Run("404 for a missing rule", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		bobs, _ := b.create(t, "bob", newRule("bob", "Bob's"))
		for _, id := range []int64{999999, bobs.ID} {
			path := fmt.Sprintf("/api/v1/users/alice/rules/%d", id)
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				var body any
				if m == http.MethodPut {
					body = newRule("alice", "x")
				}
				r := b.do(t, "alice", m, path, body)
				expect(t, r, http.StatusNotFound)
				if p := r.problem(t); !strings.Contains(p.Detail, fmt.Sprintf("alice has no rule %d", id)) {
					t.Errorf("%s %s: detail %q", m, path, p.Detail)
				}
			}
		}
	})

	t.Run("admin filters", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		a1, _ := b.create(t, "alice", newRule("alice", "a1"))
		a2, _ := b.create(t, "alice", newRule("alice", "a2"))
		b1, _ := b.create(t, "bob", newRule("bob", "b1"))
		r := b.do(t, "root", http.MethodPatch, fmt.Sprintf("/api/v1/admin/rules/%d", a2.ID), map[string]any{"disabled": true})
		expect(t, r, http.StatusOK)
		ids := func(query string) []int64 {
			r := b.do(t, "root", http.MethodGet, "/api/v1/admin/rules"+query, nil)
			expect(t, r, http.StatusOK)
			var list []api.Rule
			r.json(t, &list)
			out := []int64{}
			for _, x := range list {
				out = append(out, x.ID)
			}
			return out
		}
		for _, tt := range []struct {
			query string
			want  []int64
		}{
			{"", []int64{a1.ID, a2.ID, b1.ID}},
			{"?disabled=true", []int64{a2.ID}},
			{"?disabled=false", []int64{a1.ID, b1.ID}},
			{"?username=bob", []int64{b1.ID}},
			{"?username=alice&disabled=false", []int64{a1.ID}},
			{"?username=nobody", []int64{}},
		} {
			if got := ids(tt.query); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("/admin/rules%s = %v, want %v", tt.query, got, tt.want)
			}
		}
		r = b.do(t, "root", http.MethodGet, "/api/v1/admin/rules?disabled=maybe", nil)
		expect(t, r, http.StatusUnprocessableEntity)
		if p := r.problem(t); len(p.Errors) == 0 || p.Errors[0].Location != "query.disabled" {
			t.Errorf("problem %+v", p)
		}
	})

	t.Run("PATCH {} changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		rule, tag := b.create(t, "alice", newRule("alice", "Keep"))
		expect(t, b.do(t, "root", http.MethodGet, "/api/v1/users/me", nil), http.StatusOK) // root's user.created
		st, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := info.State.LastSeq
		r := b.do(t, "root", http.MethodPatch, fmt.Sprintf("/api/v1/admin/rules/%d", rule.ID), map[string]any{})
		expect(t, r, http.StatusOK)
		var got api.Rule
		r.json(t, &got)
		if got.Disabled || r.header.Get("ETag") != tag || got.Name == nil || *got.Name != "Keep" {
			t.Errorf("after PATCH {}: %+v, ETag %s (was %s)", got, r.header.Get("ETag"), tag)
		}
		// Setting the state it has appends nothing either.
		r = b.do(t, "root", http.MethodPatch, fmt.Sprintf("/api/v1/admin/rules/%d", rule.ID), map[string]any{"disabled": false})
		expect(t, r, http.StatusOK)
		if info, err = st.Info(b.ctx); err != nil || info.State.LastSeq != before {
			t.Errorf("RULES went from %d to %d (%v)", before, info.State.LastSeq, err)
		}
		// A real change does, and is visible at once.
		r = b.do(t, "root", http.MethodPatch, fmt.Sprintf("/api/v1/admin/rules/%d", rule.ID), map[string]any{"disabled": true})
		expect(t, r, http.StatusOK)
		r = b.do(t, "alice", http.MethodGet, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), nil)
		r.json(t, &got)
		if !got.Disabled {
			t.Errorf("rule not disabled after PATCH")
		}
		r = b.do(t, "root", http.MethodPatch, "/api/v1/admin/rules/999999", map[string]any{})
		expect(t, r, http.StatusNotFound)
	})

	t.Run("unknown tracking rule and bad params types", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		body := newRule("alice", "x")
		body["tracking_rule"] = map[string]any{"name": "artifacts-i-like", "params": []string{"a"}}
		r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
		expect(t, r, http.StatusUnprocessableEntity)
		p := r.problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Location != "body.tracking_rule.name" || !strings.Contains(p.Errors[0].Message, "artifacts-owned") {
			t.Errorf("unknown tracking rule: %+v", p)
		}

		body["tracking_rule"] = map[string]any{"name": "users-followed", "params": "bob"}
		r = b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
		expect(t, r, http.StatusUnprocessableEntity)
		p = r.problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Location != "body.tracking_rule.params" || !strings.Contains(p.Errors[0].Message, `e.g. ["alice"]; got a string`) {
			t.Errorf("string params: %+v", p)
		}

		body["tracking_rule"] = map[string]any{"name": "artifacts-followed", "params": []map[string]string{{"name": "firefox", "type": "package"}}}
		r = b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
		expect(t, r, http.StatusUnprocessableEntity)
		if p = r.problem(t); len(p.Errors) == 0 || p.Errors[0].Location != "body.tracking_rule.params[0].type" || !strings.Contains(p.Errors[0].Message, `did you mean "rpms"?`) {
			t.Errorf("legacy type: %+v", p)
		}

		body = newRule("alice", "x")
		body["generation_rules"].([]map[string]any)[0]["filters"] = map[string]any{"severity": []string{"error"}}
		r = b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
		expect(t, r, http.StatusUnprocessableEntity)
		if p = r.problem(t); !strings.Contains(string(r.body), "severity") {
			t.Errorf("misspelt filter: %+v", p)
		}

		r = b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules/abc", nil)
		expect(t, r, http.StatusUnprocessableEntity)
		if p = r.problem(t); len(p.Errors) == 0 || p.Errors[0].Location != "path.id" {
			t.Errorf("bad id: %+v", p)
		}

		r = b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", `{"name": `)
		expect(t, r, http.StatusBadRequest)
		r.problem(t)
	})

	t.Run("destinations must be the user's own", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		body := newRule("alice", "Spam")
		body["generation_rules"] = []map[string]any{{"destinations": []map[string]string{
			{"protocol": "email", "address": "alice@example.org"},
			{"protocol": "email", "address": "victim@example.org"},
		}}}
		r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
		expect(t, r, http.StatusUnprocessableEntity)
		p := r.problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Location != "body.generation_rules[0].destinations[1].address" ||
			!strings.Contains(p.Errors[0].Message, `"victim@example.org" is not one of yours`) ||
			!strings.Contains(p.Errors[0].Message, "matrix @alice:fedora.im") {
			t.Errorf("problem %+v", p)
		}
		// Admins may set any.
		r = b.do(t, "root", http.MethodPost, "/api/v1/users/root/rules", body)
		expect(t, r, http.StatusOK)
		// An email's domain is case-insensitive; the rest of an address is
		// compared exactly: in other case it can be someone else's.
		ok := newRule("alice", "Case")
		ok["generation_rules"] = []map[string]any{{"destinations": []map[string]string{{"protocol": "email", "address": "alice@Example.ORG"}}}}
		b.create(t, "alice", ok)
		for _, d := range []map[string]string{{"protocol": "email", "address": "Alice@example.org"}, {"protocol": "matrix", "address": "@Alice:fedora.im"}} {
			other := newRule("alice", "Other case")
			other["generation_rules"] = []map[string]any{{"destinations": []map[string]string{d}}}
			r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", other)
			expect(t, r, http.StatusUnprocessableEntity)
		}
	})

	t.Run("account service down or missing: 503, not accepted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		rule, tag := b.create(t, "alice", newRule("alice", "Before"))
		b.accounts.mu.Lock()
		b.accounts.down = true
		b.accounts.mu.Unlock()
		r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", newRule("alice", "During"))
		expect(t, r, http.StatusServiceUnavailable)
		if p := r.problem(t); !strings.Contains(p.Detail, "account service is unavailable") || r.header.Get("Retry-After") == "" {
			t.Errorf("problem %+v, Retry-After %q", p, r.header.Get("Retry-After"))
		}
		// A change that keeps the destinations needs no lookup.
		upd := newRule("alice", "Renamed")
		r = b.do(t, "alice", http.MethodPut, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), upd, "If-Match: "+tag)
		expect(t, r, http.StatusOK)

		n := setup(t, setupOpts{noAccounts: true})
		r = n.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", newRule("alice", "x"))
		expect(t, r, http.StatusServiceUnavailable)
		if p := r.problem(t); !strings.Contains(p.Detail, "not configured") {
			t.Errorf("problem %+v", p)
		}
		for _, path := range []string{"/api/v1/users/alice/destinations", "/api/v1/users/alice/info", "/api/v1/users/alice/groups", "/api/v1/users?search=al", "/api/v1/artifacts?names=fire"} {
			expect(t, n.do(t, "alice", http.MethodGet, path, nil), http.StatusServiceUnavailable)
		}
	})

	t.Run("generated_last_week", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		rule, _ := b.create(t, "alice", newRule("alice", "Busy"))
		var times []time.Time
		for _, at := range []time.Time{time.Now(), time.Now().Add(-48 * time.Hour), time.Now().Add(-30 * 24 * time.Hour)} {
			for range 5 {
				times = append(times, at)
			}
		}
		countGenerated(t, b, rule.ID, times...)
		r := b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules", nil)
		var list []api.Rule
		r.json(t, &list)
		if len(list) != 1 || list[0].GeneratedLastWeek != 10 {
			t.Errorf("list = %+v, want generated_last_week 10", list)
		}
		r = b.do(t, "root", http.MethodGet, "/api/v1/admin/rules?username=alice", nil)
		r.json(t, &list)
		if len(list) != 1 || list[0].GeneratedLastWeek != 10 {
			t.Errorf("admin list = %+v", list)
		}
	})

	t.Run("PUT takes FMN's full rule back, DELETE is 204", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		rule, tag := b.create(t, "alice", newRule("alice", "Old"))
		var full map[string]any
		b.do(t, "alice", http.MethodGet, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), nil).json(t, &full)
		full["name"] = "New"
		full["disabled"] = true
		full["generation_rules"].([]any)[0].(map[string]any)["id"] = 7 // FMN's database id
		r := b.do(t, "alice", http.MethodPut, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), full)
		expect(t, r, http.StatusOK)
		var got api.Rule
		r.json(t, &got)
		if str(got.Name) != "New" || !got.Disabled || got.ID != rule.ID || r.header.Get("ETag") == tag {
			t.Errorf("after PUT: %+v, ETag %s", got, r.header.Get("ETag"))
		}
		r = b.do(t, "alice", http.MethodGet, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), nil, "If-None-Match: "+r.header.Get("ETag"))
		expect(t, r, http.StatusNotModified)
		r = b.do(t, "alice", http.MethodDelete, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), nil)
		expect(t, r, http.StatusOK) // FMN answers 200 null (was 204)
		if string(r.body) != "null" {
			t.Errorf("DELETE body %q, want null", r.body)
		}
		expect(t, b.do(t, "alice", http.MethodGet, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), nil), http.StatusNotFound)
		r = b.do(t, "alice", http.MethodDelete, fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID), nil, "If-Match: banana")
		expect(t, r, http.StatusBadRequest)
	})

	t.Run("stale If-Match is 412", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		rule, tag := b.create(t, "alice", newRule("alice", "v1"))
		path := fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID)
		r := b.do(t, "alice", http.MethodPut, path, newRule("alice", "v2"), "If-Match: "+tag)
		expect(t, r, http.StatusOK)
		r = b.do(t, "alice", http.MethodPut, path, newRule("alice", "v3"), "If-Match: "+tag)
		expect(t, r, http.StatusPreconditionFailed)
		if p := r.problem(t); !strings.Contains(p.Detail, "has changed since you read it") {
			t.Errorf("detail %q", p.Detail)
		}
		expect(t, b.do(t, "alice", http.MethodDelete, path, nil, "If-Match: "+tag), http.StatusPreconditionFailed)
		// Without If-Match the last writer wins.
		expect(t, b.do(t, "alice", http.MethodPut, path, newRule("alice", "v4")), http.StatusOK)
	})

	t.Run("a lagging projection is 503, not a lie", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{noProjector: true, projectionWait: 200 * time.Millisecond})
		r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", newRule("alice", "Later"))
		expect(t, r, http.StatusServiceUnavailable)
		if p := r.problem(t); !strings.Contains(p.Detail, "Do not send it again") {
			t.Errorf("detail %q", p.Detail)
		}
		// Once the projector runs, the rule is there.
		if err := b.proj.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.proj.Stop)
		var list []api.Rule
		deadline := time.Now().Add(fmntest.Scaled(5 * time.Second))
		for len(list) == 0 && time.Now().Before(deadline) {
			b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules", nil).json(t, &list)
		}
		if len(list) != 1 || list[0].Name == nil || *list[0].Name != "Later" {
			t.Errorf("rules = %+v", list)
		}
	})
}

func TestUsers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	store := rulelog.NewStore(b.pg.Pool)

	t.Run("me creates the user record", func(t *testing.T) {
		if _, err := store.User(b.ctx, "bob"); err == nil {
			t.Fatal("bob known before logging in")
		}
		r := b.do(t, "bob", http.MethodGet, "/api/v1/users/me", nil)
		expect(t, r, http.StatusOK)
		var me api.User
		r.json(t, &me)
		if me.Name != "bob" || me.IsAdmin {
			t.Errorf("me = %+v", me)
		}
		if _, err := store.User(b.ctx, "bob"); err != nil {
			t.Errorf("bob not recorded: %v", err)
		}
		r = b.do(t, "root", http.MethodGet, "/api/v1/users/me", nil)
		r.json(t, &me)
		if me.Name != "root" || !me.IsAdmin {
			t.Errorf("me = %+v", me)
		}
	})

	t.Run("search, info, groups, destinations", func(t *testing.T) {
		var names []string
		b.do(t, "alice", http.MethodGet, "/api/v1/users", nil).json(t, &names)
		if fmt.Sprint(names) != "[alice]" {
			t.Errorf("no search: %v", names)
		}
		b.do(t, "alice", http.MethodGet, "/api/v1/users?search=ali", nil).json(t, &names)
		if fmt.Sprint(names) != "[alice alicia]" {
			t.Errorf("search: %v", names)
		}
		var ds []api.Destination
		r := b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/destinations", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &ds)
		if len(ds) != 4 || ds[2].Address != "@alice:fedora.im" || ds[3] != (api.Destination{Protocol: "sse", Address: "alice"}) {
			t.Errorf("destinations %+v", ds)
		}
		expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/users/bob/destinations", nil), http.StatusForbidden)
		expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/users/bob/info", nil), http.StatusForbidden)
		expect(t, b.do(t, "root", http.MethodGet, "/api/v1/users/bob/destinations", nil), http.StatusOK)
		var info map[string]any
		b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/info", nil).json(t, &info)
		if info["username"] != "alice" {
			t.Errorf("info %v", info)
		}
		b.do(t, "alice", http.MethodGet, "/api/v1/users/bob/groups", nil).json(t, &names)
		if fmt.Sprint(names) != "[packager]" {
			t.Errorf("groups %v", names)
		}
		r = b.do(t, "root", http.MethodGet, "/api/v1/users/nobody/info", nil)
		expect(t, r, http.StatusNotFound)
		r.problem(t)
	})

	t.Run("admin users", func(t *testing.T) {
		expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/admin/users", nil), http.StatusForbidden)
		var users []api.AdminUser
		r := b.do(t, "root", http.MethodGet, "/api/v1/admin/users?search=OB", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &users)
		if len(users) != 1 || users[0].Name != "bob" || users[0].CreatedAt.IsZero() {
			t.Errorf("users %+v", users)
		}
	})
}

func TestMisc(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	publish(t, b, 5, time.Now(), "org.fedoraproject.prod.anitya.project.version.update", "bob", "")
	publish(t, b, 1, time.Now(), "io.pagure.prod.pagure.pull-request.new", "bob", "")

	t.Run("applications", func(t *testing.T) {
		r := b.do(t, "", http.MethodGet, "/api/v1/applications", nil)
		expect(t, r, http.StatusOK)
		var apps []string
		r.json(t, &apps)
		for _, want := range []string{"bodhi", "anitya", "pagure"} {
			found := false
			for _, a := range apps {
				found = found || strings.EqualFold(a, want)
			}
			if !found {
				t.Errorf("applications %v lack %s", apps, want)
			}
		}
		for i := 1; i < len(apps); i++ {
			if strings.ToLower(apps[i-1]) >= strings.ToLower(apps[i]) {
				t.Errorf("not sorted or not unique: %v", apps)
			}
		}
	})

	t.Run("artifacts", func(t *testing.T) {
		var arts []api.Artifact
		r := b.do(t, "", http.MethodGet, "/api/v1/artifacts?names=fire&users=alice", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &arts)
		if fmt.Sprint(arts) != "[{firefox rpms} {firefox-pkcs11-loader rpms} {toolbox containers}]" {
			t.Errorf("artifacts %v", arts)
		}
		b.do(t, "", http.MethodGet, "/api/v1/artifacts?names=thunder,fox-pk", nil).json(t, &arts)
		if len(arts) != 2 {
			t.Errorf("comma list: %v", arts)
		}
	})
}

// TestRuleStats checks a rule's own statistics: per UTC day, to its owner
// only, 404 for a missing rule or someone else's.
func TestRuleStats(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.srv.RegisterStats(stats.NewReader(b.pg.Pool))
	mine, _ := b.create(t, "alice", newRule("alice", "mine"))
	theirs, _ := b.create(t, "bob", newRule("bob", "theirs"))
	today := time.Now().UTC().Truncate(24 * time.Hour)
	// Counted by the statistics projection, rule_generated's one writer:
	// 2 + 3 today, 4 five days ago, 7 forty days ago, and bob's.
	var times []time.Time
	for _, c := range []struct {
		at time.Time
		n  int
	}{{today, 2}, {time.Now().UTC(), 3}, {today.AddDate(0, 0, -5).Add(13 * time.Hour), 4}, {today.AddDate(0, 0, -40), 7}} {
		for range c.n {
			times = append(times, c.at)
		}
	}
	countGenerated(t, b, mine.ID, times...)
	theirsAt := make([]time.Time, 9)
	for i := range theirsAt {
		theirsAt[i] = today
	}
	countGenerated(t, b, theirs.ID, theirsAt...)
	path := func(user string, id int64) string {
		return "/api/v1/users/" + user + "/rules/" + strconv.FormatInt(id, 10) + "/stats"
	}

	t.Run("Daily", func(t *testing.T) {
		var s api.RuleStats
		r := b.do(t, "alice", http.MethodGet, path("alice", mine.ID), nil)
		expect(t, r, http.StatusOK)
		r.json(t, &s)
		if s.RuleID != mine.ID || len(s.Daily) != 30 || !s.Since.Equal(today.AddDate(0, 0, -29)) {
			t.Fatalf("stats %+v", s)
		}
		last := s.Daily[29]
		if !last.Day.Equal(today) || s.Daily[24].Total != 4 || !s.Daily[24].Day.Equal(today.AddDate(0, 0, -5)) {
			t.Errorf("days %+v", s.Daily)
		}
		if last.Total != 5 || s.Total != 9 {
			t.Errorf("today %d, total %d: %+v", last.Total, s.Total, s.Daily)
		}

		r = b.do(t, "alice", http.MethodGet, path("alice", mine.ID)+"?days=90", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &s)
		if len(s.Daily) != 90 || s.Daily[49].Total != 7 || s.Total != 16 {
			t.Errorf("90 days: %+v", s)
		}
		r = b.do(t, "alice", http.MethodGet, path("alice", mine.ID)+"?days=1", nil)
		expect(t, r, http.StatusOK)
		r.json(t, &s)
		if len(s.Daily) != 1 || !s.Since.Equal(today) || s.Total != 5 {
			t.Errorf("1 day: %+v", s)
		}
	})

	t.Run("OwnerOnly", func(t *testing.T) {
		expect(t, b.do(t, "", http.MethodGet, path("alice", mine.ID), nil), http.StatusUnauthorized)
		expect(t, b.do(t, "bob", http.MethodGet, path("alice", mine.ID), nil), http.StatusForbidden)
		// Admins too: the owner only.
		expect(t, b.do(t, "root", http.MethodGet, path("alice", mine.ID), nil), http.StatusForbidden)
		expect(t, b.do(t, "alice", http.MethodGet, path("alice", theirs.ID), nil), http.StatusNotFound)
		expect(t, b.do(t, "alice", http.MethodGet, path("alice", 1<<40), nil), http.StatusNotFound)
	})

	t.Run("BadDays", func(t *testing.T) {
		for _, q := range []string{"?days=0", "?days=91", "?days=x"} {
			expect(t, b.do(t, "alice", http.MethodGet, path("alice", mine.ID)+q, nil), http.StatusUnprocessableEntity)
		}
	})
}
