package api

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/fmn-project/fmn/api/auth"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/preview"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Paths of the API.
const (
	Prefix      = "/api/v1"
	OpenAPIPath = Prefix + "/openapi" // + ".json" / ".yaml"
	DocsPath    = "/api/docs"
)

// Authenticator turns a bearer token into an identity (auth.OIDC).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Identity, error)
}

// KnownTokens is what an Authenticator may also offer (auth.OIDC does):
// the identity of a token it accepted recently, at no cost. Such tokens
// pass even when their client address is over its limit of failed
// authentications.
type KnownTokens interface {
	Known(token string) (auth.Identity, bool)
}

// Config tunes the API. Zero fields take the defaults.
type Config struct {
	// Version is shown in the OpenAPI document.
	Version string
	// Issuer, when set, is described in the OpenAPI document.
	Issuer string
	// CORSOrigins may call the API from a browser: exact origins
	// (scheme://host[:port]) or "*" (default none: same origin only).
	CORSOrigins []string
	// MaxBodyBytes bounds every request body (default 64 KiB).
	MaxBodyBytes int64
	// PreviewWindow is the default history of a rule preview (default 1h);
	// PreviewMaxWindow caps the one a client asks for (default 24h).
	PreviewWindow, PreviewMaxWindow time.Duration
	// PreviewMaxResults caps the notifications a preview returns (the most
	// recent ones; default 500).
	PreviewMaxResults int
	// PreviewTimeout bounds the work of one preview (default 10s).
	PreviewTimeout time.Duration
	// PreviewIndexWindow is the recent history Run indexes for fast
	// previews (default 2h; negative: no index, every preview reads BUS).
	PreviewIndexWindow time.Duration
	// PreviewMaxConcurrent bounds the previews running at once in this
	// process (default 8), PreviewMaxPerUser those of one user (default
	// 2, at most PreviewMaxConcurrent); a preview over either limit gets
	// 429 with Retry-After.
	PreviewMaxConcurrent, PreviewMaxPerUser int
	// MaxStreamsPerUser bounds the live (SSE) streams one user holds open
	// in this process (FMN_SSE_MAX_PER_USER; default 8): one more gets 429.
	MaxStreamsPerUser int
	// RuleListCache is how many rules the cache of GET /users/{u}/rules
	// holds at most, over all users (default 20,000; negative: no cache,
	// every list is read from PostgreSQL). See ruleListCache.
	RuleListCache int
	// Docs serves the interactive documentation at DocsPath (ui.DocsHandler;
	// nil: a plain page linking to the OpenAPI document). huma's own docs
	// page is not used: it loads its scripts from the internet.
	Docs http.Handler
	// AuthFailureBurst is how many failed authentications (bad tokens) one
	// client address may make in a row before it gets 429 Too Many
	// Requests (FMN_AUTH_FAILURE_BURST; default 10; negative: no limit).
	AuthFailureBurst int
	// AuthFailureRate is how many more it may make per minute after that
	// (FMN_AUTH_FAILURE_RATE; default 6).
	AuthFailureRate float64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client address (FMN_TRUSTED_PROXIES; default none: the peer's
	// address counts).
	TrustedProxies []netip.Prefix
	// ShippedDefaultRules gives new users the shipped default rules
	// (rules.ShippedTemplates) until an admin sets a list
	// (FMN_DEFAULT_RULES=on, the default of fmn; false, the zero value:
	// none until then).
	ShippedDefaultRules bool
	// Registry receives the API's metrics (nil: none).
	Registry prometheus.Registerer
	// Logger defaults to slog.Default(); access logs go to it at Info.
	Logger *slog.Logger
}

// Default limits of the rule preview (see Config).
const (
	DefaultPreviewMaxConcurrent = 8
	DefaultPreviewMaxPerUser    = 2
	DefaultMaxStreamsPerUser    = 8
)

func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.RuleListCache == 0 {
		c.RuleListCache = 20_000
	}
	if c.PreviewWindow <= 0 {
		c.PreviewWindow = time.Hour
	}
	if c.PreviewMaxWindow <= 0 {
		c.PreviewMaxWindow = 24 * time.Hour
	}
	if c.PreviewMaxResults <= 0 {
		c.PreviewMaxResults = 500
	}
	if c.PreviewTimeout <= 0 {
		c.PreviewTimeout = 10 * time.Second
	}
	if c.PreviewIndexWindow == 0 {
		c.PreviewIndexWindow = 2 * time.Hour
	}
	if c.AuthFailureBurst == 0 {
		c.AuthFailureBurst = 10
	}
	if c.AuthFailureRate <= 0 {
		c.AuthFailureRate = 6
	}
	if c.MaxStreamsPerUser <= 0 {
		c.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if c.PreviewMaxConcurrent <= 0 {
		c.PreviewMaxConcurrent = DefaultPreviewMaxConcurrent
	}
	if c.PreviewMaxPerUser <= 0 {
		c.PreviewMaxPerUser = DefaultPreviewMaxPerUser
	}
	c.PreviewMaxPerUser = min(c.PreviewMaxPerUser, c.PreviewMaxConcurrent)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	origins := make([]string, 0, len(c.CORSOrigins))
	for _, o := range c.CORSOrigins {
		origins = append(origins, strings.TrimRight(o, "/"))
	}
	c.CORSOrigins = origins
	return c
}

// Deps are the services the API uses. Commands is required; a nil Auth
// makes every authenticated endpoint answer 503 (login not configured), a
// nil Accounts the account endpoints; a nil JS disables the preview.
type Deps struct {
	Commands *rulelog.Commands
	Auth     Authenticator
	Accounts Accounts
	// JS and Streams read BUS for the preview and its index. Give it a
	// connection of its own, apart from the one other roles of the process
	// use: previews read a lot at once, and a connection that falls
	// behind is cut by the server (slow consumer).
	JS      jetstream.JetStream
	Streams streams.Config
	// Lookups lets the preview match artifacts-owned rules (nil: they match
	// nothing).
	Lookups rules.Lookups
	// Site renders the preview's notifications.
	Site notification.Site
}

// Server is fmn's REST API: huma on a net/http mux.
type Server struct {
	cfg      Config
	log      *slog.Logger
	cmds     *rulelog.Commands
	store    *rulelog.Store
	auth     Authenticator
	accounts Accounts
	deps     Deps
	api      huma.API
	mux      *http.ServeMux
	metrics  *metrics
	preview  *preview.Previewer
	// ruleLists caches the answers of GET /users/{u}/rules (nil: none).
	ruleLists *ruleListCache
	// failures limits failed authentications per client address (nil: no
	// limit).
	failures *failureLimiter
	limiter  *previewLimiter

	// known holds users whose record exists, so that the first request of
	// a user creates it and later ones cost nothing; ensuring those being
	// recorded.
	known, ensuring sync.Map
	// recording runs one record creation per user at a time.
	recording singleflight.Group
}

// New builds the API and registers every operation.
func New(cfg Config, deps Deps) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg: cfg, log: cfg.Logger, cmds: deps.Commands, store: deps.Commands.Store(),
		auth: deps.Auth, accounts: deps.Accounts, deps: deps,
		mux: http.NewServeMux(), metrics: newMetrics(cfg.Registry), ruleLists: newRuleListCache(cfg.RuleListCache),
		limiter: newPreviewLimiter(cfg.PreviewMaxConcurrent, cfg.PreviewMaxPerUser, cfg.PreviewTimeout),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fmn_rule_previews_running", Help: "Rule previews running."},
			func() float64 { return float64(s.limiter.runningNow()) }))
	}
	if cfg.AuthFailureBurst > 0 {
		s.failures = newFailureLimiter(cfg.AuthFailureBurst, cfg.AuthFailureRate)
	}
	if deps.JS != nil {
		s.preview = preview.New(deps.JS, deps.Streams.Bus, deps.Lookups, deps.Site)
		if cfg.PreviewIndexWindow > 0 {
			idx := preview.NewRecentIndex(deps.JS, deps.Streams.Bus, cfg.PreviewIndexWindow, cfg.Logger)
			s.preview.Index = idx
			if cfg.Registry != nil {
				cfg.Registry.MustRegister(
					prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fmn_preview_index_messages", Help: "Bus messages in the preview index."},
						func() float64 { return float64(idx.Stats().Messages) }),
					prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fmn_preview_index_bytes", Help: "Estimated memory of the preview index."},
						func() float64 { return float64(idx.Stats().Bytes) }))
			}
		}
	}
	s.api = humago.New(s.mux, s.humaConfig())
	docs := cfg.Docs
	if docs == nil {
		docs = http.HandlerFunc(plainDocs)
	}
	s.mux.Handle("GET "+DocsPath, docs)
	s.api.UseMiddleware(s.authenticate)
	(&RuleHandlers{s}).Register(s.api)
	(&UserHandlers{s}).Register(s.api)
	(&DeliveryHandlers{s}).Register(s.api)
	(&AdminHandlers{s}).Register(s.api)
	(&MiscHandlers{s}).Register(s.api)
	(&PreviewHandlers{s}).Register(s.api)
	return s
}

// Run does the API's background work until ctx ends: it keeps the preview
// index current. The API serves without it (previews then read BUS).
func (s *Server) Run(ctx context.Context) error {
	if s.preview == nil || s.preview.Index == nil {
		<-ctx.Done()
		return nil
	}
	return s.preview.Index.Run(ctx)
}

// API is the huma API, for tests and for documents.
func (s *Server) API() huma.API { return s.api }

// Handler serves the API with the HTTP middleware: request ids, access
// logs, metrics, CORS and the body size limit.
func (s *Server) Handler() http.Handler {
	return s.middleware(s.mux)
}

// Register adds the API and its documents under /api/ to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("/api/", s.Handler())
}

const bearerScheme = "bearer"

var (
	// authRequired is the security requirement of most operations.
	authRequired = []map[string][]string{{bearerScheme: {}}}
	// authOptional accepts anonymous requests (the empty requirement) and
	// uses a token when one is sent.
	authOptional = []map[string][]string{{bearerScheme: {}}, {}}
)

func (s *Server) humaConfig() huma.Config {
	c := huma.DefaultConfig("fmn", s.cfg.Version)
	c.Formats = maps.Clone(c.Formats)
	c.Formats["application/json"], c.Formats["json"] = jsonFormat, jsonFormat
	// No $schema links in bodies: the JSON stays FMN's.
	c.CreateHooks = nil
	c.SchemasPath = ""
	c.OpenAPIPath = OpenAPIPath
	// The docs page is Config.Docs, served from fmn itself (see New).
	c.DocsPath = ""
	c.Info.Description = "fmn routes bus messages to people by their rules. The paths and JSON are FMN v3's. " +
		"Rules change through events: a response is sent once the change is visible to the next read. " +
		"Errors are RFC 9457 problem details."
	desc := "An OpenID Connect token of the configured issuer: an ID token or JWT access token whose audience is " +
		"fmn's client id, or an opaque access token issued to fmn's client (checked through token introspection)."
	if s.cfg.Issuer != "" {
		desc += " Issuer: " + s.cfg.Issuer + "."
	}
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {Type: "http", Scheme: "bearer", BearerFormat: "JWT or opaque", Description: desc},
	}
	c.Tags = []*huma.Tag{
		{Name: "users", Description: "The logged-in user and account lookups."},
		{Name: "users/rules", Description: "A user's own rules."},
		{Name: "admin", Description: "For members of the admin groups."},
		{Name: "misc", Description: "Applications, artifacts and the rule preview."},
	}
	return c
}

// plainDocs is the docs page without Config.Docs: a link to the document.
func plainDocs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><meta charset="utf-8"><title>fmn API</title>`+
		`<p>The OpenAPI document is at <a href="`+OpenAPIPath+`.json">`+OpenAPIPath+`.json</a>.</p></html>`+"\n")
}

// op fills what every operation shares.
func op(id, method, path, summary, desc string, tags ...string) huma.Operation {
	return huma.Operation{
		OperationID: id, Method: method, Path: Prefix + path,
		Summary: summary, Description: desc, Tags: tags,
		Security: authRequired,
		Errors:   []int{http.StatusUnauthorized, http.StatusServiceUnavailable},
	}
}

// trimList splits comma-separated values and drops empty ones.
func trimList(in []string) []string {
	var out []string
	for _, v := range in {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
