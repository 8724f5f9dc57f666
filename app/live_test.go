package app_test

import (
	"bufio"
	"context"
	"encoding/json"
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
	"github.com/nats-io/nats.go"
)

// TestLiveFeedRole boots the whole system, then a second api process on the
// same services, and follows a rule with the sse destination to the
// browser's stream in both processes.
func TestLiveFeedRole(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	nc, pg := fmntest.StartNATS(t), fmntest.StartPostgres(t)
	fas := fmntest.StartFASJSON(t)
	fas.AddUser("alice", []string{"alice@fedoraproject.org"}, nil)
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
	boot := func(roles ...string) *app.System {
		t.Helper()
		log := slog.New(slog.DiscardHandler)
		started := make(chan *app.System, 1)
		done := make(chan error, 1)
		rctx, cancel := context.WithCancel(ctx)
		go func() {
			done <- app.RunSystem(rctx, cfg, roles, app.Options{Log: log, Started: func(s *app.System) { started <- s }})
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("RunSystem %v: %v", roles, err)
			}
		})
		select {
		case sys := <-started:
			return sys
		case err := <-done:
			t.Fatalf("system did not start: %v", err)
		case <-time.After(fmntest.Scaled(20 * time.Second)):
			t.Fatal("system did not start within 20s")
		}
		return nil
	}
	full := boot("projector", "consumer", "api")
	bases := []string{"http://" + full.HTTPAddr, "http://" + boot("api").HTTPAddr}
	token := op.Login(t, "alice").AccessToken
	call := func(base, method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = strings.NewReader(string(data))
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}

	rule := map[string]any{"name": "live", "tracking_rule": map[string]any{"name": "related-events"},
		"generation_rules": []map[string]any{{"destinations": []map[string]string{{"protocol": "sse", "address": "alice"}}}}}
	if code, body := call(bases[0], http.MethodPost, "/api/v1/users/alice/rules", rule); code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	// A bus message matched before the matcher has the rule would notify
	// nobody.
	// Her first request also gave her the shipped default rules.
	fmntest.Eventually(t, 10*time.Second, "matcher has the rule", func() bool { return full.Matcher.RuleCount() >= 1 })

	// One stream in each API process, opened with a ticket as a browser's
	// EventSource does.
	lines := make([]chan string, len(bases))
	for i, base := range bases {
		code, body := call(base, http.MethodPost, "/api/v1/users/alice/notifications/ticket", nil)
		var tk struct {
			Ticket string `json:"ticket"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &tk) != nil {
			t.Fatalf("ticket: %d %s", code, body)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/users/alice/notifications/stream?ticket="+tk.Ticket, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("stream: %v %v", resp, err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		ch := make(chan string, 16)
		lines[i] = ch
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					ch <- v
				}
			}
		}()
	}

	m := nats.NewMsg("bus.org.fedoraproject.prod.bodhi.update.comment")
	m.Header.Set("Nats-Msg-Id", "live-1")
	m.Header.Set("fedora_messaging_user_alice", "true")
	m.Data = []byte(`{"agent": "bob", "summary": "a comment on your update"}`)
	if _, err := nc.JS.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	for i, ch := range lines {
		select {
		case v := <-ch:
			var it struct {
				Line   string `json:"line"`
				RuleID int64  `json:"rule_id"`
			}
			if err := json.Unmarshal([]byte(v), &it); err != nil || it.Line != "[bodhi] a comment on your update" || it.RuleID == 0 {
				t.Errorf("api %d: event %s", i, v)
			}
		case <-time.After(fmntest.Scaled(20 * time.Second)):
			t.Fatalf("api %d: no event within 20s", i)
		}
	}
	if code, body := call(bases[1], http.MethodGet, "/api/v1/users/alice/notifications", nil); code != http.StatusOK ||
		!strings.Contains(string(body), "a comment on your update") {
		t.Errorf("history: %d %s", code, body)
	}
}
