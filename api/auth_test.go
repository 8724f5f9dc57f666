package api_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
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
		before := b.op.UserInfoCalls.Load()
		refused(t, parts[0]+"."+seg+"."+parts[2], "signature")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		refused(t, none+"."+seg+".", "invalid token")
		if n := b.op.UserInfoCalls.Load() - before; n != 0 {
			t.Errorf("forged JWTs cost %d UserInfo calls", n)
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
