package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/fmntest"
)

func TestOperations(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{cors: []string{"https://ui.example.org"}})

	t.Run("CORS", func(t *testing.T) {
		pre := b.do(t, "", http.MethodOptions, "/api/v1/users/alice/rules", nil,
			"Origin: https://ui.example.org", "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: authorization, if-match")
		expect(t, pre, http.StatusNoContent)
		h := pre.header
		if h.Get("Access-Control-Allow-Origin") != "https://ui.example.org" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") ||
			!containsFold(h.Get("Access-Control-Allow-Headers"), "If-Match") || !containsFold(h.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight headers %v", h)
		}
		other := b.do(t, "", http.MethodOptions, "/api/v1/users/alice/rules", nil, "Origin: https://evil.example", "Access-Control-Request-Method: PUT")
		if other.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("foreign origin allowed: %v", other.header)
		}
		r := b.do(t, "alice", http.MethodGet, "/api/v1/users/me", nil, "Origin: https://ui.example.org")
		if r.header.Get("Access-Control-Allow-Origin") != "https://ui.example.org" || !containsFold(r.header.Get("Access-Control-Expose-Headers"), "ETag") || !containsFold(r.header.Get("Access-Control-Expose-Headers"), "Link") {
			t.Errorf("simple request headers %v", r.header)
		}
	})

	t.Run("request size limit", func(t *testing.T) {
		body := newRule("alice", strings.Repeat("x", 100<<10))
		r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", body)
		expect(t, r, http.StatusRequestEntityTooLarge)
		r.problem(t)
	})

	t.Run("access log without tokens, request ids", func(t *testing.T) {
		r := b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules", nil, "X-Request-ID: trace-42")
		expect(t, r, http.StatusOK)
		if r.header.Get("X-Request-ID") != "trace-42" {
			t.Errorf("request id %q", r.header.Get("X-Request-ID"))
		}
		logs := b.logs.String()
		if strings.Contains(logs, b.token(t, "alice")) || strings.Contains(logs, "Bearer") {
			t.Fatalf("a token is in the log")
		}
		var found bool
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil || e["msg"] != "http request" {
				continue
			}
			if e["request_id"] == "trace-42" {
				found = true
				if e["route"] != "list-user-rules" || e["user"] != "alice" || e["status"] != float64(200) || e["path"] != "/api/v1/users/alice/rules" {
					t.Errorf("access log entry %v", e)
				}
			}
		}
		if !found {
			t.Errorf("no access log entry for the request:\n%s", logs)
		}
		if strings.Contains(b.do(t, "", http.MethodGet, "/api/v1/users/me", nil).header.Get("X-Request-ID"), " ") {
			t.Error("bad generated request id")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/users/alice/rules", nil), http.StatusOK)
		expect(t, b.do(t, "", http.MethodGet, "/api/v1/users/alice/rules", nil), http.StatusUnauthorized)
		expect(t, b.do(t, "", http.MethodGet, "/api/v1/openapi.json", nil), http.StatusOK)
		expect(t, b.do(t, "", http.MethodGet, "/api/v1/nothing-here", nil), http.StatusNotFound)
		mfs, err := b.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{
			`fmn_http_requests_total route=list-user-rules method=GET code=200`:          false,
			`fmn_http_requests_total route=list-user-rules method=GET code=401`:          false,
			`fmn_http_requests_total route=GET /api/v1/openapi.json method=GET code=200`: false,
			`fmn_http_requests_total route=unmatched method=GET code=404`:                false,
			`fmn_http_request_duration_seconds route=list-user-rules method=GET`:         false,
		}
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				key := mf.GetName()
				labels := map[string]string{}
				for _, l := range m.Label {
					labels[l.GetName()] = l.GetValue()
				}
				key += " route=" + labels["route"] + " method=" + labels["method"]
				if c, ok := labels["code"]; ok {
					key += " code=" + c
				}
				if _, ok := want[key]; ok {
					want[key] = true
				}
			}
		}
		for k, seen := range want {
			if !seen {
				t.Errorf("metric %s missing", k)
			}
		}
		// A missing token is not a bad one.
		for _, mf := range mfs {
			if mf.GetName() == "fmn_http_auth_failures_total" && mf.Metric[0].GetCounter().GetValue() != 0 {
				t.Errorf("auth failures %v", mf.Metric[0].GetCounter().GetValue())
			}
		}
	})
}

func TestLagCheck(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	var last, proj uint64
	l := &api.LagCheck{
		Stream:    func(context.Context) (uint64, error) { return last, nil },
		Projected: func(context.Context) (uint64, error) { return proj, nil },
		Grace:     10 * time.Second,
		Now:       func() time.Time { return now },
	}
	step := func(d time.Duration, l2, p uint64) error {
		now = now.Add(d)
		last, proj = l2, p
		return l.Check(context.Background())
	}
	if err := step(0, 10, 10); err != nil {
		t.Fatal(err)
	}
	// Busy but keeping up: behind at every check, always catching up to
	// where the stream was at the previous one.
	for i := range 10 {
		if err := step(5*time.Second, uint64(20+10*i), uint64(10+10*i)); err != nil {
			t.Fatalf("busy projector refused at step %d: %v", i, err)
		}
	}
	// Stuck.
	if err := step(5*time.Second, 200, 120); err != nil {
		t.Fatal(err)
	}
	if err := step(6*time.Second, 210, 120); err != nil {
		t.Fatal(err)
	}
	err := step(6*time.Second, 210, 120)
	if err == nil || !strings.Contains(err.Error(), "90 events behind") || !strings.Contains(err.Error(), "projector running") {
		t.Fatalf("stuck projector: %v", err)
	}
	if l.Lag() != 90 {
		t.Errorf("lag %d", l.Lag())
	}
	if err := step(time.Second, 210, 210); err != nil || l.Lag() != 0 {
		t.Errorf("caught up: %v, lag %d", err, l.Lag())
	}
}

func TestReadinessNamesTheProjection(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noProjector: true, projectionWait: 100 * time.Millisecond})
	// One event nobody projects.
	r := b.do(t, "alice", http.MethodPost, "/api/v1/users/alice/rules", newRule("alice", "unprojected"))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("create without a projector: %d %s", r.status, r.body)
	}
	store := b.cmds.Store()
	lag := &api.LagCheck{
		Stream: func(ctx context.Context) (uint64, error) {
			st, err := b.nats.JS.Stream(ctx, b.nats.Streams.Rules)
			if err != nil {
				return 0, err
			}
			info, err := st.Info(ctx)
			if err != nil {
				return 0, err
			}
			return info.State.LastSeq, nil
		},
		Projected: store.Projected,
		Grace:     50 * time.Millisecond,
	}
	ops := &api.Ops{Checks: []api.Check{{Name: "rules-projection", Fn: lag.Check}}}
	mux := http.NewServeMux()
	ops.Register(mux)
	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz/ready", nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := ready(); code != http.StatusOK {
		t.Fatalf("first check: %d (a fresh lag gets its grace)", code)
	}
	time.Sleep(100 * time.Millisecond)
	code, body := ready()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "rules-projection") || !strings.Contains(body, "behind the RULES stream") {
		t.Fatalf("stuck projection: %d %s", code, body)
	}
	if err := b.proj.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.proj.Stop)
	deadline := time.Now().Add(fmntest.Scaled(5 * time.Second))
	for {
		if code, _ := ready(); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after the projector started: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// containsFold reports whether the list of header names holds name, in
// any case (header names are case-insensitive).
func containsFold(list, name string) bool {
	return strings.Contains(strings.ToLower(list), strings.ToLower(name))
}
