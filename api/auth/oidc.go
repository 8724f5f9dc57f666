// Package auth turns the bearer token of an API request into an Identity.
//
// JWTs (ID tokens or JWT access tokens) are verified locally with go-oidc
// against the configured issuer: signature, issuer, audience (the client
// id) and expiry. They never go to the provider's introspection or UserInfo
// endpoints; a JWT that fails verification is refused outright. The key set
// is fetched from the provider's jwks_uri, and fetched again for a key id it
// does not hold at most once per Config.KeyRefreshInterval, so that forged
// JWTs cannot make fmn hammer the provider.
//
// Opaque access tokens are checked through token introspection (RFC 7662),
// authenticated with fmn's client id and secret: the token must be active
// and issued to fmn's client (client_id, else aud, names
// FMN_OIDC_CLIENT_ID). The identity comes from the introspection answer, or
// from UserInfo when the answer lacks the username or groups. Without a
// client secret, or when the provider offers no introspection endpoint,
// opaque tokens are refused.
//
// Accepted tokens are remembered briefly (in process, and for opaque tokens
// in Redis under a hash of the token, never the token itself); refused ones
// too, in process (Config.NegativeTTL), so that a token sent again and again
// costs the provider nothing.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	// Username is the preferred_username claim, else username (of an
	// introspection answer), else nickname, else sub.
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
	// signature, foreign issuer or audience, expired, inactive or issued to
	// another client at introspection).
	ErrInvalidToken = errors.New("invalid token")
	// ErrUnavailable: the provider could not be asked (discovery, key set,
	// introspection or UserInfo failed for reasons other than the token).
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrNotConfigured: no issuer is configured, so nobody can log in.
	ErrNotConfigured = errors.New("login is not configured: set FMN_OIDC_ISSUER and FMN_OIDC_CLIENT_ID")
)

// TokenError is an ErrInvalidToken with the reason, meant for the client
// (it never contains the token).
type TokenError struct {
	Reason string
	// transient: the token may be accepted a little later (a JWT signed
	// with a key id fmn cannot fetch yet), so it is not remembered as bad.
	transient bool
}

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
	// ClientID is FMN_OIDC_CLIENT_ID, the audience every JWT must carry
	// and the client an opaque token must have been issued to.
	ClientID string
	// ClientSecret is FMN_OIDC_CLIENT_SECRET: with ClientID it
	// authenticates fmn at the introspection endpoint. Empty: opaque access
	// tokens are refused.
	ClientSecret string
	// AdminGroups are FMN_ADMIN_GROUPS.
	AdminGroups []string
	// Redis caches the identities of opaque tokens across processes; nil
	// keeps them in process only.
	Redis rueidis.Client
	// RedisPrefix prefixes the cache keys (FMN_REDIS_PREFIX).
	RedisPrefix string
	// CacheTTL bounds how long an accepted token is trusted without asking
	// again (default 1 minute; never past the token's expiry).
	CacheTTL time.Duration
	// NegativeTTL is how long a refused token is refused again without
	// looking at it (FMN_AUTH_NEGATIVE_CACHE; default 30s, negative: off).
	NegativeTTL time.Duration
	// KeyRefreshInterval is the least time between two fetches of the key
	// set for JWTs signed with a key id fmn does not know (default 30s).
	// A JWT with a known key id and a bad signature never causes a fetch
	// while the key set is younger than an hour.
	KeyRefreshInterval time.Duration
	// HTTPClient talks to the provider (default: 10s timeout).
	HTTPClient *http.Client
	// RetryDiscovery is the pause after a failed discovery (or key set
	// fetch) before the next attempt (default 5s); requests meanwhile get
	// ErrUnavailable.
	RetryDiscovery time.Duration
	// MaxTokenLen refuses longer tokens without looking at them (default 16 KiB).
	MaxTokenLen int
	// Now is the clock of the verifier and the caches (tests).
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Stats count the work of an OIDC, for metrics.
type Stats struct {
	JWTAccepted, JWTRejected       atomic.Int64
	OpaqueAccepted, OpaqueRejected atomic.Int64
	// CacheHits and CacheMisses count the cache lookups of opaque tokens.
	CacheHits, CacheMisses atomic.Int64
	// NegativeHits counts tokens refused again from the negative cache.
	NegativeHits atomic.Int64
	// Calls to the provider.
	IntrospectionCalls, UserInfoCalls, KeySetFetches atomic.Int64
}

// OIDC authenticates bearer tokens of one issuer.
type OIDC struct {
	cfg   Config
	Stats Stats

	mu       sync.Mutex
	disc     *discovery
	failedAt time.Time
	lastErr  error

	// recent holds the tokens this process accepted, so that their next
	// requests cost neither a provider call nor a signature check, and do
	// not depend on Redis' client-side copy of a key having been
	// invalidated yet (a GET that missed just before our SET leaves a
	// cached nil until the invalidation arrives).
	recent memo[recentEntry]
	// refused holds the reasons of the tokens this process refused.
	refused memo[string]
}

// discovery is what fmn uses of the provider's configuration.
type discovery struct {
	verifier      *oidc.IDTokenVerifier
	keys          *keySet
	userinfo      string
	introspection string
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
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = 30 * time.Second
	}
	if cfg.KeyRefreshInterval <= 0 {
		cfg.KeyRefreshInterval = 30 * time.Second
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientSecret == "" {
		cfg.Logger.Warn("FMN_OIDC_CLIENT_SECRET is empty: opaque access tokens are refused (they need token introspection with fmn's client secret); JWTs (ID tokens, JWT access tokens) are verified as before")
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
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("FMN_OIDC_ISSUER: an http:// issuer is accepted only on a loopback address (development); use https:// for %s", u.Hostname())
	}
	return fmt.Errorf("FMN_OIDC_ISSUER: scheme must be https (or http on loopback), got %q", u.Scheme)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// safeEndpoint: fmn sends its client secret to an endpoint only over https,
// or http on loopback.
func safeEndpoint(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())
}

// Discover fetches the provider's configuration unless it has it already.
func (o *OIDC) Discover(ctx context.Context) error {
	_, err := o.discovered(ctx)
	return err
}

// signingAlgs are the JWS algorithms go-oidc verifies.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

func (o *OIDC) discovered(ctx context.Context) (*discovery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.disc != nil {
		return o.disc, nil
	}
	if !o.failedAt.IsZero() && time.Since(o.failedAt) < o.cfg.RetryDiscovery {
		return nil, o.lastErr
	}
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), o.cfg.HTTPClient)
	dctx, cancel := context.WithTimeout(pctx, o.cfg.HTTPClient.Timeout+time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	var meta struct {
		JWKS          string   `json:"jwks_uri"`
		Introspection string   `json:"introspection_endpoint"`
		Algs          []string `json:"id_token_signing_alg_values_supported"`
	}
	if err == nil {
		err = p.Claims(&meta)
	}
	if err == nil && meta.JWKS == "" {
		err = errors.New("the configuration has no jwks_uri")
	}
	if err != nil {
		o.failedAt = time.Now()
		o.lastErr = fmt.Errorf("%w: discovery at %s failed: %v", ErrUnavailable, o.cfg.Issuer, err)
		o.cfg.Logger.Warn("OpenID Connect discovery failed", slog.String("issuer", o.cfg.Issuer), slog.Any("error", err))
		return nil, o.lastErr
	}
	var algs []string
	for _, a := range meta.Algs {
		if slices.Contains(signingAlgs, a) {
			algs = append(algs, a)
		}
	}
	d := &discovery{
		keys:     newKeySet(meta.JWKS, o.cfg, &o.Stats),
		userinfo: p.UserInfoEndpoint(),
	}
	d.verifier = oidc.NewVerifier(o.cfg.Issuer, d.keys, &oidc.Config{ClientID: o.cfg.ClientID, Now: o.cfg.Now, SupportedSigningAlgs: algs})
	log := o.cfg.Logger.With(slog.String("issuer", o.cfg.Issuer))
	switch {
	case meta.Introspection == "":
		log.Warn("the OpenID Connect provider announces no introspection_endpoint: opaque access tokens are refused, only JWTs are accepted")
	case !safeEndpoint(meta.Introspection):
		log.Warn("the OpenID Connect provider's introspection_endpoint is not https: fmn does not send its client secret there, and opaque access tokens are refused",
			slog.String("introspection_endpoint", meta.Introspection))
	default:
		d.introspection = meta.Introspection
		if o.cfg.ClientSecret != "" {
			log.Info("OpenID Connect provider discovered: JWTs are verified locally, opaque access tokens through token introspection",
				slog.String("introspection_endpoint", meta.Introspection))
		}
	}
	o.disc = d
	return d, nil
}

// Authenticate returns the identity of a bearer token.
func (o *OIDC) Authenticate(ctx context.Context, token string) (Identity, error) {
	if err := o.precheck(token); err != nil {
		return Identity{}, err
	}
	jwt := looksLikeJWT(token)
	sum := sha256.Sum256([]byte(token))
	now := o.cfg.Now()
	if e, ok := o.recent.get(sum, now); ok {
		o.accepted(e.jwt, true)
		return e.id, nil
	}
	if reason, ok := o.refused.get(sum, now); ok {
		o.Stats.NegativeHits.Add(1)
		o.rejected(jwt)
		return Identity{}, &TokenError{Reason: reason}
	}
	d, err := o.discovered(ctx)
	if err != nil {
		return Identity{}, err
	}
	var (
		id  Identity
		exp time.Time
	)
	if jwt {
		id, exp, err = o.verifyJWT(ctx, d, token)
	} else {
		id, exp, err = o.opaque(ctx, d, token, sum)
	}
	var te *TokenError
	switch {
	case err == nil:
		o.accepted(jwt, false)
		o.remember(sum, recentEntry{id: id, jwt: jwt}, exp)
	case errors.As(err, &te):
		o.rejected(jwt)
		if !te.transient && o.cfg.NegativeTTL > 0 {
			now := o.cfg.Now()
			o.refused.put(sum, te.Reason, now, now.Add(o.cfg.NegativeTTL))
		}
	}
	return id, err
}

// Known returns the identity of a token this process accepted recently
// (and counts it accepted), without any other work: no provider call, no
// signature check. The API lets such tokens through even when their client
// address is over its limit of failed logins.
func (o *OIDC) Known(token string) (Identity, bool) {
	if token == "" || len(token) > o.cfg.MaxTokenLen {
		return Identity{}, false
	}
	e, ok := o.recent.get(sha256.Sum256([]byte(token)), o.cfg.Now())
	if ok {
		o.accepted(e.jwt, true)
	}
	return e.id, ok
}

// precheck refuses, without any other work, what cannot be a token.
func (o *OIDC) precheck(token string) error {
	if token == "" {
		return invalid("empty token")
	}
	if len(token) > o.cfg.MaxTokenLen {
		return invalid("token is longer than %d bytes", o.cfg.MaxTokenLen)
	}
	// RFC 6750's b64token: a JWT, a JWE and every opaque access token of
	// the usual providers fit.
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=') {
			return invalid("not a bearer token: it holds characters other than letters, digits and -._~+/=")
		}
	}
	return nil
}

func (o *OIDC) accepted(jwt, cached bool) {
	if jwt {
		o.Stats.JWTAccepted.Add(1)
		return
	}
	o.Stats.OpaqueAccepted.Add(1)
	if cached {
		o.Stats.CacheHits.Add(1)
	}
}

func (o *OIDC) rejected(jwt bool) {
	if jwt {
		o.Stats.JWTRejected.Add(1)
	} else {
		o.Stats.OpaqueRejected.Add(1)
	}
}

// remember keeps an accepted token for CacheTTL, never past its expiry.
func (o *OIDC) remember(sum [32]byte, e recentEntry, exp time.Time) {
	now := o.cfg.Now()
	until := now.Add(o.cfg.CacheTTL)
	if !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	o.recent.put(sum, e, now, until)
}

func (o *OIDC) verifyJWT(ctx context.Context, d *discovery, token string) (Identity, time.Time, error) {
	var ko keyOutcome
	t, err := d.verifier.Verify(context.WithValue(ctx, keyOutcomeKey{}, &ko), token)
	if err != nil {
		if ko.unavailable != nil {
			return Identity{}, time.Time{}, fmt.Errorf("%w: key set: %v", ErrUnavailable, ko.unavailable)
		}
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return Identity{}, time.Time{}, invalid("token expired at %s; log in again", expired.Expiry.UTC().Format(time.RFC3339))
		}
		return Identity{}, time.Time{}, &TokenError{Reason: strings.TrimPrefix(err.Error(), "oidc: "), transient: ko.deferred}
	}
	var c claims
	if err := t.Claims(&c); err != nil {
		return Identity{}, time.Time{}, invalid("claims: %v", err)
	}
	id, err := o.identity(c)
	return id, t.Expiry, err
}

// claims are the ones fmn reads, from a JWT, an introspection answer or a
// UserInfo answer.
type claims struct {
	Subject           string          `json:"sub"`
	PreferredUsername string          `json:"preferred_username,omitempty"`
	Username          string          `json:"username,omitempty"`
	Nickname          string          `json:"nickname,omitempty"`
	Groups            json.RawMessage `json:"groups,omitempty"`
}

func (c claims) name() string {
	for _, n := range []string{c.PreferredUsername, c.Username, c.Nickname} {
		if n != "" {
			return n
		}
	}
	return ""
}

func (o *OIDC) identity(c claims) (Identity, error) {
	name := c.name()
	if name == "" {
		name = c.Subject
	}
	if name == "" {
		return Identity{}, invalid("token names nobody (no preferred_username, username, nickname or sub claim)")
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
