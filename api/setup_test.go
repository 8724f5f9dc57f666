package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/api/auth"
	"github.com/fmn-project/fmn/api/auth/oidctest"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

func TestMain(m *testing.M) {
	// The example OP logs every request through slog's default logger.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// bundle is what an API test needs: real NATS, Postgres and Redis, a
// running projector, a real OpenID Connect provider, the API served over
// HTTP, and the account service as a fake.
type bundle struct {
	ctx      context.Context
	nats     *fmntest.NATS
	pg       *fmntest.Postgres
	redis    rueidis.Client
	prefix   string
	proj     *rulelog.Projector
	cmds     *rulelog.Commands
	op       *oidctest.Provider
	oidc     *auth.OIDC
	accounts *fakeAccounts
	srv      *api.Server
	http     *httptest.Server
	reg      *prometheus.Registry
	logs     *syncBuffer

	mu     sync.Mutex
	tokens map[string]string
}

type setupOpts struct {
	noAccounts     bool
	noProjector    bool
	projectionWait time.Duration
	cors           []string
	lookups        rules.Lookups
	// noClientSecret leaves FMN_OIDC_CLIENT_SECRET empty.
	noClientSecret bool
	// authBurst and trustedProxies configure the limit of failed
	// authentications (0: the defaults).
	authBurst      int
	trustedProxies []netip.Prefix
	// maxRules and maxStreams are the per-user bounds of rules and live
	// streams (0: the defaults).
	maxRules, maxStreams int
	// shippedDefaults gives new users the shipped default rules
	// (FMN_DEFAULT_RULES=on).
	shippedDefaults bool
	// nats is the server to use (nil: an embedded one of its own).
	nats *fmntest.NATS
	// users are accounts of the provider besides its default ones.
	users []oidctest.User
	// logTo receives the API's log (nil: the bundle's logs, kept in
	// memory for the tests to read). The benchmarks write it to a file, as
	// a deployment writes it to its journal: kept in memory, a long load's
	// access log grew a buffer of tens of MB, and each doubling cleared
	// the new one in a single step the GC cannot interrupt, stalling every
	// request for 50-70 ms.
	logTo io.Writer
}

func setup(t testing.TB, o setupOpts) *bundle {
	t.Helper()
	if o.nats == nil {
		o.nats = fmntest.StartNATS(t)
	}
	b := &bundle{
		ctx:    fmntest.Context(t),
		nats:   o.nats,
		pg:     fmntest.StartPostgres(t),
		prefix: fmntest.RedisPrefix(t),
		op:     oidctest.Start(t, append(oidctest.DefaultUsers(), o.users...)...),
		reg:    prometheus.NewRegistry(),
		logs:   &syncBuffer{},
		tokens: map[string]string{},
	}
	b.op.SetJWTAccessTokens(true)
	opt, err := rueidis.ParseURL(fmntest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	b.redis, err = rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", fmntest.RedisURL(), err)
	}
	t.Cleanup(b.redis.Close)
	var logTo io.Writer = b.logs
	if o.logTo != nil {
		logTo = o.logTo
	}
	log := slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b.proj = rulelog.NewProjector(b.nats.JS, b.pg.Pool, rulelog.ProjectorConfig{
		Stream: b.nats.Streams.Rules, Redis: b.redis, RedisPrefix: b.prefix,
		Logger: slog.New(slog.DiscardHandler),
	})
	if !o.noProjector {
		if err := b.proj.Start(b.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.proj.Stop)
	}
	b.cmds, err = rulelog.NewCommands(b.ctx, b.nats.JS, b.pg.Pool, rulelog.CommandsConfig{
		Stream: b.nats.Streams.Rules, ProjectionWait: o.projectionWait, MaxRulesPerUser: o.maxRules,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.cmds.Close)
	secret := oidctest.ClientSecret
	if o.noClientSecret {
		secret = ""
	}
	b.oidc, err = auth.NewOIDC(auth.Config{
		Issuer: b.op.Issuer, ClientID: oidctest.ClientID, ClientSecret: secret, AdminGroups: []string{"sysadmin-main"},
		Redis: b.redis, RedisPrefix: b.prefix, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	deps := api.Deps{
		Commands: b.cmds, Auth: b.oidc, JS: b.nats.JS, Streams: b.nats.Streams, Lookups: o.lookups,
		Site: notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"},
	}
	if !o.noAccounts {
		b.accounts = newFakeAccounts()
		deps.Accounts = b.accounts
	}
	b.srv = api.New(api.Config{Registry: b.reg, Logger: log, CORSOrigins: o.cors, Issuer: b.op.Issuer,
		AuthFailureBurst: o.authBurst, TrustedProxies: o.trustedProxies, MaxStreamsPerUser: o.maxStreams,
		ShippedDefaultRules: o.shippedDefaults}, deps)
	go func() { _ = b.srv.Run(b.ctx) }()
	mux := http.NewServeMux()
	b.srv.Register(mux)
	b.http = httptest.NewServer(mux)
	t.Cleanup(b.http.Close)
	return b
}

// token logs user in at the provider once and returns the access token.
func (b *bundle) token(t testing.TB, user string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if tok, ok := b.tokens[user]; ok {
		return tok
	}
	tok := b.op.Login(t, user).AccessToken
	b.tokens[user] = tok
	return tok
}

// response is an HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem is an RFC 9457 body with huma's details. Detail is the detail
// sentence or, for a validation error, the msgs of FMN's detail list
// (FMNDetail) joined by "; ".
type problem struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"-"`
	FMNDetail []struct {
		Loc   []any  `json:"loc"`
		Msg   string `json:"msg"`
		Type  string `json:"type"`
		Input any    `json:"input"`
	} `json:"-"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func (p *problem) UnmarshalJSON(b []byte) error {
	type plain problem
	var raw struct {
		plain
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*p = problem(raw.plain)
	if len(raw.Detail) == 0 || raw.Detail[0] != '[' {
		if len(raw.Detail) > 0 {
			return json.Unmarshal(raw.Detail, &p.Detail)
		}
		return nil
	}
	if err := json.Unmarshal(raw.Detail, &p.FMNDetail); err != nil {
		return err
	}
	msgs := make([]string, len(p.FMNDetail))
	for i, d := range p.FMNDetail {
		msgs[i] = d.Msg
	}
	p.Detail = strings.Join(msgs, "; ")
	return nil
}

func (r response) problem(t testing.TB) problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json (body %s)", ct, r.body)
	}
	var p problem
	r.json(t, &p)
	return p
}

// do sends a request as user ("" for none); body is marshalled unless it
// is a string. Extra headers come as "Name: value".
func (b *bundle) do(t testing.TB, user, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+b.token(t, user))
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// get sends GET path with a bearer token ("" for none).
func (b *bundle) get(t testing.TB, token, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func expect(t testing.TB, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// newRule is a valid create body for user, told apart by name.
func newRule(user, name string) map[string]any {
	return map[string]any{
		"name":          name,
		"tracking_rule": map[string]any{"name": "artifacts-followed", "params": []map[string]string{{"name": "firefox", "type": "rpms"}}},
		"generation_rules": []map[string]any{{
			"destinations": []map[string]string{{"protocol": "email", "address": user + "@example.org"}},
		}},
	}
}

// create posts a rule and returns it with its ETag.
func (b *bundle) create(t testing.TB, user string, body any) (api.Rule, string) {
	t.Helper()
	r := b.do(t, user, http.MethodPost, "/api/v1/users/"+user+"/rules", body)
	expect(t, r, http.StatusOK)
	var rule api.Rule
	r.json(t, &rule)
	return rule, r.header.Get("ETag")
}

// fakeAccounts stands in for FASJSON and dist-git: every user has an
// address at example.org, an IRC nick and a Matrix id, unless set
// otherwise.
type fakeAccounts struct {
	mu    sync.Mutex
	users map[string][]rules.Destination
	down  bool
	calls int
}

func newFakeAccounts() *fakeAccounts {
	return &fakeAccounts{users: map[string][]rules.Destination{}}
}

func (f *fakeAccounts) dests(name string) ([]rules.Destination, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return nil, errDown
	}
	if d, ok := f.users[name]; ok {
		return d, nil
	}
	if name == "nobody" {
		return nil, api.ErrNoSuchAccount
	}
	return []rules.Destination{
		{Protocol: "email", Address: name + "@example.org"},
		{Protocol: "irc", Address: name},
		{Protocol: "matrix", Address: "@" + name + ":fedora.im"},
	}, nil
}

type downError struct{}

func (downError) Error() string { return "FASJSON GET /v1/users: service unavailable" }

var errDown = downError{}

func (f *fakeAccounts) User(_ context.Context, name string) (map[string]any, error) {
	ds, err := f.dests(name)
	if err != nil {
		return nil, err
	}
	var emails []string
	for _, d := range ds {
		if d.Protocol == "email" {
			emails = append(emails, d.Address)
		}
	}
	return map[string]any{"username": name, "emails": emails}, nil
}

func (f *fakeAccounts) Groups(_ context.Context, name string) ([]string, error) {
	if _, err := f.dests(name); err != nil {
		return nil, err
	}
	return []string{"packager"}, nil
}

func (f *fakeAccounts) Destinations(_ context.Context, name string) ([]rules.Destination, error) {
	return f.dests(name)
}

func (f *fakeAccounts) SearchUsers(_ context.Context, search string) ([]string, error) {
	var out []string
	for _, u := range []string{"alice", "alicia", "bob", "root"} {
		if strings.Contains(u, search) {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *fakeAccounts) Artifacts(_ context.Context, q api.ArtifactQuery) ([]rules.Artifact, error) {
	var out []rules.Artifact
	for _, n := range q.Names {
		for _, a := range []string{"firefox", "firefox-pkcs11-loader", "thunderbird"} {
			if strings.Contains(a, n) {
				out = append(out, rules.Artifact{Type: "rpms", Name: a})
			}
		}
	}
	if slices.Contains(q.Users, "alice") {
		out = append(out, rules.Artifact{Type: "rpms", Name: "firefox"}, rules.Artifact{Type: "containers", Name: "toolbox"})
	}
	return out, nil
}

// syncBuffer collects the access log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// str reads an optional string ("" for null).
func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
