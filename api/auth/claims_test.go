package auth

import (
	"encoding/json"
	"errors"
	"testing"
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
