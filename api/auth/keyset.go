package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySet is the provider's key set (jwks_uri) for go-oidc's verifier, in
// place of go-oidc's RemoteKeySet, which fetches the key set again after
// every signature it cannot verify: one fetch per forged JWT. keySet
// fetches it again only for a key id it does not hold (or a JWT without
// one), at most once per Config.KeyRefreshInterval; a bad signature with a
// known key id costs a fetch only when the set is older than keyMaxAge
// (keys replaced under the same id). Concurrent needs share one fetch.
type keySet struct {
	url      string
	client   *http.Client
	interval time.Duration // between fetches for unknown key ids
	retry    time.Duration // after a failed fetch
	now      func() time.Time
	fetches  *atomic.Int64
	log      *slog.Logger

	mu       sync.Mutex
	keys     []jose.JSONWebKey
	have     bool      // keys holds a fetched set
	last     time.Time // end of the last fetch
	lastErr  error     // of the last fetch
	inflight *keyFetch
}

type keyFetch struct {
	done chan struct{}
	keys []jose.JSONWebKey
	err  error
}

// keyMaxAge: a key set older than this is fetched again when a JWT's
// signature does not match the key of its (known) key id.
const keyMaxAge = time.Hour

// errTooSoon: the key set was fetched too recently to fetch it again.
var errTooSoon = errors.New("key set fetched too recently")

// keyOutcome tells verifyJWT, through the context, what the key set did:
// a failure to fetch it (the provider is unavailable, not the token bad),
// or a fetch it deferred (the token may verify a little later).
type keyOutcome struct {
	unavailable error
	deferred    bool
}

type keyOutcomeKey struct{}

func newKeySet(url string, cfg Config, st *Stats) *keySet {
	return &keySet{
		url: url, client: cfg.HTTPClient, interval: cfg.KeyRefreshInterval, retry: cfg.RetryDiscovery,
		now: cfg.Now, fetches: &st.KeySetFetches, log: cfg.Logger,
	}
}

// jwsAlgs: the verifier has checked the algorithm already.
var jwsAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(signingAlgs))
	for i, a := range signingAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	out, _ := ctx.Value(keyOutcomeKey{}).(*keyOutcome)
	if out == nil {
		out = &keyOutcome{}
	}
	jws, err := jose.ParseSigned(jwt, jwsAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, have := k.current()
	minAge := k.interval
	if have {
		payload, known := verifyWith(jws, keys, kid)
		if payload != nil {
			return payload, nil
		}
		if known {
			// The key of this id is known, and the signature is not
			// its: a new key set helps only if keys were replaced
			// under the same id.
			minAge = keyMaxAge
		}
	}
	keys, err = k.refresh(ctx, minAge)
	switch {
	case errors.Is(err, errTooSoon):
		if minAge == keyMaxAge {
			return nil, fmt.Errorf("the signature does not match the provider's key %q", kid)
		}
		out.deferred = true
		return nil, fmt.Errorf("signed with a key the provider does not list (kid %q)", kid)
	case err != nil:
		out.unavailable = err
		return nil, err
	}
	if payload, known := verifyWith(jws, keys, kid); payload != nil {
		return payload, nil
	} else if known {
		return nil, fmt.Errorf("the signature does not match the provider's key %q", kid)
	}
	return nil, fmt.Errorf("signed with a key the provider does not list (kid %q)", kid)
}

// verifyWith tries the keys of kid (all keys without one); known tells
// whether there was such a key.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, known bool) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		known = kid != ""
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true
		}
	}
	return nil, known
}

func (k *keySet) current() ([]jose.JSONWebKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys, k.have
}

// refresh fetches the key set unless the last fetch was less than minAge
// ago (or, after a failure, less than retry ago); a fetch under way is
// joined.
func (k *keySet) refresh(ctx context.Context, minAge time.Duration) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	f := k.inflight
	if f == nil {
		since := k.now().Sub(k.last)
		switch {
		case k.last.IsZero():
		case k.lastErr != nil && since < k.retry:
			err := k.lastErr
			k.mu.Unlock()
			if k.have {
				return nil, errTooSoon
			}
			return nil, err
		case k.lastErr == nil && since < minAge:
			k.mu.Unlock()
			return nil, errTooSoon
		}
		f = &keyFetch{done: make(chan struct{})}
		k.inflight = f
		go k.fetch(f)
	}
	k.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return f.keys, nil
	}
}

// fetch runs one fetch, detached from the request that needed it.
func (k *keySet) fetch(f *keyFetch) {
	k.fetches.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), k.client.Timeout+time.Second)
	defer cancel()
	keys, err := k.download(ctx)
	k.mu.Lock()
	k.last, k.lastErr, k.inflight = k.now(), err, nil
	if err == nil {
		k.keys, k.have = keys, true
	}
	k.mu.Unlock()
	if err != nil {
		k.log.Warn("fetching the OpenID Connect provider's key set failed", slog.String("jwks_uri", k.url), slog.Any("error", err))
		f.err = err
	}
	f.keys = keys
	close(f.done)
}

func (k *keySet) download(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", k.url, resp.Status)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON Web Key Set: %v", k.url, err)
	}
	// Keys of types or algorithms fmn does not know are skipped (RFC
	// 7517, 5), as are encryption keys.
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(r, &key) != nil || !key.IsPublic() || key.Use == "enc" {
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}
