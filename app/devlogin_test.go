package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/devoidc"
	"github.com/fmn-project/fmn/fmntest"
)

// `fmn dev`'s API accepts the tokens of its own login provider as the web
// UI gets them (JWT access tokens of the public client), and opaque ones
// through token introspection with the client secret fmn dev sets; another
// application's tokens are refused.
func TestDevLoginTokens(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	pg := fmntest.StartPostgres(t)
	cfg := config.Defaults()
	cfg.NATSURL, cfg.DatabaseURL = n.URL, pg.URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	cfg.HTTPAddr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	ctx, cancel := context.WithCancel(fmntest.Context(t))
	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	var logs syncLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	go func() {
		done <- app.RunSystem(ctx, cfg, []string{"projector", "api"}, app.Options{Dev: true, Log: log, Started: func(s *app.System) { started <- s }})
	}()
	t.Cleanup(func() { cancel(); <-done }) //nolint:errcheck // stopped by cancel: how it ended is not under test
	var sys *app.System
	select {
	case sys = <-started:
	case err := <-done:
		t.Fatalf("fmn dev did not start: %v", err)
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("fmn dev did not start within 20s")
	}
	p := sys.DevOIDC
	if p == nil {
		t.Fatal("fmn dev runs no login provider")
	}
	get := func(token, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sys.HTTPAddr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// As the web UI: the public client, PKCE, no secret.
	ui, err := p.LoginAt(ctx, p.Issuer, devoidc.ClientID, "", "alice", devoidc.Password)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(ui.AccessToken, ".") != 2 {
		t.Fatal("fmn dev's provider gives the web UI an opaque access token")
	}
	if code, body := get(ui.AccessToken, "/api/v1/users/me"); code != http.StatusOK || !strings.Contains(body, `"name":"alice"`) {
		t.Errorf("the web UI's JWT access token: %d %s", code, body)
	}
	p.SetJWTAccessTokens(false)
	opaque, err := p.LoginAt(ctx, p.Issuer, devoidc.ClientID, "", "bob", devoidc.Password)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(opaque.AccessToken, "/api/v1/users/me"); code != http.StatusOK || !strings.Contains(body, `"name":"bob"`) {
		t.Errorf("an opaque access token of fmn's client: %d %s", code, body)
	}
	other, err := p.LoginAt(ctx, p.Issuer, devoidc.OtherClientID, devoidc.OtherClientSecret, "root", devoidc.Password)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(other.AccessToken, "/api/v1/users/me"); code != http.StatusUnauthorized || !strings.Contains(body, "another application") {
		t.Errorf("another application's opaque token: %d %s", code, body)
	}
	if n := p.IntrospectionCalls.Load(); n != 2 {
		t.Errorf("introspection calls = %d, want 2", n)
	}
	_, metrics := get("", "/metrics")
	for _, m := range []string{"fmn_auth_introspection_calls_total 2", `fmn_auth_tokens_total{kind="opaque",result="rejected"} 1`, "fmn_http_auth_rate_limited_total 0", "fmn_auth_key_set_fetches_total 1"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
	if l := logs.String(); strings.Contains(l, devoidc.ClientSecret) || strings.Contains(l, "FMN_OIDC_CLIENT_SECRET is empty") {
		t.Errorf("the log shows the secret or says it is missing:\n%s", l)
	}
}

// syncLog is a log destination that goroutines share.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
