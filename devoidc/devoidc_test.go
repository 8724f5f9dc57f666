package devoidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/devoidc"
)

func start(t *testing.T, cfg devoidc.Config) *devoidc.Provider {
	t.Helper()
	p, err := devoidc.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestProvider(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := start(t, devoidc.Config{JWTAccessTokens: true, ShowUsers: true})

	t.Run("discovery on loopback, with PKCE and refresh tokens", func(t *testing.T) {
		if !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") || p.AltIssuer != "" {
			t.Fatalf("issuers %q, %q", p.Issuer, p.AltIssuer)
		}
		resp, err := http.Get(p.Issuer + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d struct {
			Issuer     string   `json:"issuer"`
			Auth       string   `json:"authorization_endpoint"`
			EndSession string   `json:"end_session_endpoint"`
			PKCE       []string `json:"code_challenge_methods_supported"`
			Grants     []string `json:"grant_types_supported"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
		if d.Issuer != p.Issuer || d.Auth != p.Issuer+"/auth" || d.EndSession == "" ||
			!strings.Contains(strings.Join(d.PKCE, " "), "S256") || !strings.Contains(strings.Join(d.Grants, " "), "refresh_token") {
			t.Errorf("discovery %+v", d)
		}
	})

	t.Run("fmn's public client logs in with PKCE; the token carries the user and groups", func(t *testing.T) {
		tok, err := p.LoginAt(ctx, p.Issuer, devoidc.ClientID, "", "root", devoidc.Password)
		if err != nil {
			t.Fatal(err)
		}
		claims := jwtClaims(t, tok.AccessToken)
		if claims["preferred_username"] != "root" || !strings.Contains(strings.Join(asStrings(claims["groups"]), ","), "sysadmin-main") {
			t.Errorf("access token claims %v", claims)
		}
		if aud := asStrings(claims["aud"]); len(aud) == 0 || aud[0] != devoidc.ClientID {
			t.Errorf("audience %v", claims["aud"])
		}
	})

	t.Run("a wrong password is refused on the form", func(t *testing.T) {
		if _, err := p.LoginAt(ctx, p.Issuer, devoidc.ClientID, "", "alice", "nope"); err == nil || !strings.Contains(err.Error(), "not accepted") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("a refused user comes back to the client with access_denied", func(t *testing.T) {
		_, err := p.LoginAt(ctx, p.Issuer, devoidc.ClientID, "", "mallory", devoidc.Password)
		if err == nil || !strings.Contains(err.Error(), "access_denied") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("the login page lists the users in development, and the site has an empty icon", func(t *testing.T) {
		body := get(t, p.Issuer+"/login/username?authRequestID=x", http.StatusOK)
		for _, want := range []string{`<label for="username">Username</label>`, "<code>alice</code>", "mallory</code> (refused)", "password <code>verysecure</code>"} {
			if !strings.Contains(body, want) {
				t.Errorf("login page lacks %q", want)
			}
		}
		get(t, p.Issuer+"/favicon.ico", http.StatusNoContent)
	})

	t.Run("redirects of fmn on any loopback port are accepted, others not", func(t *testing.T) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		auth := func(redirect string) *http.Response {
			q := url.Values{"client_id": {devoidc.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
				"scope": {"openid offline_access"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
			resp, err := c.Get(p.Issuer + "/auth?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		if r := auth("http://127.0.0.1:45678/auth/callback"); r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), "/login/username") {
			t.Errorf("loopback callback: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := auth("https://evil.example/auth/callback"); strings.HasPrefix(r.Header.Get("Location"), "/login/username") {
			t.Errorf("foreign callback accepted: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
	})
}

func get(t *testing.T, u string, status int) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", u, resp.StatusCode, status, b)
	}
	return string(b)
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s…", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func asStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TestIntrospection: fmn's client introspects with its secret (RFC 7662),
// and the answer names the client a token was issued to, whichever it is.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := start(t, devoidc.Config{})
	introspect := func(t *testing.T, user, secret, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+"/oauth/introspect",
			strings.NewReader(url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	var d struct {
		Introspection string `json:"introspection_endpoint"`
	}
	if err := json.Unmarshal([]byte(get(t, p.Issuer+"/.well-known/openid-configuration", http.StatusOK)), &d); err != nil || d.Introspection != p.Issuer+"/oauth/introspect" {
		t.Fatalf("introspection endpoint %q (%v)", d.Introspection, err)
	}
	mine, err := p.LoginAt(ctx, p.Issuer, devoidc.ClientID, "", "root", devoidc.Password)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := p.LoginAt(ctx, p.Issuer, devoidc.OtherClientID, devoidc.OtherClientSecret, "alice", devoidc.Password)
	if err != nil {
		t.Fatal(err)
	}

	code, m := introspect(t, devoidc.ClientID, devoidc.ClientSecret, mine.AccessToken)
	if code != http.StatusOK || m["active"] != true || m["client_id"] != devoidc.ClientID || m["username"] != "root" ||
		!strings.Contains(strings.Join(asStrings(m["groups"]), ","), "sysadmin-main") || m["sub"] != "id-root" {
		t.Errorf("fmn's token: %d %v", code, m)
	}
	code, m = introspect(t, devoidc.ClientID, devoidc.ClientSecret, theirs.AccessToken)
	if code != http.StatusOK || m["active"] != true || m["client_id"] != devoidc.OtherClientID || asStrings(m["aud"])[0] != devoidc.OtherClientID {
		t.Errorf("the other client's token: %d %v", code, m)
	}
	if code, m = introspect(t, devoidc.ClientID, devoidc.ClientSecret, "garbage"); code != http.StatusOK || m["active"] != false {
		t.Errorf("garbage: %d %v", code, m)
	}
	if code, _ = introspect(t, devoidc.ClientID, "wrong", mine.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	if code, _ = introspect(t, "", "", mine.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("no client authentication: %d", code)
	}
	p.SetMinimalIntrospection(true)
	code, m = introspect(t, devoidc.ClientID, devoidc.ClientSecret, mine.AccessToken)
	if code != http.StatusOK || m["active"] != true || m["client_id"] != devoidc.ClientID || m["sub"] != "id-root" || m["username"] != nil || m["groups"] != nil {
		t.Errorf("minimal answer: %d %v", code, m)
	}
	if n := p.IntrospectionCalls.Load(); n != 6 {
		t.Errorf("IntrospectionCalls = %d, want 6", n)
	}
}
