// Package auth turns the bearer token of an API request into an Identity.
// JWTs (ID tokens or JWT access tokens) are verified with go-oidc against
// the configured issuer: signature, issuer, audience (the client id) and
// expiry. Opaque access tokens are resolved through the provider's UserInfo
// endpoint, and the answer is cached briefly in Redis under a hash of the
// token, never the token itself. A JWT that fails verification is refused
// outright: it is never passed on to UserInfo.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/redis/rueidis"
)

// Identity is who made a request.
type Identity struct {
	// Username is the preferred_username claim, else nickname, else sub.
	Username string
	// Subject is the sub claim.
	Subject string
	// Groups is the groups claim.
	Groups []string
	// Admin is true when Groups holds one of the admin groups.
	Admin bool
}

// Errors of Authenticate. The API maps ErrInvalidToken to 401 and
// ErrUnavailable and ErrNotConfigured to 503.
var (
	// ErrInvalidToken: the token is not one this service accepts (bad
	// signature, foreign issuer or audience, expired, unknown to UserInfo).
	ErrInvalidToken = errors.New("invalid token")
	// ErrUnavailable: the provider could not be asked (discovery, JWKS or
	// UserInfo failed for reasons other than the token).
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrNotConfigured: no issuer is configured, so nobody can log in.
	ErrNotConfigured = errors.New("login is not configured: set FMN_OIDC_ISSUER and FMN_OIDC_CLIENT_ID")
)

// TokenError is an ErrInvalidToken with the reason, meant for the client
// (it never contains the token).
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "invalid token: " + e.Reason }

// Is makes errors.Is(err, ErrInvalidToken) hold.
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

func invalid(format string, args ...any) error {
	return &TokenError{Reason: fmt.Sprintf(format, args...)}
}

// Config configures OIDC. Zero fields take the defaults.
type Config struct {
	// Issuer is FMN_OIDC_ISSUER. An http:// issuer is accepted only on a
	// loopback address (development and tests).
	Issuer string
	// ClientID is FMN_OIDC_CLIENT_ID, the audience every JWT must carry.
	ClientID string
	// AdminGroups are FMN_ADMIN_GROUPS.
	AdminGroups []string
	// Redis caches UserInfo answers; nil disables the cache.
	Redis rueidis.Client
	// RedisPrefix prefixes the cache keys (FMN_REDIS_PREFIX).
	RedisPrefix string
	// CacheTTL bounds how long a UserInfo answer is reused (default 1 minute).
	CacheTTL time.Duration
	// HTTPClient talks to the provider (default: 10s timeout).
	HTTPClient *http.Client
	// RetryDiscovery is the pause after a failed discovery before the next
	// attempt (default 5s); requests meanwhile get ErrUnavailable.
	RetryDiscovery time.Duration
	// MaxTokenLen refuses longer tokens without looking at them (default 16 KiB).
	MaxTokenLen int
	// Now is the verifier's clock (tests).
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Stats count the work of an OIDC, for metrics.
type Stats struct {
	JWTAccepted, JWTRejected       atomic.Int64
	OpaqueAccepted, OpaqueRejected atomic.Int64
	CacheHits, CacheMisses         atomic.Int64
	UserInfoCalls                  atomic.Int64
}

// OIDC authenticates bearer tokens of one issuer.
type OIDC struct {
	cfg   Config
	Stats Stats

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	userinfo string
	failedAt time.Time
	lastErr  error

	// recent holds the UserInfo answers this process fetched, so that
	// its next requests with the token do not depend on Redis' client-side
	// copy of the key having been invalidated yet (a GET that missed just
	// before our SET leaves a cached nil until the invalidation arrives).
	recentMu sync.Mutex
	recent   map[string]recentClaims
}

// recentClaims is a UserInfo answer kept in process until expires.
type recentClaims struct {
	c       claims
	expires time.Time
}

// maxRecent bounds OIDC.recent; past it, expired entries go, then all.
const maxRecent = 4096

func (o *OIDC) recentGet(key string) (claims, bool) {
	o.recentMu.Lock()
	defer o.recentMu.Unlock()
	e, ok := o.recent[key]
	if !ok {
		return claims{}, false
	}
	if time.Now().After(e.expires) {
		delete(o.recent, key)
		return claims{}, false
	}
	return e.c, true
}

func (o *OIDC) recentPut(key string, c claims, ttl time.Duration) {
	o.recentMu.Lock()
	defer o.recentMu.Unlock()
	now := time.Now()
	if len(o.recent) >= maxRecent {
		for k, e := range o.recent {
			if now.After(e.expires) {
				delete(o.recent, k)
			}
		}
		if len(o.recent) >= maxRecent {
			clear(o.recent)
		}
	}
	if o.recent == nil {
		o.recent = make(map[string]recentClaims)
	}
	o.recent[key] = recentClaims{c: c, expires: now.Add(ttl)}
}

// NewOIDC checks cfg and returns an authenticator. Discovery happens on
// first use (and is retried after a failure), so that fmn starts while the
// provider is down; call Discover to try at once.
func NewOIDC(cfg Config) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, ErrNotConfigured
	}
	if err := CheckIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errors.New("FMN_OIDC_CLIENT_ID: must be set when FMN_OIDC_ISSUER is")
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RetryDiscovery <= 0 {
		cfg.RetryDiscovery = 5 * time.Second
	}
	if cfg.MaxTokenLen <= 0 {
		cfg.MaxTokenLen = 16 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &OIDC{cfg: cfg}, nil
}

// CheckIssuer accepts an https issuer URL, or an http one whose host is a
// loopback address or localhost.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("FMN_OIDC_ISSUER: %q is not an absolute URL", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("FMN_OIDC_ISSUER: an http:// issuer is accepted only on a loopback address (development); use https:// for %s", host)
	}
	return fmt.Errorf("FMN_OIDC_ISSUER: scheme must be https (or http on loopback), got %q", u.Scheme)
}

// Discover fetches the provider's configuration unless it has it already.
func (o *OIDC) Discover(ctx context.Context) error {
	_, _, err := o.discovered(ctx)
	return err
}

func (o *OIDC) discovered(ctx context.Context) (*oidc.IDTokenVerifier, string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, o.userinfo, nil
	}
	if !o.failedAt.IsZero() && time.Since(o.failedAt) < o.cfg.RetryDiscovery {
		return nil, "", o.lastErr
	}
	// The provider keeps this context for its key set: it must outlive
	// the request that happens to trigger discovery.
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), o.cfg.HTTPClient)
	dctx, cancel := context.WithTimeout(pctx, o.cfg.HTTPClient.Timeout+time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		o.failedAt = time.Now()
		o.lastErr = fmt.Errorf("%w: discovery at %s failed: %v", ErrUnavailable, o.cfg.Issuer, err)
		o.cfg.Logger.Warn("OpenID Connect discovery failed", slog.String("issuer", o.cfg.Issuer), slog.Any("error", err))
		return nil, "", o.lastErr
	}
	o.provider = p
	o.verifier = p.VerifierContext(pctx, &oidc.Config{ClientID: o.cfg.ClientID, Now: o.cfg.Now})
	o.userinfo = p.UserInfoEndpoint()
	return o.verifier, o.userinfo, nil
}

// Authenticate returns the identity of a bearer token.
func (o *OIDC) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, invalid("empty token")
	}
	if len(token) > o.cfg.MaxTokenLen {
		return Identity{}, invalid("token is longer than %d bytes", o.cfg.MaxTokenLen)
	}
	verifier, userinfo, err := o.discovered(ctx)
	if err != nil {
		return Identity{}, err
	}
	if looksLikeJWT(token) {
		id, err := o.verifyJWT(ctx, verifier, token)
		if err != nil {
			o.Stats.JWTRejected.Add(1)
			return Identity{}, err
		}
		o.Stats.JWTAccepted.Add(1)
		return id, nil
	}
	id, err := o.opaque(ctx, userinfo, token)
	switch {
	case err == nil:
		o.Stats.OpaqueAccepted.Add(1)
	case errors.Is(err, ErrInvalidToken):
		o.Stats.OpaqueRejected.Add(1)
	}
	return id, err
}

func (o *OIDC) verifyJWT(ctx context.Context, v *oidc.IDTokenVerifier, token string) (Identity, error) {
	t, err := v.Verify(ctx, token)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return Identity{}, invalid("token expired at %s; log in again", expired.Expiry.UTC().Format(time.RFC3339))
		}
		// go-oidc reports a JWKS it cannot fetch as a failed signature;
		// either way the token is not accepted.
		return Identity{}, invalid("%s", strings.TrimPrefix(err.Error(), "oidc: "))
	}
	var c claims
	if err := t.Claims(&c); err != nil {
		return Identity{}, invalid("claims: %v", err)
	}
	return o.identity(c)
}

// claims are the ones fmn reads, from a JWT or a UserInfo answer.
type claims struct {
	Subject           string          `json:"sub"`
	PreferredUsername string          `json:"preferred_username"`
	Nickname          string          `json:"nickname"`
	Groups            json.RawMessage `json:"groups,omitempty"`
}

func (o *OIDC) identity(c claims) (Identity, error) {
	name := c.PreferredUsername
	if name == "" {
		name = c.Nickname
	}
	if name == "" {
		name = c.Subject
	}
	if name == "" {
		return Identity{}, invalid("token names nobody (no preferred_username, nickname or sub claim)")
	}
	if !plausibleName(name) {
		return Identity{}, invalid("username claim %q is not usable", name)
	}
	groups, err := groupList(c.Groups)
	if err != nil {
		return Identity{}, invalid("groups claim: %v", err)
	}
	id := Identity{Username: name, Subject: c.Subject, Groups: groups}
	id.Admin = slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(o.cfg.AdminGroups, g) })
	return id, nil
}

// groupList accepts a list of strings or a single string.
func groupList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, errors.New("want a list of group names")
	}
	return []string{one}, nil
}

func plausibleName(s string) bool {
	if len(s) > 255 {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// looksLikeJWT reports whether token is a signed JWT (a JWS in compact
// form): three segments, the first a JSON object with an "alg". Such a token
// must verify; it is never treated as opaque. An encrypted token (JWE, five
// segments) is meant for the provider alone and is opaque to fmn.
func looksLikeJWT(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(head, "="))
	if err != nil {
		return false
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	_, ok := h["alg"]
	return ok
}

// opaque resolves an opaque access token through UserInfo, with the
// answer cached under the token's hash.
func (o *OIDC) opaque(ctx context.Context, endpoint, token string) (Identity, error) {
	if endpoint == "" {
		return Identity{}, invalid("not a JWT, and the provider has no UserInfo endpoint to resolve opaque tokens")
	}
	sum := sha256.Sum256([]byte(token))
	key := o.cfg.RedisPrefix + "auth:userinfo:" + hex.EncodeToString(sum[:])
	if o.cfg.Redis != nil {
		if c, ok := o.recentGet(key); ok {
			o.Stats.CacheHits.Add(1)
			return o.identity(c)
		}
		b, err := o.cfg.Redis.DoCache(ctx, o.cfg.Redis.B().Get().Key(key).Cache(), o.cfg.CacheTTL).AsBytes()
		if err == nil {
			var c claims
			if json.Unmarshal(b, &c) == nil {
				o.Stats.CacheHits.Add(1)
				return o.identity(c)
			}
		} else if !rueidis.IsRedisNil(err) {
			o.cfg.Logger.WarnContext(ctx, "read UserInfo cache", slog.Any("error", err))
		}
	}
	o.Stats.CacheMisses.Add(1)
	c, raw, err := o.fetchUserInfo(ctx, endpoint, token)
	if err != nil {
		return Identity{}, err
	}
	id, err := o.identity(c)
	if err != nil {
		return Identity{}, err
	}
	if o.cfg.Redis != nil {
		ttl := o.cfg.CacheTTL
		cmd := o.cfg.Redis.B().Set().Key(key).Value(rueidis.BinaryString(raw)).Px(ttl).Build()
		if err := o.cfg.Redis.Do(ctx, cmd).Error(); err != nil {
			o.cfg.Logger.WarnContext(ctx, "write UserInfo cache", slog.Any("error", err))
		}
		o.recentPut(key, c, ttl)
	}
	return id, nil
}

func (o *OIDC) fetchUserInfo(ctx context.Context, endpoint, token string) (claims, []byte, error) {
	o.Stats.UserInfoCalls.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return claims{}, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		// The error names the URL, never the token.
		return claims{}, nil, fmt.Errorf("%w: UserInfo: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return claims{}, nil, fmt.Errorf("%w: UserInfo: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return claims{}, nil, invalid("the provider does not know this access token (UserInfo answered %d)", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return claims{}, nil, fmt.Errorf("%w: UserInfo answered %s", ErrUnavailable, resp.Status)
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil {
		return claims{}, nil, fmt.Errorf("%w: UserInfo answer is not JSON: %v", ErrUnavailable, err)
	}
	if c.Subject == "" {
		return claims{}, nil, fmt.Errorf("%w: UserInfo answer has no sub", ErrUnavailable)
	}
	raw, _ := json.Marshal(c)
	return c, raw, nil
}
