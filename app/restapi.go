package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/api/auth"
	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/live"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/stats"
	"github.com/fmn-project/fmn/ui"
	"github.com/prometheus/client_golang/prometheus"
)

// registerAPI mounts the REST API under /api/ on mux, adds the rules
// projection to the readiness checks of ops, and runs the API's background
// work (the preview index).
func registerAPI(ctx context.Context, env *Env, sys *System, reg *prometheus.Registry, mux *http.ServeMux, ops *api.Ops, settings delivery.Source, run func(string, func(context.Context) error)) error {
	cfg := env.Cfg
	log := env.Log.With("role", "api")
	cmds, err := rulelog.NewCommands(ctx, env.JS, env.DB, rulelog.CommandsConfig{Stream: cfg.Streams.Rules, MaxRulesPerUser: cfg.MaxRulesPerUser, Logger: log})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	env.OnClose(cmds.Close)

	// Rule previews and their index read BUS on a connection of their
	// own. A preview reads much at once; on the connection every role of
	// the process shares, a flood of them made it fall behind until the
	// server cut it as a slow consumer, and the consumer and senders with
	// it.
	pnc, pjs, err := env.DialNATS("fmn-preview")
	if err != nil {
		return fmt.Errorf("api: preview connection: %w", err)
	}
	env.OnClose(pnc.Close)
	sys.PreviewNC = pnc

	deps := api.Deps{
		Commands: cmds, JS: pjs, Streams: cfg.Streams,
		Site: notification.Site{Name: cfg.SiteName, PublicURL: cfg.PublicURL},
	}
	if cfg.OIDCIssuer != "" {
		negative := cfg.AuthNegativeCache
		if negative == 0 {
			negative = -1 // off
		}
		o, err := auth.NewOIDC(auth.Config{
			Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
			AdminGroups: cfg.AdminGroups, NegativeTTL: negative,
			Redis: sys.Redis, RedisPrefix: cfg.RedisPrefix, Logger: log,
		})
		if err != nil {
			return err
		}
		// Discover now so that a wrong issuer shows in the log at start;
		// requests retry it when the provider is down.
		go func() { _ = o.Discover(ctx) }()
		deps.Auth = o
		registerAuthMetrics(reg, &o.Stats)
	} else {
		log.Warn("FMN_OIDC_ISSUER is empty: nobody can log in, and every API call that needs a login answers 503")
	}
	if sys.Directory != nil {
		deps.Accounts = directoryAccounts{sys.Directory}
		deps.Lookups = sys.Directory
	} else {
		log.Warn("FMN_FASJSON_URL and FMN_DISTGIT_URL are empty: account endpoints answer 503, and rules can get no new destinations")
	}
	proxies, err := api.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("FMN_TRUSTED_PROXIES: %w", err)
	}
	burst := cfg.AuthFailureBurst
	if burst == 0 {
		burst = -1 // no limit
	}
	srv := api.New(api.Config{
		Version: Version, Issuer: cfg.OIDCIssuer, CORSOrigins: cfg.CORSOrigins,
		AuthFailureBurst: burst, AuthFailureRate: float64(cfg.AuthFailureRate), TrustedProxies: proxies,
		Registry: reg, Logger: log, Docs: ui.DocsHandler(api.OpenAPIPath + ".json"),
		PreviewMaxConcurrent: cfg.PreviewMaxConcurrent, PreviewMaxPerUser: cfg.PreviewMaxPerUser,
		MaxStreamsPerUser: cfg.SSEMaxPerUser, ShippedDefaultRules: cfg.DefaultRules,
	}, deps)
	// The statistics projections (/admin/stats…) are read from the tables
	// of the stats role.
	srv.RegisterStats(stats.NewReader(env.DB))
	// The live feed (channel sse): one NOTIFY consumer for all the
	// streams this process serves.
	hub := live.NewHub(env.JS, live.HubConfig{Stream: cfg.Streams.Notify, Settings: settings, Logger: log.With("component", "live")})
	srv.RegisterNotifications(hub, &live.Tickets{Redis: sys.Redis, Prefix: cfg.RedisPrefix})
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fmn_live_paused_total",
		Help: "Live-feed notifications dropped because their user had paused the feed."},
		func() float64 { return float64(hub.Stats.Paused.Load()) }))
	run("api-live-feed", hub.Run)
	srv.Register(mux)
	run("api-preview-index", srv.Run)

	lag := &api.LagCheck{
		Stream: func(ctx context.Context) (uint64, error) {
			st, err := env.JS.Stream(ctx, cfg.Streams.Rules)
			if err != nil {
				return 0, err
			}
			info, err := st.Info(ctx)
			if err != nil {
				return 0, err
			}
			return info.State.LastSeq, nil
		},
		Projected: cmds.Store().Projected,
	}
	ops.Checks = append(ops.Checks, api.Check{Name: "rules-projection", Fn: lag.Check})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fmn_rules_projection_lag", Help: "Events of RULES not yet applied to the tables, at the last readiness check.",
	}, func() float64 { return float64(lag.Lag()) }))
	return nil
}

func registerAuthMetrics(reg *prometheus.Registry, st *auth.Stats) {
	reg.MustRegister(&authCollector{st: st})
}

// authCollector exposes auth.Stats: token checks, the caches and the calls
// to the provider.
type authCollector struct{ st *auth.Stats }

var (
	authTokensDesc   = prometheus.NewDesc("fmn_auth_tokens_total", "Bearer tokens checked, by kind (jwt, opaque) and result.", []string{"kind", "result"}, nil)
	authCacheDesc    = prometheus.NewDesc("fmn_auth_userinfo_cache_total", "Token cache lookups for opaque tokens, by result (hit, miss).", []string{"result"}, nil)
	authNegativeDesc = prometheus.NewDesc("fmn_auth_negative_cache_hits_total", "Tokens refused again from the cache of refused tokens, at no cost to the provider.", nil, nil)
	authCallsDesc    = prometheus.NewDesc("fmn_auth_userinfo_calls_total", "Requests to the provider's UserInfo endpoint.", nil, nil)
	authIntroDesc    = prometheus.NewDesc("fmn_auth_introspection_calls_total", "Requests to the provider's token introspection endpoint.", nil, nil)
	authKeysDesc     = prometheus.NewDesc("fmn_auth_key_set_fetches_total", "Fetches of the provider's key set (jwks_uri).", nil, nil)
)

func (c *authCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{authTokensDesc, authCacheDesc, authNegativeDesc, authCallsDesc, authIntroDesc, authKeysDesc} {
		ch <- d
	}
}

func (c *authCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(authTokensDesc, c.st.JWTAccepted.Load(), "jwt", "accepted")
	counter(authTokensDesc, c.st.JWTRejected.Load(), "jwt", "rejected")
	counter(authTokensDesc, c.st.OpaqueAccepted.Load(), "opaque", "accepted")
	counter(authTokensDesc, c.st.OpaqueRejected.Load(), "opaque", "rejected")
	counter(authCacheDesc, c.st.CacheHits.Load(), "hit")
	counter(authCacheDesc, c.st.CacheMisses.Load(), "miss")
	counter(authNegativeDesc, c.st.NegativeHits.Load())
	counter(authCallsDesc, c.st.UserInfoCalls.Load())
	counter(authIntroDesc, c.st.IntrospectionCalls.Load())
	counter(authKeysDesc, c.st.KeySetFetches.Load())
}

// directoryAccounts is the directory (FASJSON and dist-git through the
// shared service cache) as the API's Accounts.
type directoryAccounts struct{ d directory.Service }

func accountsErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, directory.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNoSuchAccount, err)
	case errors.Is(err, directory.ErrNotConfigured):
		return fmt.Errorf("%w: %w", api.ErrAccountsNotConfigured, err)
	}
	return err
}

func (a directoryAccounts) User(ctx context.Context, name string) (map[string]any, error) {
	u, err := a.d.User(ctx, name)
	if err != nil {
		return nil, accountsErr(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(u.Raw, &rec); err != nil {
		return nil, fmt.Errorf("account record of %s: %w", name, err)
	}
	return rec, nil
}

func (a directoryAccounts) Groups(ctx context.Context, name string) ([]string, error) {
	gs, err := a.d.UserGroups(ctx, name)
	return gs, accountsErr(err)
}

func (a directoryAccounts) Destinations(ctx context.Context, name string) ([]rules.Destination, error) {
	ds, err := a.d.Destinations(ctx, name)
	return ds, accountsErr(err)
}

func (a directoryAccounts) SearchUsers(ctx context.Context, search string) ([]string, error) {
	names, err := a.d.SearchUsers(ctx, search)
	return names, accountsErr(err)
}

func (a directoryAccounts) Artifacts(ctx context.Context, q api.ArtifactQuery) ([]rules.Artifact, error) {
	found, err := a.d.SearchArtifacts(ctx, directory.ArtifactQuery{Names: q.Names, Users: q.Users, Groups: q.Groups})
	if err != nil {
		return nil, accountsErr(err)
	}
	out := make([]rules.Artifact, len(found))
	for i, f := range found {
		out[i] = rules.Artifact{Type: f.Type, Name: f.Name}
	}
	return out, nil
}
