package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api/auth/oidctest"
	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
)

// TestAPIRole boots the api and projector roles on real services, with a
// real OpenID Connect provider and a FASJSON test server, and uses the API
// as a client would: login, destinations from the account, a rule created
// and refused, readiness and metrics.
func TestAPIRole(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	nc, pg := fmntest.StartNATS(t), fmntest.StartPostgres(t)
	fas := fmntest.StartFASJSON(t)
	fas.AddUser("alice", []string{"alice@fedoraproject.org"}, []string{"irc:/alice", "matrix:/alice"})
	op := oidctest.Start(t)
	op.SetJWTAccessTokens(true)

	cfg := config.Defaults()
	cfg.NATSURL, cfg.DatabaseURL = nc.URL, pg.URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.OIDCIssuer, cfg.OIDCClientID = op.Issuer, oidctest.ClientID
	cfg.FASJSONURL = fas.URL
	cfg.CORSOrigins = []string{"https://ui.example.org/"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		done <- app.RunSystem(rctx, cfg, []string{"projector", "api"}, app.Options{Log: log, Started: func(s *app.System) { started <- s }})
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
	base := "http://" + sys.HTTPAddr
	token := op.Login(t, "alice").AccessToken
	call := func(method, path string, body any) (int, []byte, http.Header) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://ui.example.org")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data, resp.Header
	}

	code, body, _ := call(http.MethodGet, "/healthz/ready", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"rules-projection":"ok"`) {
		t.Errorf("ready: %d %s", code, body)
	}
	code, body, h := call(http.MethodGet, "/api/v1/users/me", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"name":"alice"`) || h.Get("Access-Control-Allow-Origin") != "https://ui.example.org" {
		t.Errorf("me: %d %s %v", code, body, h)
	}
	code, body, _ = call(http.MethodGet, "/api/v1/users/alice/destinations", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"address":"alice@fedoraproject.org"`) || !strings.Contains(string(body), "@alice:fedora.im") {
		t.Errorf("destinations: %d %s", code, body)
	}
	rule := func(addr string) map[string]any {
		return map[string]any{"name": "mine", "tracking_rule": map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "email", "address": addr}}}}}
	}
	if code, body, _ = call(http.MethodPost, "/api/v1/users/alice/rules", rule("alice@fedoraproject.org")); code != http.StatusOK {
		t.Errorf("create: %d %s", code, body)
	}
	if code, body, _ = call(http.MethodPost, "/api/v1/users/alice/rules", rule("someone@else.org")); code != http.StatusUnprocessableEntity ||
		!strings.Contains(string(body), "not one of yours") {
		t.Errorf("create to a stranger: %d %s", code, body)
	}
	code, body, _ = call(http.MethodGet, "/api/v1/users/alice/rules", nil)
	var listed []map[string]any
	// Her rule, after the two shipped default rules she got on her first
	// request (FMN_DEFAULT_RULES is on by default), by her email.
	if code != http.StatusOK || json.Unmarshal(body, &listed) != nil || len(listed) != 3 {
		t.Fatalf("list: %d %s", code, body)
	}
	for i, want := range []string{"Events about me", "Artifacts I own", "mine"} {
		origin, _ := listed[i]["origin"].(string)
		if listed[i]["name"] != want || (origin == "default") != (i < 2) || (i < 2 && !strings.Contains(fmt.Sprint(listed[i]["generation_rules"]), "alice@fedoraproject.org")) {
			t.Errorf("rule %d: %v", i, listed[i])
		}
	}
	code, body, _ = call(http.MethodGet, "/metrics", nil)
	for _, m := range []string{"fmn_http_requests_total", "fmn_http_request_duration_seconds", "fmn_rules_projection_lag", `fmn_auth_tokens_total{kind="jwt",result="accepted"}`} {
		if code != http.StatusOK || !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if code, _, _ = call(http.MethodGet, "/api/v1/admin/stats", nil); code != http.StatusForbidden {
		t.Errorf("admin stats for alice: %d", code)
	}
	if code, _, _ = call(http.MethodGet, "/api/v1/openapi.json", nil); code != http.StatusOK {
		t.Errorf("openapi.json: %d", code)
	}
}
