package auth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIdentityFromClaims(t *testing.T) {
	t.Parallel()
	o := &OIDC{cfg: Config{AdminGroups: []string{"sysadmin-main", "fmn-admins"}}}
	for _, tt := range []struct {
		name   string
		claims claims
		user   string
		admin  bool
		groups int
		bad    bool
	}{
		{"preferred_username first", claims{Subject: "s1", PreferredUsername: "alice", Nickname: "ali"}, "alice", false, 0, false},
		{"then nickname", claims{Subject: "s1", Nickname: "ali"}, "ali", false, 0, false},
		{"then sub", claims{Subject: "s1"}, "s1", false, 0, false},
		{"nobody", claims{}, "", false, 0, true},
		{"a space is not a username", claims{PreferredUsername: "al ice"}, "", false, 0, true},
		{"admin by any admin group", claims{PreferredUsername: "root", Groups: json.RawMessage(`["packager","fmn-admins"]`)}, "root", true, 2, false},
		{"one group as a string", claims{PreferredUsername: "root", Groups: json.RawMessage(`"sysadmin-main"`)}, "root", true, 1, false},
		{"groups of another shape", claims{PreferredUsername: "root", Groups: json.RawMessage(`{"a":1}`)}, "", false, 0, true},
		{"null groups", claims{PreferredUsername: "bob", Groups: json.RawMessage(`null`)}, "bob", false, 0, false},
	} {
		id, err := o.identity(tt.claims)
		if tt.bad {
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%s: err = %v, want an invalid token", tt.name, err)
			}
			continue
		}
		if err != nil || id.Username != tt.user || id.Admin != tt.admin || len(id.Groups) != tt.groups {
			t.Errorf("%s: %+v, %v", tt.name, id, err)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	t.Parallel()
	for tok, want := range map[string]bool{
		"eyJhbGciOiJSUzI1NiJ9.e30.c2ln":     true,  // {"alg":"RS256"}
		"eyJhbGciOiJub25lIn0.e30.":          true,  // alg none: a JWT, which must verify
		"eyJ0eXAiOiJKV1QifQ.e30.c2ln":       false, // no alg
		"abc.def.ghi":                       false,
		"opaque-token":                      false,
		"eyJhbGciOiJSUzI1NiJ9.a.b.c.d":      false, // five parts: a JWE, opaque to fmn
		"eyJhbGciOiJSUzI1NiJ9.e30.c2ln.x.y": false,
	} {
		if got := looksLikeJWT(tok); got != want {
			t.Errorf("looksLikeJWT(%q) = %v, want %v", tok, got, want)
		}
	}
}

func TestCheckIntrospection(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	o := &OIDC{cfg: Config{Issuer: "https://id.example.org", ClientID: "fmn", Now: func() time.Time { return now }}}
	for _, tt := range []struct {
		name, answer, reason string
	}{
		{"active, fmn's client", `{"active":true,"client_id":"fmn","exp":1700000060,"sub":"s"}`, ""},
		{"aud only, a string", `{"active":true,"aud":"fmn"}`, ""},
		{"aud only, a list", `{"active":true,"aud":["api","fmn"]}`, ""},
		{"client_id wins over aud", `{"active":true,"client_id":"other","aud":["fmn"]}`, "another application"},
		{"inactive", `{"active":false}`, "not active"},
		{"another client", `{"active":true,"client_id":"other"}`, "another application"},
		{"another audience", `{"active":true,"aud":["other"]}`, "meant for"},
		{"no client named", `{"active":true,"sub":"s"}`, "neither client_id nor aud"},
		{"another issuer", `{"active":true,"client_id":"fmn","iss":"https://evil.example.org"}`, "different provider"},
		{"a refresh token", `{"active":true,"client_id":"fmn","token_type":"refresh_token"}`, "refresh token"},
		{"expired", `{"active":true,"client_id":"fmn","exp":1699999999}`, "expired"},
	} {
		var ans introspection
		if err := json.Unmarshal([]byte(tt.answer), &ans); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		_, err := o.checkIntrospection(ans)
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.reason != "" && (!errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.reason)):
			t.Errorf("%s: err = %v, want an invalid token saying %q", tt.name, err, tt.reason)
		}
	}
	var ans introspection
	_ = json.Unmarshal([]byte(`{"active":true,"client_id":"fmn","exp":-5}`), &ans)
	if _, err := o.checkIntrospection(ans); err == nil {
		t.Error("an unusable exp was accepted")
	}
}
