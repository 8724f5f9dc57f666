package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api/auth/oidctest"
)

// TestAuth runs the API's authentication against a real OpenID Connect
// provider on loopback, with tokens from its login flow.
func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	get := func(token, path string) response {
		t.Helper()
		req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, b.http.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{status: resp.StatusCode, header: resp.Header, body: data}
	}
	refused := func(t *testing.T, token, why string) {
		t.Helper()
		r := get(token, "/api/v1/users/me")
		expect(t, r, http.StatusUnauthorized)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
		if p := r.problem(t); !strings.Contains(p.Detail, why) {
			t.Errorf("detail %q does not say %q", p.Detail, why)
		}
	}

	t.Run("tokens from a real login are accepted", func(t *testing.T) {
		b.op.SetJWTAccessTokens(true)
		jwt := b.op.Login(t, "alice")
		b.op.SetJWTAccessTokens(false)
		opaque := b.op.Login(t, "alice")
		for name, tok := range map[string]string{"JWT access token": jwt.AccessToken, "ID token": jwt.IDToken, "opaque access token": opaque.AccessToken} {
			r := get(tok, "/api/v1/users/me")
			expect(t, r, http.StatusOK)
			var me struct {
				Name string `json:"name"`
			}
			r.json(t, &me)
			if me.Name != "alice" {
				t.Errorf("%s: me = %s", name, r.body)
			}
		}
	})

	t.Run("no token, or not a bearer", func(t *testing.T) {
		r := get("", "/api/v1/users/alice/rules")
		expect(t, r, http.StatusUnauthorized)
		if p := r.problem(t); !strings.Contains(p.Detail, "Log in first") {
			t.Errorf("detail %q", p.Detail)
		}
		req, _ := http.NewRequest(http.MethodGet, b.http.URL+"/api/v1/users/me", nil)
		req.SetBasicAuth("alice", "verysecure")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("basic auth: %d", resp.StatusCode)
		}
	})

	t.Run("expired", func(t *testing.T) {
		b.op.SetIDTokenLifetime(-time.Minute)
		defer b.op.SetIDTokenLifetime(0)
		refused(t, b.op.Login(t, "alice").IDToken, "expired")
	})

	t.Run("wrong audience", func(t *testing.T) {
		tok, err := b.op.LoginAt(b.ctx, b.op.Issuer, oidctest.OtherClientID, oidctest.OtherClientSecret, "alice", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, tok.IDToken, "audience")
	})

	t.Run("an opaque access token of another application", func(t *testing.T) {
		tok, err := b.op.LoginAt(b.ctx, b.op.Issuer, oidctest.OtherClientID, oidctest.OtherClientSecret, "alice", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(tok.AccessToken, ".") == 2 {
			t.Fatal("the other application's access token is a JWT")
		}
		refused(t, tok.AccessToken, "issued to another application")
	})

	t.Run("wrong issuer", func(t *testing.T) {
		b.op.SetJWTAccessTokens(true)
		defer b.op.SetJWTAccessTokens(false)
		tok, err := b.op.LoginAt(b.ctx, b.op.AltIssuer, oidctest.ClientID, oidctest.ClientSecret, "alice", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, tok.AccessToken, "different provider")
	})

	t.Run("tampered and alg none, never sent to UserInfo", func(t *testing.T) {
		tok := b.op.Login(t, "alice").IDToken
		parts := strings.Split(tok, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		claims["preferred_username"], claims["groups"] = "root", []string{"sysadmin-main"}
		forged, _ := json.Marshal(claims)
		seg := base64.RawURLEncoding.EncodeToString(forged)
		before, ibefore := b.op.UserInfoCalls.Load(), b.op.IntrospectionCalls.Load()
		refused(t, parts[0]+"."+seg+"."+parts[2], "signature")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		refused(t, none+"."+seg+".", "invalid token")
		if n, m := b.op.UserInfoCalls.Load()-before, b.op.IntrospectionCalls.Load()-ibefore; n != 0 || m != 0 {
			t.Errorf("forged JWTs cost %d UserInfo and %d introspection calls", n, m)
		}
	})

	t.Run("another user's rules are 403", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			var body any
			if m == http.MethodPost {
				body = newRule("bob", "theirs")
			}
			r := b.do(t, "alice", m, "/api/v1/users/bob/rules", body)
			expect(t, r, http.StatusForbidden)
			if p := r.problem(t); !strings.Contains(p.Detail, "logged in as alice") {
				t.Errorf("detail %q", p.Detail)
			}
		}
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			var body any
			if m == http.MethodPut {
				body = newRule("bob", "theirs")
			}
			expect(t, b.do(t, "alice", m, "/api/v1/users/bob/rules/1", body), http.StatusForbidden)
		}
		// Admins too: a user's rules are their own; /admin/rules is the
		// admins' view.
		expect(t, b.do(t, "root", http.MethodGet, "/api/v1/users/bob/rules", nil), http.StatusForbidden)
	})

	t.Run("admin routes are 403 for non-admins", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/api/v1/admin/rules"},
			{http.MethodPatch, "/api/v1/admin/rules/1"},
			{http.MethodGet, "/api/v1/admin/users"},
		} {
			var body any
			if c.method == http.MethodPatch {
				body = map[string]any{"disabled": true}
			}
			r := b.do(t, "bob", c.method, c.path, body)
			expect(t, r, http.StatusForbidden)
			if p := r.problem(t); !strings.Contains(p.Detail, "Only admins") {
				t.Errorf("%s %s: %q", c.method, c.path, p.Detail)
			}
			expect(t, b.do(t, "", c.method, c.path, body), http.StatusUnauthorized)
		}
		expect(t, b.do(t, "root", http.MethodGet, "/api/v1/admin/rules", nil), http.StatusOK)
	})
}

// TestAuthWithoutClientSecret: without FMN_OIDC_CLIENT_SECRET opaque tokens
// are refused with the reason, JWTs accepted.
func TestAuthWithoutClientSecret(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noClientSecret: true})
	b.op.SetJWTAccessTokens(false)
	opaque := b.op.Login(t, "alice").AccessToken
	b.op.SetJWTAccessTokens(true)
	r := b.get(t, opaque, "/api/v1/users/me")
	expect(t, r, http.StatusUnauthorized)
	if p := r.problem(t); !strings.Contains(p.Detail, "accepts only JWTs") || !strings.Contains(p.Detail, "FMN_OIDC_CLIENT_SECRET") {
		t.Errorf("detail %q", p.Detail)
	}
	if n := b.op.IntrospectionCalls.Load() + b.op.UserInfoCalls.Load(); n != 0 {
		t.Errorf("%d provider calls", n)
	}
	expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/users/me", nil), http.StatusOK)
	if !strings.Contains(b.logs.String(), "FMN_OIDC_CLIENT_SECRET is empty") {
		t.Error("no log line says that opaque tokens are refused")
	}
}

// TestAuthFailureLimit: a flood of bad tokens from one address costs the
// provider a handful of calls, then gets 429 with Retry-After; tokens that
// fmn accepted before keep working, and other addresses are not affected.
func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	b.op.SetJWTAccessTokens(false)
	alice := b.op.Login(t, "alice").AccessToken // opaque: introspection
	b.op.SetJWTAccessTokens(true)
	expect(t, b.get(t, alice, "/api/v1/users/me"), http.StatusOK)
	before := b.op.IntrospectionCalls.Load()

	var mu sync.Mutex
	codes := map[int]int{}
	var retryAfter []string
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				r := b.get(t, fmt.Sprintf("garbage-%04d-%s", i, strings.Repeat("x", 20)), "/api/v1/users/me")
				mu.Lock()
				codes[r.status]++
				if r.status == http.StatusTooManyRequests {
					retryAfter = append(retryAfter, r.header.Get("Retry-After"))
				}
				mu.Unlock()
			}
		})
	}
	for i := range 500 {
		work <- i
	}
	close(work)
	wg.Wait()
	calls := b.op.IntrospectionCalls.Load() - before
	t.Logf("500 garbage tokens: %v, %d introspection calls", codes, calls)
	if codes[http.StatusUnauthorized] > 10 || codes[http.StatusTooManyRequests] < 490 || calls > 10 {
		t.Errorf("500 garbage tokens: %v with %d introspection calls; want at most 10 checked, the rest 429", codes, calls)
	}
	for _, ra := range retryAfter {
		if n, err := strconv.Atoi(ra); err != nil || n < 1 || n > 60 {
			t.Fatalf("Retry-After %q", ra)
		}
	}
	r := b.get(t, "garbage-again", "/api/v1/users/me")
	expect(t, r, http.StatusTooManyRequests)
	if p := r.problem(t); !strings.Contains(p.Detail, "Too many failed logins") {
		t.Errorf("detail %q", p.Detail)
	}

	// alice's token, accepted before, still works from that address; a
	// token fmn has not checked yet waits like the others.
	expect(t, b.get(t, alice, "/api/v1/users/me"), http.StatusOK)
	expect(t, b.do(t, "bob", http.MethodGet, "/api/v1/users/me", nil), http.StatusTooManyRequests)

	// Behind a trusted proxy the client is the forwarded address: another
	// client is not limited, and a client cannot pick its address by
	// prepending to X-Forwarded-For.
	other := func(token, xff string) response {
		t.Helper()
		req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, b.http.URL+"/api/v1/users/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: data}
	}
	expect(t, other("garbage-from-elsewhere", "203.0.113.9"), http.StatusUnauthorized)
	expect(t, other(b.token(t, "bob"), "203.0.113.10"), http.StatusOK)
	for range 10 {
		other("garbage-from-elsewhere", "198.51.100.7")
	}
	expect(t, other("garbage-from-elsewhere", "203.0.113.9, 198.51.100.7"), http.StatusTooManyRequests)

	if strings.Contains(b.logs.String(), oidctest.ClientSecret) {
		t.Error("the client secret is in the log")
	}
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var limited float64
	for _, mf := range mfs {
		if mf.GetName() == "fmn_http_auth_rate_limited_total" {
			limited = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if limited < 490 {
		t.Errorf("fmn_http_auth_rate_limited_total = %v", limited)
	}
}
