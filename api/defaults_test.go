package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/fmn3"
	"github.com/fmn-project/fmn/rules"
)

// userRules reads user's rules through the API, after a first request
// (GET /users/me) that records the user.
func (b *bundle) userRules(t *testing.T, user string) []api.Rule {
	t.Helper()
	expect(t, b.do(t, user, http.MethodGet, "/api/v1/users/me", nil), http.StatusOK)
	r := b.do(t, user, http.MethodGet, "/api/v1/users/"+user+"/rules", nil)
	expect(t, r, http.StatusOK)
	var list []api.Rule
	r.json(t, &list)
	return list
}

// restartAPI serves the API from a new server on the same services, as a
// restarted process would (it knows no user yet).
func (b *bundle) restartAPI(t *testing.T, o setupOpts) {
	t.Helper()
	srv := api.New(api.Config{ShippedDefaultRules: o.shippedDefaults}, api.Deps{
		Commands: b.cmds, Auth: b.oidc, JS: b.nats.JS, Streams: b.nats.Streams, Accounts: b.accounts,
	})
	mux := http.NewServeMux()
	srv.Register(mux)
	b.http = httptest.NewServer(mux)
	t.Cleanup(b.http.Close)
}

func origin(r api.Rule) string { return str(r.Origin) }

// TestDefaultRulesShipped: a new user gets the shipped default rules once,
// with their name for {me} and their email; one they delete stays deleted
// on later requests, after a restart and after a rebuild of the
// projection; one they change stays a default rule.
func TestDefaultRulesShipped(t *testing.T) {
	t.Parallel()
	o := setupOpts{shippedDefaults: true}
	b := setup(t, o)

	r := b.do(t, "root", http.MethodGet, "/api/v1/admin/default-rules", nil)
	expect(t, r, http.StatusOK)
	if r.header.Get("ETag") != `"0"` {
		t.Errorf("ETag of the shipped list %q, want \"0\"", r.header.Get("ETag"))
	}
	var shipped []api.RuleTemplate
	r.json(t, &shipped)
	if len(shipped) != 2 || str(shipped[0].Name) != "Events about me" || shipped[1].TrackingRule.Name != "artifacts-owned" ||
		string(shipped[1].TrackingRule.Params) != `["{me}"]` || shipped[0].GenerationRules[0].Destinations[0].Protocol != "email" {
		t.Fatalf("shipped default rules: %s", r.body)
	}
	if strings.Contains(string(r.body), "address") {
		t.Errorf("a template has no address: %s", r.body)
	}

	list := b.userRules(t, "alice")
	if len(list) != 2 {
		t.Fatalf("alice has %d rules, want the 2 shipped ones: %+v", len(list), list)
	}
	about, owned := list[0], list[1]
	if str(about.Name) != "Events about me" || about.TrackingRule.Name != "related-events" || string(about.TrackingRule.Params) != "null" {
		t.Errorf("first default rule: %+v", about)
	}
	if str(owned.Name) != "Artifacts I own" || owned.TrackingRule.Name != "artifacts-owned" || string(owned.TrackingRule.Params) != `["alice"]` {
		t.Errorf("second default rule: %+v (params %s)", owned, owned.TrackingRule.Params)
	}
	for _, rule := range list {
		if origin(rule) != "default" {
			t.Errorf("rule %d: origin %q, want default", rule.ID, origin(rule))
		}
		ds := rule.GenerationRules[0].Destinations
		if len(ds) != 1 || ds[0] != (api.Destination{Protocol: "email", Address: "alice@example.org"}) {
			t.Errorf("rule %d: destinations %+v, want alice's email", rule.ID, ds)
		}
	}
	// The raw JSON says "origin": "default"; a rule somebody made has none.
	raw := b.do(t, "alice", http.MethodGet, fmt.Sprintf("/api/v1/users/alice/rules/%d", about.ID), nil)
	if !strings.Contains(string(raw.body), `"origin":"default"`) {
		t.Errorf("rule JSON without origin: %s", raw.body)
	}
	mine, _ := b.create(t, "alice", newRule("alice", "mine"))
	if mine.Origin != nil {
		t.Errorf("a rule alice made has origin %q", *mine.Origin)
	}
	if r := b.do(t, "alice", http.MethodGet, fmt.Sprintf("/api/v1/users/alice/rules/%d", mine.ID), nil); strings.Contains(string(r.body), "origin") {
		t.Errorf("a user's rule carries origin: %s", r.body)
	}

	// Deleted: never again. Changed: still a default rule.
	expect(t, b.do(t, "alice", http.MethodDelete, fmt.Sprintf("/api/v1/users/alice/rules/%d", about.ID), nil), http.StatusOK)
	body := newRule("alice", "Artifacts I own, renamed")
	body["origin"] = nil // sent back as read: ignored
	r = b.do(t, "alice", http.MethodPut, fmt.Sprintf("/api/v1/users/alice/rules/%d", owned.ID), body)
	expect(t, r, http.StatusOK)
	var changed api.Rule
	r.json(t, &changed)
	if origin(changed) != "default" {
		t.Errorf("a changed default rule has origin %q", origin(changed))
	}
	want := []int64{owned.ID, mine.ID}
	check := func(when string) {
		t.Helper()
		var ids []int64
		for _, rule := range b.userRules(t, "alice") {
			ids = append(ids, rule.ID)
			if rule.ID == owned.ID && origin(rule) != "default" {
				t.Errorf("%s: rule %d lost its origin", when, rule.ID)
			}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: alice's rules %v, want %v", when, ids, want)
		}
	}
	check("second request")
	b.restartAPI(t, o)
	check("after a restart")
	if _, err := b.proj.Rebuild(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.restartAPI(t, o)
	check("after a rebuild")

	// Each new user gets their own, once however many requests race.
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			b.do(t, "bob", http.MethodGet, "/api/v1/users/me", nil)
		}()
	}
	for range 4 {
		<-done
	}
	bobs := b.userRules(t, "bob")
	if len(bobs) != 2 || string(bobs[1].TrackingRule.Params) != `["bob"]` || bobs[0].GenerationRules[0].Destinations[0].Address != "bob@example.org" {
		t.Errorf("bob's default rules: %+v", bobs)
	}
}

// TestDefaultRulesAdminList: an admin's list replaces the shipped one for
// users recorded after it; destinations of a protocol the user has no
// address of are left out, and a rule left without any is not created.
func TestDefaultRulesAdminList(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{shippedDefaults: true})
	// alice is recorded before the change: she keeps the shipped rules.
	if n := len(b.userRules(t, "alice")); n != 2 {
		t.Fatalf("alice has %d rules before the admin's list", n)
	}
	b.accounts.mu.Lock()
	b.accounts.users["bob"] = []rules.Destination{{Protocol: "irc", Address: "bobby"}, {Protocol: "irc", Address: "bob2"}}
	b.accounts.mu.Unlock()

	list := []map[string]any{
		{
			"name":          "What I do",
			"tracking_rule": map[string]any{"name": "users-followed", "params": []string{"{me}", "carol"}},
			"generation_rules": []map[string]any{{
				"destinations": []map[string]string{{"protocol": "irc"}, {"protocol": "email"}, {"protocol": "sse"}},
				"filters":      map[string]any{"severities": []string{"error"}},
			}},
		},
		{
			"name":             "Matrix only",
			"tracking_rule":    map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "matrix"}}}},
		},
	}
	// A stale If-Match: 412, nothing set.
	expect(t, b.do(t, "root", http.MethodPut, "/api/v1/admin/default-rules", list, `If-Match: "99"`), http.StatusPreconditionFailed)
	// Admins only.
	expect(t, b.do(t, "alice", http.MethodPut, "/api/v1/admin/default-rules", list), http.StatusForbidden)
	expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/admin/default-rules", nil), http.StatusForbidden)

	r := b.do(t, "root", http.MethodPut, "/api/v1/admin/default-rules", list, `If-Match: "0"`)
	expect(t, r, http.StatusOK)
	tag := r.header.Get("ETag")
	got := b.do(t, "root", http.MethodGet, "/api/v1/admin/default-rules", nil)
	expect(t, got, http.StatusOK)
	if got.header.Get("ETag") != tag || tag == `"0"` {
		t.Errorf("ETag after PUT %q, GET %q", tag, got.header.Get("ETag"))
	}
	var templates []api.RuleTemplate
	got.json(t, &templates)
	if len(templates) != 2 || str(templates[0].Name) != "What I do" || len(templates[0].GenerationRules[0].Destinations) != 3 ||
		!slices.Equal(templates[0].GenerationRules[0].Filters.Severities, []string{"error"}) {
		t.Fatalf("admin's list read back: %s", got.body)
	}
	// The shipped list's version no longer matches.
	expect(t, b.do(t, "root", http.MethodPut, "/api/v1/admin/default-rules", list, `If-Match: "0"`), http.StatusPreconditionFailed)

	// bob has two IRC nicks and no email or Matrix: the first nick and
	// his live feed; the Matrix-only rule is not created.
	bobs := b.userRules(t, "bob")
	if len(bobs) != 1 {
		t.Fatalf("bob's rules: %+v", bobs)
	}
	if str(bobs[0].Name) != "What I do" || string(bobs[0].TrackingRule.Params) != `["bob","carol"]` || origin(bobs[0]) != "default" {
		t.Errorf("bob's rule: %+v (params %s)", bobs[0], bobs[0].TrackingRule.Params)
	}
	want := []api.Destination{{Protocol: "irc", Address: "bobby"}, {Protocol: "sse", Address: "bob"}}
	if ds := bobs[0].GenerationRules[0].Destinations; !slices.Equal(ds, want) {
		t.Errorf("bob's destinations %+v, want %+v", ds, want)
	}
	if n := len(b.userRules(t, "alice")); n != 2 {
		t.Errorf("alice has %d rules after the admin's change, want her 2", n)
	}

	// [] gives new users nothing (TestDefaultRulesOff shows a user
	// recorded without default rules).
	expect(t, b.do(t, "root", http.MethodPut, "/api/v1/admin/default-rules", []any{}, "If-Match: "+tag), http.StatusOK)
	r = b.do(t, "root", http.MethodGet, "/api/v1/admin/default-rules", nil)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("the empty list reads %s", r.body)
	}
}

// TestDefaultRulesOff: FMN_DEFAULT_RULES=off (no shipped rules) gives new
// users nothing until an admin sets a list.
func TestDefaultRulesOff(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	r := b.do(t, "root", http.MethodGet, "/api/v1/admin/default-rules", nil)
	expect(t, r, http.StatusOK)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("GET with the shipped list off: %s", r.body)
	}
	if got := b.userRules(t, "alice"); len(got) != 0 {
		t.Errorf("alice got %d rules with default rules off", len(got))
	}
	list := []map[string]any{{
		"tracking_rule":    map[string]any{"name": "artifacts-owned", "params": []string{"{me}"}},
		"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "email"}}}},
	}}
	expect(t, b.do(t, "root", http.MethodPut, "/api/v1/admin/default-rules", list), http.StatusOK)
	bobs := b.userRules(t, "bob")
	if len(bobs) != 1 || bobs[0].Name != nil || string(bobs[0].TrackingRule.Params) != `["bob"]` {
		t.Errorf("bob's rules after an admin's list: %+v", bobs)
	}
}

// TestDefaultRulesValidation: a bad template is refused with 422 and the
// location of each problem in the body, as a bad rule is.
func TestDefaultRulesValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	good := map[string]any{
		"tracking_rule":    map[string]any{"name": "related-events"},
		"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "email"}}}},
	}
	cases := []struct {
		name     string
		template map[string]any
		loc      string
		msg      string
	}{
		{"me among groups", map[string]any{
			"tracking_rule":    map[string]any{"name": "artifacts-group-owned", "params": []string{"{me}"}},
			"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "email"}}}},
		}, "body[1].tracking_rule.params[0]", "{me}"},
		{"bad username", map[string]any{
			"tracking_rule":    map[string]any{"name": "users-followed", "params": []string{"{me}", "no spaces"}},
			"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "email"}}}},
		}, "body[1].tracking_rule.params[1]", "no spaces"},
		{"no generation rule", map[string]any{
			"tracking_rule":    map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{},
		}, "body[1].generation_rules", ""},
		{"address given", map[string]any{
			"tracking_rule":    map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "email", "address": "x@example.org"}}}},
		}, "body[1].generation_rules[0].destinations[0].address", "unexpected property"},
		{"bad protocol", map[string]any{
			"tracking_rule":    map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "fax"}}}},
		}, "body[1].generation_rules[0].destinations[0].protocol", "email, irc, matrix, sse"},
		{"bad severity", map[string]any{
			"tracking_rule": map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "email"}},
				"filters": map[string]any{"severities": []string{"loud"}}}},
		}, "body[1].generation_rules[0].filters.severities[0]", "debug, info"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := b.do(t, "root", http.MethodPut, "/api/v1/admin/default-rules", []any{good, c.template})
			expect(t, r, http.StatusUnprocessableEntity)
			p := r.problem(t)
			found := false
			for _, e := range p.Errors {
				if strings.HasPrefix(e.Location, c.loc) && strings.Contains(e.Message+p.Detail, c.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error at %s mentioning %q: %s", c.loc, c.msg, r.body)
			}
		})
	}
	// Nothing was set.
	r := b.do(t, "root", http.MethodGet, "/api/v1/admin/default-rules", nil)
	if strings.TrimSpace(string(r.body)) != "[]" || r.header.Get("ETag") != `"0"` {
		t.Errorf("after refused lists: %s (ETag %s)", r.body, r.header.Get("ETag"))
	}
}

// TestDefaultRulesNotForImported: users recorded by the import of FMN v3,
// with rules or without, get no default rules: they bring their own.
func TestDefaultRulesNotForImported(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{shippedDefaults: true})
	name := "imported"
	snap := &fmn3.Snapshot{
		Rules: []fmn3.Source{{
			ID: 7, User: "alice", Name: &name,
			Tracking:   &fmn3.SourceTracking{Name: "related-events", Params: json.RawMessage("null")},
			Generation: []fmn3.SourceGeneration{{ID: 1, Destinations: []fmn3.SourceDestination{{Protocol: "email", Address: "alice@example.org"}}}},
		}},
		Users: 2, UserNames: []string{"alice", "bob"},
	}
	if _, err := fmn3.Import(b.ctx, fmn3.Config{JS: b.nats.JS, Stream: b.nats.Streams.Rules, DB: b.pg.Pool}, snap); err != nil {
		t.Fatal(err)
	}
	alices := b.userRules(t, "alice")
	if len(alices) != 1 || alices[0].ID != 7 || alices[0].Origin != nil {
		t.Errorf("imported alice's rules: %+v", alices)
	}
	if bobs := b.userRules(t, "bob"); len(bobs) != 0 {
		t.Errorf("imported bob (no rules) got %d", len(bobs))
	}
	// A user fmn had never seen still gets them.
	if n := len(b.userRules(t, "root")); n != 2 {
		t.Errorf("root got %d default rules, want 2", n)
	}
}

// TestDefaultRulesAccountsDown: while the account service fails, a new
// user is not recorded (GET /users/me says so with 503) rather than
// recorded without their default rules; the next request records them,
// with the rules.
func TestDefaultRulesAccountsDown(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{shippedDefaults: true})
	b.accounts.mu.Lock()
	b.accounts.down = true
	b.accounts.mu.Unlock()
	expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/users/me", nil), http.StatusServiceUnavailable)
	if _, err := b.cmds.Store().User(b.ctx, "alice"); err == nil {
		t.Fatal("alice was recorded while her addresses could not be read")
	}
	b.accounts.mu.Lock()
	b.accounts.down = false
	b.accounts.mu.Unlock()
	if got := b.userRules(t, "alice"); len(got) != 2 {
		t.Errorf("alice has %d rules once the account service is back, want 2", len(got))
	}
}
