package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api/auth/oidctest"
	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmn3"
	"github.com/fmn-project/fmn/fmntest"
)

// TestImportedRulesThroughAPI: rules imported from FMN v3 answer at their
// FMN ids through the REST API, as FMN's JSON; their owner's first login
// finds her record (the import made it) and her rules, and nothing else.
func TestImportedRulesThroughAPI(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	nc, pg := fmntest.StartNATS(t), fmntest.StartPostgres(t)
	ddl, err := os.ReadFile("../testdata/fmn3/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	src := fmntest.StartPostgresWith(t, string(ddl))
	for _, q := range []string{
		`INSERT INTO users (id, name) VALUES (1, 'alice')`,
		`INSERT INTO rules (id, name, disabled, user_id) VALUES (1234, 'My updates', false, 1), (1300, NULL, true, 1)`,
		`INSERT INTO tracking_rules (rule_id, name, params) VALUES (1234, 'artifacts-owned', '["alice"]'), (1300, 'related-events', NULL)`,
		`INSERT INTO generation_rules (id, rule_id) VALUES (1, 1234), (2, 1300)`,
		`INSERT INTO filters (generation_rule_id, name, params) VALUES (1, 'severities', '["error"]'), (1, 'my_actions', 'true')`,
		`INSERT INTO destinations (generation_rule_id, protocol, address) VALUES (1, 'email', 'alice@fedoraproject.org'), (2, 'irc', 'alice')`,
	} {
		if _, err := src.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	fas := fmntest.StartFASJSON(t)
	fas.AddUser("alice", []string{"alice@fedoraproject.org"}, []string{"irc:/alice"})
	op := oidctest.Start(t)
	op.SetJWTAccessTokens(true)

	cfg := config.Defaults()
	cfg.NATSURL, cfg.DatabaseURL = nc.URL, pg.URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.OIDCIssuer, cfg.OIDCClientID = op.Issuer, oidctest.ClientID
	cfg.FASJSONURL = fas.URL
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		done <- app.RunSystem(rctx, cfg, []string{"projector", "api"}, app.Options{Log: slog.New(slog.DiscardHandler), Started: func(s *app.System) { started <- s }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	var sys *app.System
	select {
	case sys = <-started:
	case err := <-done:
		t.Fatalf("system did not start: %v", err)
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("system did not start within 20s")
	}

	snap, err := fmn3.Read(ctx, src.Pool)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fmn3.Import(ctx, fmn3.Config{JS: nc.JS, Stream: nc.Streams.Rules, DB: pg.Pool}, snap)
	if err != nil || rep.Imported != 2 {
		t.Fatalf("import: %+v, %v", rep, err)
	}

	token := op.Login(t, "alice").AccessToken
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sys.HTTPAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if code, body := get("/api/v1/users/me"); code != http.StatusOK {
		t.Fatalf("me: %d %s", code, body)
	}
	code, body := get("/api/v1/users/alice/rules/1234")
	var r struct {
		ID           int64  `json:"id"`
		Name         string `json:"name"`
		Disabled     bool   `json:"disabled"`
		TrackingRule struct {
			Name   string   `json:"name"`
			Params []string `json:"params"`
		} `json:"tracking_rule"`
		GenerationRules []struct {
			Filters struct {
				Severities []string `json:"severities"`
				MyActions  bool     `json:"my_actions"`
			} `json:"filters"`
		} `json:"generation_rules"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.ID != 1234 || r.Name != "My updates" ||
		r.TrackingRule.Name != "artifacts-owned" || len(r.GenerationRules) != 1 ||
		strings.Join(r.GenerationRules[0].Filters.Severities, ",") != "error" || !r.GenerationRules[0].Filters.MyActions {
		t.Errorf("rule 1234: %d %s", code, body)
	}
	if code, body = get("/api/v1/users/alice/rules/1300"); code != http.StatusOK || !strings.Contains(body, `"disabled":true`) {
		t.Errorf("rule 1300: %d %s", code, body)
	}
	// Her record came with the import: her first login changes nothing.
	if code, body = get("/api/v1/users/alice/rules"); code != http.StatusOK || strings.Count(body, `"tracking_rule"`) != 2 {
		t.Errorf("alice's rules: %d %s", code, body)
	}
}
