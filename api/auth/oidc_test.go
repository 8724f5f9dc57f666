package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api/auth"
	"github.com/fmn-project/fmn/api/auth/oidctest"
	"github.com/fmn-project/fmn/fmntest"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/redis/rueidis"
)

func TestMain(m *testing.M) {
	// The example OP logs every request through slog's default logger.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	m.Run()
}

type bundle struct {
	ctx    context.Context
	op     *oidctest.Provider
	oidc   *auth.OIDC
	redis  rueidis.Client
	prefix string
}

func setup(t *testing.T, mods ...func(*auth.Config)) *bundle {
	t.Helper()
	b := &bundle{ctx: fmntest.Context(t), op: oidctest.Start(t), prefix: fmntest.RedisPrefix(t)}
	opt, err := rueidis.ParseURL(fmntest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	b.redis, err = rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", fmntest.RedisURL(), err)
	}
	t.Cleanup(b.redis.Close)
	cfg := auth.Config{
		Issuer: b.op.Issuer, ClientID: oidctest.ClientID, ClientSecret: oidctest.ClientSecret,
		AdminGroups: []string{"sysadmin-main"}, Redis: b.redis, RedisPrefix: b.prefix,
	}
	for _, m := range mods {
		m(&cfg)
	}
	b.oidc, err = auth.NewOIDC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustReject(t *testing.T, o *auth.OIDC, token, wantReason string) {
	t.Helper()
	id, err := o.Authenticate(context.Background(), token)
	if err == nil {
		t.Fatalf("token accepted as %+v", id)
	}
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("error %v is not ErrInvalidToken", err)
	}
	if !strings.Contains(err.Error(), wantReason) {
		t.Errorf("error %q does not mention %q", err, wantReason)
	}
}

func TestOIDC(t *testing.T) {
	t.Parallel()

	t.Run("JWT access token from a login flow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.op.SetJWTAccessTokens(true)
		tok := b.op.Login(t, "alice")
		if !strings.Contains(tok.AccessToken, ".") {
			t.Fatalf("access token is not a JWT: %.20s…", tok.AccessToken)
		}
		id, err := b.oidc.Authenticate(b.ctx, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if id.Username != "alice" || id.Admin || len(id.Groups) != 1 || id.Subject != "id-alice" {
			t.Errorf("identity = %+v", id)
		}
		if n, m := b.op.UserInfoCalls.Load(), b.op.IntrospectionCalls.Load(); n != 0 || m != 0 {
			t.Errorf("a valid JWT cost %d UserInfo and %d introspection calls", n, m)
		}
	})

	t.Run("ID token, admin by group", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok := b.op.Login(t, "root")
		id, err := b.oidc.Authenticate(b.ctx, tok.IDToken)
		if err != nil {
			t.Fatal(err)
		}
		if id.Username != "root" || !id.Admin {
			t.Errorf("identity = %+v, want root as admin", id)
		}
	})

	t.Run("opaque access token through introspection, cached", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok := b.op.Login(t, "bob")
		if strings.Count(tok.AccessToken, ".") == 2 {
			t.Fatalf("access token looks like a JWT")
		}
		for i := range 3 {
			id, err := b.oidc.Authenticate(b.ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if id.Username != "bob" || id.Admin || len(id.Groups) != 2 {
				t.Errorf("identity = %+v", id)
			}
		}
		if n, u := b.op.IntrospectionCalls.Load(), b.op.UserInfoCalls.Load(); n != 1 || u != 0 {
			t.Errorf("introspection calls = %d, UserInfo calls = %d, want 1 and 0 (then the cache)", n, u)
		}
		if h := b.oidc.Stats.CacheHits.Load(); h != 2 {
			t.Errorf("cache hits = %d, want 2", h)
		}
		// Another process (same Redis) uses the cache too.
		other, err := auth.NewOIDC(auth.Config{Issuer: b.op.Issuer, ClientID: oidctest.ClientID, ClientSecret: oidctest.ClientSecret,
			Redis: b.redis, RedisPrefix: b.prefix})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := other.Authenticate(b.ctx, tok.AccessToken); err != nil || id.Username != "bob" {
			t.Errorf("second process: %+v, %v", id, err)
		}
		if n := b.op.IntrospectionCalls.Load(); n != 1 {
			t.Errorf("introspection calls = %d after a second process, want 1", n)
		}
		// The cache key is a hash: the token itself is nowhere in Redis.
		keys, err := b.redis.Do(b.ctx, b.redis.B().Keys().Pattern(b.prefix+"auth:token:*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 {
			t.Errorf("token cache keys: %q", keys)
		}
		for _, k := range keys {
			if strings.Contains(k, tok.AccessToken) {
				t.Errorf("token in a Redis key: %s", k)
			}
		}
	})

	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.op.SetIDTokenLifetime(-time.Minute)
		tok := b.op.Login(t, "alice")
		mustReject(t, b.oidc, tok.IDToken, "expired")
	})

	t.Run("wrong audience", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok, err := b.op.LoginAt(b.ctx, b.op.Issuer, oidctest.OtherClientID, oidctest.OtherClientSecret, "alice", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		mustReject(t, b.oidc, tok.IDToken, "audience")
	})

	t.Run("wrong issuer, same keys", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok, err := b.op.LoginAt(b.ctx, b.op.AltIssuer, oidctest.ClientID, oidctest.ClientSecret, "alice", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		mustReject(t, b.oidc, tok.IDToken, "different provider")
	})

	t.Run("tampered, never passed to UserInfo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok := b.op.Login(t, "alice")
		h, p, s := split(t, tok.IDToken)
		var claims map[string]any
		decode(t, p, &claims)
		claims["preferred_username"] = "root"
		claims["groups"] = []string{"sysadmin-main"}
		mustReject(t, b.oidc, h+"."+encode(t, claims)+"."+s, "signature")
		if n := b.op.UserInfoCalls.Load(); n != 0 {
			t.Errorf("a failed JWT went to UserInfo (%d calls)", n)
		}
	})

	t.Run("alg none", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok := b.op.Login(t, "alice")
		_, p, _ := split(t, tok.IDToken)
		none := encode(t, map[string]string{"alg": "none", "typ": "JWT"})
		for _, forged := range []string{none + "." + p + ".", none + "." + p + ".c2ln"} {
			mustReject(t, b.oidc, forged, "")
		}
		if n := b.op.UserInfoCalls.Load(); n != 0 {
			t.Errorf("an alg:none token went to UserInfo (%d calls)", n)
		}
	})

	t.Run("foreign key with the provider's kid", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok := b.op.Login(t, "alice")
		h, p, _ := split(t, tok.IDToken)
		var head map[string]any
		decode(t, h, &head)
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", head["kid"]))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(p)
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		mustReject(t, b.oidc, forged, "signature")
	})

	t.Run("unknown opaque token", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		mustReject(t, b.oidc, "not-a-token-the-provider-issued", "not active")
	})

	t.Run("provider down is unavailable, not invalid", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		o, err := auth.NewOIDC(auth.Config{Issuer: "http://" + addr, ClientID: "fmn"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.Authenticate(context.Background(), "whatever")
		if !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestCheckIssuer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		issuer string
		ok     bool
	}{
		{"https://id.fedoraproject.org", true},
		{"http://127.0.0.1:5556/dex", true},
		{"http://[::1]:8080", true},
		{"http://localhost:8080", true},
		{"http://id.example.org", false},
		{"http://10.0.0.1", false},
		{"ftp://id.example.org", false},
		{"id.example.org", false},
	} {
		err := auth.CheckIssuer(tt.issuer)
		if (err == nil) != tt.ok {
			t.Errorf("CheckIssuer(%q) = %v, want ok=%v", tt.issuer, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "FMN_OIDC_ISSUER") {
			t.Errorf("error %q does not name the setting", err)
		}
	}
}

func split(t *testing.T, jwt string) (string, string, string) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

func decode(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
