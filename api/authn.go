package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/api/auth"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

type identityKey struct{}

// identity is the authenticated caller; ok is false for an anonymous one.
func identity(ctx context.Context) (auth.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(auth.Identity)
	return id, ok
}

// metaAdmin marks an operation for admins only.
const metaAdmin = "admin"

// authenticate is the huma middleware that enforces each operation's
// security requirement: operations without one are public; with the
// empty requirement among them, a token is optional; otherwise a valid
// bearer token is required (401), and admin operations need an admin (403).
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	o := ctx.Operation()
	if ri := infoFrom(ctx.Context()); ri != nil {
		ri.route = o.OperationID
	}
	if len(o.Security) == 0 {
		next(ctx)
		return
	}
	optional := slices.ContainsFunc(o.Security, func(m map[string][]string) bool { return len(m) == 0 })
	hdr := ctx.Header("Authorization")
	if hdr == "" {
		if optional {
			next(ctx)
			return
		}
		s.deny(ctx, http.StatusUnauthorized, "Log in first: send the token of your login as \"Authorization: Bearer <token>\".", "")
		return
	}
	scheme, token, _ := strings.Cut(hdr, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		s.deny(ctx, http.StatusUnauthorized, "The Authorization header must be \"Bearer <token>\".", "invalid_request")
		return
	}
	if s.auth == nil {
		s.deny(ctx, http.StatusServiceUnavailable, auth.ErrNotConfigured.Error()+".", "")
		return
	}
	id, err := s.checkToken(ctx, token)
	var limited *rateLimited
	switch {
	case err == nil:
	case errors.As(err, &limited):
		s.metrics.authLimited.Inc()
		ctx.SetHeader("Retry-After", strconv.Itoa(limited.seconds))
		s.deny(ctx, http.StatusTooManyRequests, fmt.Sprintf("Too many failed logins from your address: try again in %d seconds.", limited.seconds), "")
		return
	case errors.Is(err, auth.ErrInvalidToken):
		s.metrics.authFailures.Inc()
		s.deny(ctx, http.StatusUnauthorized, "Your token is not accepted ("+err.Error()+"): log in again.", "invalid_token")
		return
	default:
		s.log.WarnContext(ctx.Context(), "authentication unavailable", slog.Any("error", err))
		s.deny(ctx, http.StatusServiceUnavailable, "Cannot check your login right now: "+err.Error(), "")
		return
	}
	if ri := infoFrom(ctx.Context()); ri != nil {
		ri.user = id.Username
	}
	if admin, _ := o.Metadata[metaAdmin].(bool); admin && !id.Admin {
		s.deny(ctx, http.StatusForbidden, fmt.Sprintf("Only admins may do this, and %s is not in an admin group.", id.Username), "")
		return
	}
	// The first authenticated request of a user creates their record, in
	// the background: a lagging projection must not hold up the request
	// (GET /users/me waits for it).
	if _, known := s.known.Load(id.Username); !known {
		if _, busy := s.ensuring.LoadOrStore(id.Username, struct{}{}); !busy {
			bg := context.WithoutCancel(ctx.Context())
			go func() {
				defer s.ensuring.Delete(id.Username)
				bg, cancel := context.WithTimeout(bg, 30*time.Second)
				defer cancel()
				if err := s.ensureUser(bg, id.Username); err != nil && !errors.Is(err, rulelog.ErrProjectionLagging) {
					s.log.WarnContext(bg, "could not record user", slog.String("user", id.Username), slog.Any("error", err))
				}
			}()
		}
	}
	next(huma.WithValue(ctx, identityKey{}, id))
}

// rateLimited: the client address is over its limit of failed
// authentications.
type rateLimited struct{ seconds int }

func (e *rateLimited) Error() string { return "too many failed authentications" }

// checkToken authenticates a token within the limit of failed
// authentications of the request's client address: a token the
// authenticator accepted recently always passes; any other is checked only
// while the address has failures left, and uses one up unless accepted.
func (s *Server) checkToken(ctx huma.Context, token string) (auth.Identity, error) {
	if k, ok := s.auth.(KnownTokens); ok {
		if id, ok := k.Known(token); ok {
			return id, nil
		}
	}
	if s.failures == nil {
		return s.auth.Authenticate(ctx.Context(), token)
	}
	var fwd []string
	if len(s.cfg.TrustedProxies) > 0 {
		ctx.EachHeader(func(name, value string) {
			if strings.EqualFold(name, "X-Forwarded-For") {
				fwd = append(fwd, value)
			}
		})
	}
	addr := clientAddr(ctx.RemoteAddr(), fwd, s.cfg.TrustedProxies)
	deadline := time.NewTimer(authQueueWait)
	defer deadline.Stop()
	for {
		ok, wait, busy := s.failures.reserve(addr)
		if ok {
			break
		}
		if busy == nil {
			return auth.Identity{}, &rateLimited{seconds: max(1, int(math.Ceil(wait.Seconds())))}
		}
		// Only checks of this address still running hold the units: wait
		// for one to end (their tokens may well be good).
		select {
		case <-busy:
		case <-deadline.C:
			return auth.Identity{}, &rateLimited{seconds: 1}
		case <-ctx.Context().Done():
			return auth.Identity{}, ctx.Context().Err()
		}
	}
	id, err := s.auth.Authenticate(ctx.Context(), token)
	s.failures.done(addr, err == nil)
	return id, err
}

// authQueueWait bounds how long a request waits for the other token checks
// of its address before it is refused with 429.
const authQueueWait = 5 * time.Second

// deny writes an error; for 401 with the WWW-Authenticate of RFC 6750.
func (s *Server) deny(ctx huma.Context, status int, msg, bearerErr string) {
	if status == http.StatusUnauthorized {
		v := `Bearer realm="fmn"`
		if bearerErr != "" {
			v += `, error="` + bearerErr + `"`
		}
		ctx.SetHeader("WWW-Authenticate", v)
	}
	if status == http.StatusServiceUnavailable {
		ctx.SetHeader("Retry-After", retryAfter)
	}
	_ = huma.WriteErr(s.api, ctx, status, msg)
}

// ensureUser makes sure the users table knows name, once per process; the
// call that records a new user gives them their default rules. Concurrent
// calls for one user (the middleware's and GET /users/me) share one, so
// that none answers before the default rules are there.
func (s *Server) ensureUser(ctx context.Context, name string) error {
	if _, ok := s.known.Load(name); ok {
		return nil
	}
	_, err, _ := s.recording.Do(name, func() (any, error) {
		err := s.cmds.EnsureUser(ctx, name, rulelog.Meta{Actor: name, RequestID: requestID(ctx)}, func(ctx context.Context) ([]rules.Rule, error) {
			return s.defaultRulesFor(ctx, name)
		})
		if err == nil {
			s.known.Store(name, struct{}{})
		}
		return nil, err
	})
	return err
}

// mustOwn refuses (403) when the caller is not the user of the path.
func mustOwn(ctx context.Context, username, what string) (auth.Identity, error) {
	id, ok := identity(ctx)
	if !ok {
		return id, huma.Error401Unauthorized("Log in first.")
	}
	if id.Username != username {
		return id, huma.Error403Forbidden(fmt.Sprintf("You are logged in as %s: you cannot %s %s's rules.", id.Username, what, username))
	}
	return id, nil
}

// mustBeSelfOrAdmin refuses (403) another user's account data to a
// non-admin.
func mustBeSelfOrAdmin(ctx context.Context, username, what string) error {
	id, ok := identity(ctx)
	if !ok {
		return huma.Error401Unauthorized("Log in first.")
	}
	if id.Username != username && !id.Admin {
		return huma.Error403Forbidden(fmt.Sprintf("You are logged in as %s: only %s and admins may see %s's %s.", id.Username, username, username, what))
	}
	return nil
}
