package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// cached is an accepted opaque token's entry in Redis.
type cached struct {
	claims
	// Exp is the token's expiry (Unix seconds; 0: not told).
	Exp int64 `json:"exp,omitempty"`
}

// cacheKey is the Redis key of a token's hash. (Not the key of the
// UserInfo cache of earlier versions, whose entries were not checked for
// the client the token was issued to.)
func (o *OIDC) cacheKey(sum [32]byte) string {
	return o.cfg.RedisPrefix + "auth:token:" + hex.EncodeToString(sum[:])
}

// opaque checks an opaque access token through token introspection, with
// the answer cached under the token's hash.
func (o *OIDC) opaque(ctx context.Context, d *discovery, token string, sum [32]byte) (Identity, time.Time, error) {
	if o.cfg.ClientSecret == "" {
		return Identity{}, time.Time{}, invalid("this fmn accepts only JWTs (ID tokens or JWT access tokens): opaque access tokens need token introspection, and fmn has no client secret (FMN_OIDC_CLIENT_SECRET) for it")
	}
	if d.introspection == "" {
		return Identity{}, time.Time{}, invalid("this fmn accepts only JWTs (ID tokens or JWT access tokens): the provider offers no usable token introspection endpoint to check an opaque access token")
	}
	key := o.cacheKey(sum)
	if o.cfg.Redis != nil {
		b, err := o.cfg.Redis.DoCache(ctx, o.cfg.Redis.B().Get().Key(key).Cache(), o.cfg.CacheTTL).AsBytes()
		if err == nil {
			var c cached
			if json.Unmarshal(b, &c) == nil && (c.Exp == 0 || o.cfg.Now().Before(time.Unix(c.Exp, 0))) {
				id, err := o.identity(c.claims)
				if err == nil {
					o.Stats.CacheHits.Add(1)
					return id, expiry(c.Exp), nil
				}
			}
		} else if !rueidis.IsRedisNil(err) {
			o.cfg.Logger.WarnContext(ctx, "read token cache", slog.Any("error", err))
		}
	}
	o.Stats.CacheMisses.Add(1)
	ans, err := o.introspect(ctx, d.introspection, token)
	if err != nil {
		return Identity{}, time.Time{}, err
	}
	exp, err := o.checkIntrospection(ans)
	if err != nil {
		return Identity{}, time.Time{}, err
	}
	c := ans.claims
	if (c.name() == "" || len(c.Groups) == 0) && d.userinfo != "" {
		// The answer lacks the username or groups: UserInfo has them.
		ui, err := o.fetchUserInfo(ctx, d.userinfo, token)
		if err != nil {
			return Identity{}, time.Time{}, err
		}
		if c.Subject != "" && ui.Subject != c.Subject {
			return Identity{}, time.Time{}, fmt.Errorf("%w: UserInfo names another subject than token introspection", ErrUnavailable)
		}
		c = ui
	}
	id, err := o.identity(c)
	if err != nil {
		return Identity{}, time.Time{}, err
	}
	if o.cfg.Redis != nil {
		ttl := o.cfg.CacheTTL
		if !exp.IsZero() {
			ttl = min(ttl, exp.Sub(o.cfg.Now()))
		}
		raw, _ := json.Marshal(cached{claims: c, Exp: unix(exp)})
		if ttl > time.Millisecond {
			cmd := o.cfg.Redis.B().Set().Key(key).Value(rueidis.BinaryString(raw)).Px(ttl).Build()
			if err := o.cfg.Redis.Do(ctx, cmd).Error(); err != nil {
				o.cfg.Logger.WarnContext(ctx, "write token cache", slog.Any("error", err))
			}
		}
	}
	return id, exp, nil
}

func expiry(unixSec int64) time.Time {
	if unixSec == 0 {
		return time.Time{}
	}
	return time.Unix(unixSec, 0)
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// introspection is an RFC 7662 answer, with the claims fmn reads.
type introspection struct {
	Active    bool            `json:"active"`
	ClientID  string          `json:"client_id"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    json.Number     `json:"exp"`
	Issuer    string          `json:"iss"`
	TokenType string          `json:"token_type"`
	claims
}

// checkIntrospection accepts an active access token issued to fmn's client
// and returns its expiry (zero when the answer does not tell).
func (o *OIDC) checkIntrospection(ans introspection) (time.Time, error) {
	if !ans.Active {
		return time.Time{}, invalid("the provider says this access token is not active (expired, revoked, or not one it issued)")
	}
	aud, err := groupList(ans.Audience)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: token introspection answered an aud that is neither a string nor a list", ErrUnavailable)
	}
	switch {
	case ans.ClientID != "":
		if ans.ClientID != o.cfg.ClientID {
			return time.Time{}, invalid("this access token was issued to another application (client %q), not to fmn (%q)", ans.ClientID, o.cfg.ClientID)
		}
	case len(aud) > 0:
		if !slices.Contains(aud, o.cfg.ClientID) {
			return time.Time{}, invalid("this access token is meant for %q, not for fmn (%q)", aud, o.cfg.ClientID)
		}
	default:
		return time.Time{}, invalid("the provider's introspection answer names neither client_id nor aud: fmn cannot tell that the token was issued to it")
	}
	if ans.Issuer != "" && ans.Issuer != o.cfg.Issuer {
		return time.Time{}, invalid("this access token was issued by a different provider (%q)", ans.Issuer)
	}
	if t := strings.ToLower(ans.TokenType); strings.Contains(t, "refresh") {
		return time.Time{}, invalid("a refresh token is not an access token")
	}
	var exp time.Time
	if ans.Expiry != "" {
		f, err := ans.Expiry.Float64()
		if err != nil || f <= 0 || f > math.MaxInt32*4 {
			return time.Time{}, fmt.Errorf("%w: token introspection answered an unusable exp %q", ErrUnavailable, ans.Expiry)
		}
		exp = time.Unix(int64(f), 0)
		if !o.cfg.Now().Before(exp) {
			return time.Time{}, invalid("token expired at %s; log in again", exp.UTC().Format(time.RFC3339))
		}
	}
	return exp, nil
}

// introspect asks the introspection endpoint about token, authenticated as
// fmn's client (HTTP basic, RFC 6749 2.3.1).
func (o *OIDC) introspect(ctx context.Context, endpoint, token string) (introspection, error) {
	o.Stats.IntrospectionCalls.Add(1)
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return introspection{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(o.cfg.ClientID), url.QueryEscape(o.cfg.ClientSecret))
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		// The error names the URL, never the token or the secret.
		return introspection{}, fmt.Errorf("%w: token introspection: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return introspection{}, fmt.Errorf("%w: token introspection: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		o.cfg.Logger.ErrorContext(ctx, "the provider refuses fmn's client credentials at token introspection: check FMN_OIDC_CLIENT_ID and FMN_OIDC_CLIENT_SECRET",
			slog.String("endpoint", endpoint), slog.Int("status", resp.StatusCode))
		return introspection{}, fmt.Errorf("%w: token introspection refused fmn's client credentials (%s)", ErrUnavailable, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return introspection{}, fmt.Errorf("%w: token introspection answered %s", ErrUnavailable, resp.Status)
	}
	var ans introspection
	if err := json.Unmarshal(body, &ans); err != nil {
		return introspection{}, fmt.Errorf("%w: token introspection answer is not RFC 7662 JSON: %v", ErrUnavailable, err)
	}
	return ans, nil
}

// fetchUserInfo asks UserInfo about a token that introspection accepted.
func (o *OIDC) fetchUserInfo(ctx context.Context, endpoint, token string) (claims, error) {
	o.Stats.UserInfoCalls.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return claims{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		return claims{}, fmt.Errorf("%w: UserInfo: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return claims{}, fmt.Errorf("%w: UserInfo: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return claims{}, invalid("the provider's UserInfo does not accept this access token (it answered %d)", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return claims{}, fmt.Errorf("%w: UserInfo answered %s", ErrUnavailable, resp.Status)
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil {
		return claims{}, fmt.Errorf("%w: UserInfo answer is not JSON: %v", ErrUnavailable, err)
	}
	if c.Subject == "" {
		return claims{}, fmt.Errorf("%w: UserInfo answer has no sub", ErrUnavailable)
	}
	return c, nil
}
