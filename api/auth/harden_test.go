package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api/auth"
	"github.com/fmn-project/fmn/api/auth/oidctest"
	jose "github.com/go-jose/go-jose/v4"
)

// clock is a Config.Now that tests move forward.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time             { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration)    { c.off.Add(int64(d)) }
func withClock(c *clock) func(*auth.Config) { return func(cfg *auth.Config) { cfg.Now = c.Now } }

func opaqueToken(t *testing.T, tok string) string {
	t.Helper()
	if strings.Count(tok, ".") == 2 {
		t.Fatalf("access token looks like a JWT: %.20s…", tok)
	}
	return tok
}

// TestOpaqueTokens: opaque access tokens go through token introspection
// with fmn's client credentials, and only fmn's own are accepted.
func TestOpaqueTokens(t *testing.T) {
	t.Parallel()

	t.Run("an opaque token of another client of the provider is refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok, err := b.op.LoginAt(b.ctx, b.op.Issuer, oidctest.OtherClientID, oidctest.OtherClientSecret, "root", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		theirs := opaqueToken(t, tok.AccessToken)
		// The provider's UserInfo answers for it, with the user: checking
		// the token there alone let any application's tokens in.
		req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, b.op.Issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+theirs)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("UserInfo refused the other client's token (%d): the test proves nothing", resp.StatusCode)
		}
		mustReject(t, b.oidc, theirs, `issued to another application (client "other-app")`)
		if n := b.op.IntrospectionCalls.Load(); n != 1 {
			t.Errorf("introspection calls = %d, want 1", n)
		}
	})

	t.Run("fmn's own opaque token is accepted, with the groups of the introspection answer", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok := opaqueToken(t, b.op.Login(t, "root").AccessToken)
		id, err := b.oidc.Authenticate(b.ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if id.Username != "root" || !id.Admin || id.Subject != "id-root" {
			t.Errorf("identity = %+v", id)
		}
		if n, u := b.op.IntrospectionCalls.Load(), b.op.UserInfoCalls.Load(); n != 1 || u != 0 {
			t.Errorf("introspection calls = %d, UserInfo calls = %d, want 1 and 0", n, u)
		}
		if known, ok := b.oidc.Known(tok); !ok || known.Username != id.Username || !known.Admin {
			t.Errorf("Known = %+v, %v", known, ok)
		}
		if _, ok := b.oidc.Known("never-seen"); ok {
			t.Error("an unseen token is Known")
		}
	})

	t.Run("an introspection answer without the username and groups: UserInfo after it", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.op.SetMinimalIntrospection(true)
		id, err := b.oidc.Authenticate(b.ctx, opaqueToken(t, b.op.Login(t, "bob").AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		if id.Username != "bob" || len(id.Groups) != 2 {
			t.Errorf("identity = %+v", id)
		}
		if n, u := b.op.IntrospectionCalls.Load(), b.op.UserInfoCalls.Load(); n != 1 || u != 1 {
			t.Errorf("introspection calls = %d, UserInfo calls = %d, want 1 and 1", n, u)
		}
		// Another client's token never gets as far as UserInfo.
		other, err := b.op.LoginAt(b.ctx, b.op.Issuer, oidctest.OtherClientID, oidctest.OtherClientSecret, "alice", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		mustReject(t, b.oidc, other.AccessToken, "another application")
		if u := b.op.UserInfoCalls.Load(); u != 1 {
			t.Errorf("UserInfo calls = %d, want still 1", u)
		}
	})

	t.Run("without a client secret opaque tokens are refused with the reason, at no cost", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *auth.Config) { c.ClientSecret = "" })
		mustReject(t, b.oidc, opaqueToken(t, b.op.Login(t, "alice").AccessToken), "FMN_OIDC_CLIENT_SECRET")
		if n, u := b.op.IntrospectionCalls.Load(), b.op.UserInfoCalls.Load(); n != 0 || u != 0 {
			t.Errorf("introspection calls = %d, UserInfo calls = %d, want none", n, u)
		}
		// JWTs are verified as before.
		b.op.SetJWTAccessTokens(true)
		if _, err := b.oidc.Authenticate(b.ctx, b.op.Login(t, "alice").AccessToken); err != nil {
			t.Errorf("JWT access token: %v", err)
		}
	})

	t.Run("a wrong client secret is the provider refusing fmn, not a bad token", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *auth.Config) { c.ClientSecret = "not-the-secret" })
		tok := opaqueToken(t, b.op.Login(t, "alice").AccessToken)
		for range 2 {
			_, err := b.oidc.Authenticate(b.ctx, tok)
			if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), "not-the-secret") {
				t.Errorf("the error shows the secret: %v", err)
			}
		}
		// Not remembered as a bad token: the next request asks again.
		if n := b.op.IntrospectionCalls.Load(); n != 2 {
			t.Errorf("introspection calls = %d, want 2", n)
		}
	})

	t.Run("not a bearer token at all: refused without asking", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		mustReject(t, b.oidc, "a b", "not a bearer token")
		mustReject(t, b.oidc, "tok\x00en", "not a bearer token")
		if n := b.op.IntrospectionCalls.Load(); n != 0 {
			t.Errorf("introspection calls = %d", n)
		}
	})
}

// TestNegativeCache: a refused token is refused again without asking the
// provider, for NegativeTTL.
func TestNegativeCache(t *testing.T) {
	t.Parallel()

	t.Run("a garbage token sent 500 times costs one provider call", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for range 500 {
			mustReject(t, b.oidc, "garbage-token-0123456789", "not active")
		}
		if n := b.op.IntrospectionCalls.Load(); n != 1 {
			t.Errorf("introspection calls = %d, want 1", n)
		}
		if h := b.oidc.Stats.NegativeHits.Load(); h != 499 {
			t.Errorf("negative cache hits = %d, want 499", h)
		}
	})

	t.Run("a refused JWT too, and only for NegativeTTL", func(t *testing.T) {
		t.Parallel()
		c := &clock{}
		b := setup(t, withClock(c), func(cfg *auth.Config) { cfg.NegativeTTL = 30 * time.Second })
		tok, err := b.op.LoginAt(b.ctx, b.op.Issuer, oidctest.OtherClientID, oidctest.OtherClientSecret, "alice", oidctest.Password)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			mustReject(t, b.oidc, tok.IDToken, "audience")
			mustReject(t, b.oidc, "garbage-token-0123456789", "not active")
		}
		if h := b.oidc.Stats.NegativeHits.Load(); h != 4 {
			t.Errorf("negative cache hits = %d, want 4", h)
		}
		c.Advance(31 * time.Second)
		mustReject(t, b.oidc, "garbage-token-0123456789", "not active")
		if n := b.op.IntrospectionCalls.Load(); n != 2 {
			t.Errorf("introspection calls = %d, want 2 (asked again after the TTL)", n)
		}
	})

	t.Run("off with a negative TTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(cfg *auth.Config) { cfg.NegativeTTL = -1 })
		for range 3 {
			mustReject(t, b.oidc, "garbage-token-0123456789", "not active")
		}
		if n := b.op.IntrospectionCalls.Load(); n != 3 {
			t.Errorf("introspection calls = %d, want 3", n)
		}
	})
}

// TestForgedJWTFlood: forged JWTs do not make fmn fetch the key set each
// time (go-oidc's remote key set fetches it after every signature it
// cannot verify).
func TestForgedJWTFlood(t *testing.T) {
	t.Parallel()
	c := &clock{}
	b := setup(t, withClock(c))
	tok := b.op.Login(t, "alice")
	if _, err := b.oidc.Authenticate(b.ctx, tok.IDToken); err != nil {
		t.Fatal(err)
	}
	if n := b.op.KeySetCalls.Load(); n != 1 {
		t.Fatalf("key set fetches = %d after the first JWT, want 1", n)
	}
	h, p, _ := split(t, tok.IDToken)
	var head map[string]any
	decode(t, h, &head)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(kid string, i int) string {
		var claims map[string]any
		decode(t, p, &claims)
		claims["nonce"] = fmt.Sprint(i) // every token different
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(encode(t, claims))
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var forged []string
	for i := range 100 {
		forged = append(forged, forge(fmt.Sprintf("unknown-%d", i), i), forge(head["kid"].(string), i))
	}
	var accepted atomic.Int64
	check := func(f string) {
		if _, err := b.oidc.Authenticate(context.Background(), f); err == nil {
			accepted.Add(1)
		} else if !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("err = %v, want an invalid token", err)
		}
	}
	// Half one after the other, half at once.
	for _, f := range forged[:100] {
		check(f)
	}
	var wg sync.WaitGroup
	for _, f := range forged[100:] {
		wg.Go(func() { check(f) })
	}
	wg.Wait()
	if accepted.Load() != 0 {
		t.Fatalf("%d forged JWTs accepted", accepted.Load())
	}
	if n := b.op.KeySetCalls.Load(); n > 2 {
		t.Errorf("key set fetches = %d for 200 forged JWTs, want at most 2", n)
	}
	if n, u := b.op.IntrospectionCalls.Load(), b.op.UserInfoCalls.Load(); n != 0 || u != 0 {
		t.Errorf("forged JWTs went to introspection (%d) or UserInfo (%d)", n, u)
	}

	// A bad signature under the provider's key id is remembered as bad; an
	// unknown key id is not (the provider may publish the key soon).
	hits := b.oidc.Stats.NegativeHits.Load()
	mustReject(t, b.oidc, forged[1], "signature")
	if got := b.oidc.Stats.NegativeHits.Load(); got != hits+1 {
		t.Errorf("a known kid's bad signature: negative hits %d → %d, want +1", hits, got)
	}
	mustReject(t, b.oidc, forged[0], "does not list")
	if got := b.oidc.Stats.NegativeHits.Load(); got != hits+1 {
		t.Errorf("an unknown kid: negative hits %d → %d, want unchanged", hits, got)
	}

	// After KeyRefreshInterval, an unknown key id fetches the set once more.
	before := b.op.KeySetCalls.Load()
	c.Advance(31 * time.Second)
	for _, f := range forged[:20] {
		mustReject(t, b.oidc, f, "")
	}
	if n := b.op.KeySetCalls.Load() - before; n != 1 {
		t.Errorf("key set fetches after the interval = %d, want 1", n)
	}
	// Real tokens still verify.
	if _, err := b.oidc.Authenticate(b.ctx, b.op.Login(t, "bob").IDToken); err != nil {
		t.Errorf("a real ID token after the flood: %v", err)
	}
}
