// Package devoidc runs a real OpenID Connect provider in-process on loopback,
// for development (`fmn dev` without FMN_OIDC_ISSUER) and for tests: the
// example OP of github.com/zitadel/oidc (authorization code with PKCE,
// refresh tokens, UserInfo, token introspection, end session), with fmn's
// client registered,
// users that carry a groups claim, and a plain login form that a browser or
// a test fills in.
//
// It is not an identity provider for production: users and passwords are
// fixed at start, and keys and sessions live in memory only.
package devoidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/internal/redact"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Client ids and secrets registered at every provider.
const (
	// ClientID is fmn's client: FMN_OIDC_CLIENT_ID, the audience of its
	// tokens. In the login flow it is a public client (a browser app):
	// PKCE is required and any secret is ignored there.
	ClientID = "fmn"
	// ClientSecret is fmn's FMN_OIDC_CLIENT_SECRET: with ClientID it
	// authenticates fmn's API at the introspection endpoint (RFC 7662).
	ClientSecret = "fmn-secret"
	// OtherClientID is another application of the same provider, a
	// confidential one: its tokens carry the wrong audience for fmn.
	OtherClientID     = "other-app"
	OtherClientSecret = "other-secret"
	// RedirectURI is where LoginAt's flow ends; nothing listens there, the
	// flow stops at the redirect and takes the code from it.
	RedirectURI = "http://127.0.0.1:1/callback"
	// Password is every user's password unless User.Password is set.
	Password = "verysecure"
)

// User is an account of the provider.
type User struct {
	Username string
	Groups   []string
	// Password defaults to the package's Password.
	Password string
	// Refused users log in with the right password, and the provider then
	// refuses them: the client gets error=access_denied.
	Refused bool
}

func (u User) password() string {
	if u.Password != "" {
		return u.Password
	}
	return Password
}

// DefaultUsers are alice and bob (plain users), root (in the groups
// sysadmin-main and packager: an admin of fmn's default FMN_ADMIN_GROUPS)
// and mallory, whom the provider refuses.
func DefaultUsers() []User {
	return []User{
		{Username: "alice", Groups: []string{"packager"}},
		{Username: "bob", Groups: []string{"packager", "designers"}},
		{Username: "root", Groups: []string{"sysadmin-main", "packager"}},
		{Username: "mallory", Refused: true},
	}
}

// Config describes a provider. Zero fields take the defaults.
type Config struct {
	// Addr is where the provider listens (default 127.0.0.1:0, a free
	// port); the issuer is http://Addr. Loopback only: the issuer is plain
	// HTTP.
	Addr string
	// Users (default DefaultUsers()).
	Users []User
	// AltIssuer also serves the same keys and users under a second issuer
	// on another port, so that a token of the other issuer has a valid
	// signature and only its issuer is wrong (tests).
	AltIssuer bool
	// JWTAccessTokens gives fmn's client JWT access tokens (default
	// opaque ones, which fmn resolves through token introspection with
	// ClientSecret); SetJWTAccessTokens
	// changes it later.
	JWTAccessTokens bool
	// PublicURL is fmn's address when it is not on loopback: its
	// /auth/callback, /auth/silent and / are registered too. Loopback
	// addresses of fmn (any port) always are.
	PublicURL string
	// ShowUsers lists the users and their password on the login page
	// (development).
	ShowUsers bool
}

// Provider is a running OP.
type Provider struct {
	// Issuer is the provider's URL: FMN_OIDC_ISSUER.
	Issuer string
	// AltIssuer is the second issuer (Config.AltIssuer), else "".
	AltIssuer string
	// UserInfoCalls counts requests to the UserInfo endpoint,
	// IntrospectionCalls those to the introspection endpoint, and
	// KeySetCalls those to the key set (jwks_uri).
	UserInfoCalls, IntrospectionCalls, KeySetCalls atomic.Int64

	cfg        Config
	jwtAccess  atomic.Bool
	minimal    atomic.Bool      // introspection answers without profile claims
	idLifetime atomic.Int64     // time.Duration; 0 = the default hour
	users      map[string]*User // by user id
	order      []User
	st         *opStorage
	servers    []*http.Server
}

// Start runs a provider until Close.
func Start(cfg Config) (*Provider, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if len(cfg.Users) == 0 {
		cfg.Users = DefaultUsers()
	}
	p := &Provider{cfg: cfg, users: map[string]*User{}, order: cfg.Users}
	p.jwtAccess.Store(cfg.JWTAccessTokens)
	us := userStore{users: map[string]*storage.User{}}
	for i := range cfg.Users {
		u := cfg.Users[i]
		if u.Username == "" {
			return nil, errors.New("devoidc: a user without a username")
		}
		id := "id-" + u.Username
		p.users[id] = &u
		us.users[id] = &storage.User{
			ID: id, Username: u.Username, Password: u.password(),
			FirstName: u.Username, LastName: "Test", Email: u.Username + "@example.org", EmailVerified: true,
			PreferredLanguage: language.English,
		}
	}
	clients := map[string]*storage.Client{
		ClientID:      storage.NativeClient(ClientID, p.redirectURIs()...),
		OtherClientID: storage.WebClient(OtherClientID, OtherClientSecret, RedirectURI),
	}
	p.st = &opStorage{Storage: storage.NewStorageWithClients(us, clients), p: p}

	listeners := []net.Listener{}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("devoidc: listen on %s: %w", cfg.Addr, err)
	}
	listeners = append(listeners, l)
	if cfg.AltIssuer {
		l2, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("devoidc: %w", err)
		}
		listeners = append(listeners, l2)
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	for i, l := range listeners {
		issuer := "http://" + l.Addr().String()
		if i == 0 {
			p.Issuer = issuer
		} else {
			p.AltIssuer = issuer
		}
		h, err := p.handler(issuer, key)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		p.servers = append(p.servers, srv)
		go func() { _ = srv.Serve(l) }()
	}
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() error {
	var errs []error
	for _, s := range p.servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Users are the provider's accounts, in the order given.
func (p *Provider) Users() []User { return append([]User(nil), p.order...) }

// SetJWTAccessTokens makes fmn's client get JWT access tokens (true) or
// opaque ones (false), for logins from now on.
func (p *Provider) SetJWTAccessTokens(on bool) { p.jwtAccess.Store(on) }

// SetMinimalIntrospection makes the introspection endpoint answer only
// what RFC 7662 requires and little more (active, client_id, aud, exp,
// sub), without the username or groups, as some providers do (true), or
// with the profile claims and groups (false, the default).
func (p *Provider) SetMinimalIntrospection(on bool) { p.minimal.Store(on) }

// SetIDTokenLifetime sets the lifetime of the ID tokens issued from now on;
// a negative one issues tokens that have already expired. 0 restores the
// default hour.
func (p *Provider) SetIDTokenLifetime(d time.Duration) { p.idLifetime.Store(int64(d)) }

// redirectURIs of fmn's client: on loopback the port does not count (RFC
// 8252, 7.3), so these cover fmn on any port of 127.0.0.1 or localhost.
func (p *Provider) redirectURIs() []string {
	var out []string
	for _, host := range []string{"127.0.0.1", "localhost", "[::1]"} {
		out = append(out, "http://"+host+"/auth/callback", "http://"+host+"/auth/silent")
	}
	if pub := strings.TrimRight(p.cfg.PublicURL, "/"); pub != "" {
		out = append(out, pub+"/auth/callback", pub+"/auth/silent")
	}
	// LoginAt's.
	return append(out, "http://127.0.0.1/callback")
}

func (p *Provider) postLogoutURIs() []string {
	out := []string{"http://127.0.0.1/", "http://localhost/", "http://[::1]/"}
	if pub := strings.TrimRight(p.cfg.PublicURL, "/"); pub != "" {
		out = append(out, pub+"/")
	}
	return out
}

// handler is the OP for one issuer: the protocol endpoints and the login
// form.
func (p *Provider) handler(issuer string, key [32]byte) (http.Handler, error) {
	config := &op.Config{
		CryptoKey:                key,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
	}
	provider, err := op.NewProvider(config, p.st, op.StaticIssuer(issuer),
		op.WithAllowInsecure(), // http:// issuer, on loopback
		op.WithCustomAuthEndpoint(op.NewEndpoint("auth")),
	)
	if err != nil {
		return nil, fmt.Errorf("devoidc: %w", err)
	}
	callback := op.AuthCallbackURL(provider)
	login := op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.login(w, r, callback)
	})
	mux := http.NewServeMux()
	mux.Handle("/login/username", login)
	mux.HandleFunc("/logged-out", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("You are logged out of the development login provider.\n"))
	})
	// Browsers ask every site for one; an empty answer keeps their consoles clean.
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/", provider)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/userinfo":
			p.UserInfoCalls.Add(1)
		case "/oauth/introspect":
			p.IntrospectionCalls.Add(1)
		case "/keys":
			p.KeySetCalls.Add(1)
		}
		mux.ServeHTTP(w, r)
	}), nil
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · development login provider</title>
<link rel="icon" href="data:,">
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f5f7; color: #1b1f24; }
main { background: #fff; border: 1px solid #d0d5dc; border-radius: 8px; padding: 1.5rem 2rem; width: min(22rem, 90vw); }
h1 { font-size: 1.25rem; margin: 0 0 1rem; }
label { display: block; font-weight: 600; margin-top: .75rem; }
input { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem .5rem; border: 1px solid #6b7580; border-radius: 4px; }
button { margin-top: 1rem; font: inherit; font-weight: 600; padding: .45rem 1.2rem; border: 0; border-radius: 4px; background: #1f5fbf; color: #fff; cursor: pointer; }
.error { color: #a4161a; margin: .75rem 0 0; }
.hint { color: #4a525c; font-size: .9rem; margin-top: 1.25rem; }
</style>
</head>
<body>
<main>
<h1>Log in</h1>
<form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="{{.Username}}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<button type="submit">Log in</button>
</form>
{{if .Users}}<p class="hint">Development login provider of <code>fmn dev</code>. Users: {{range $i, $u := .Users}}{{if $i}}, {{end}}<code>{{$u.Username}}</code>{{if $u.Groups}} ({{range $j, $g := $u.Groups}}{{if $j}}, {{end}}{{$g}}{{end}}){{end}}{{if $u.Refused}} (refused){{end}}{{end}}; password <code>{{.Password}}</code>.</p>{{end}}
</main>
</body>
</html>
`))

// login is the login form: GET shows it for an auth request, POST checks
// the password and hands the request back to the OP (or refuses it).
func (p *Provider) login(w http.ResponseWriter, r *http.Request, callback func(context.Context, string) string) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse the form", http.StatusBadRequest)
		return
	}
	id := r.FormValue("authRequestID")
	if r.Method == http.MethodPost {
		id = r.FormValue("id")
	}
	data := struct {
		ID, Username, Error, Password string
		Users                         []User
	}{ID: id, Password: Password}
	if p.cfg.ShowUsers {
		data.Users = p.order
	}
	render := func(status int) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = loginPage.Execute(w, data)
	}
	switch r.Method {
	case http.MethodGet:
		render(http.StatusOK)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	username, password := r.FormValue("username"), r.FormValue("password")
	data.Username = username
	var user *User
	for i := range p.order {
		if p.order[i].Username == username {
			user = &p.order[i]
		}
	}
	if user != nil && user.Refused && password == user.password() {
		// Back to the client with an error, as a provider does when a
		// user may not use an application.
		req, err := p.st.AuthRequestByID(r.Context(), id)
		if err != nil {
			data.Error = "This login has expired: go back to the application and start again."
			render(http.StatusBadRequest)
			return
		}
		_ = p.st.DeleteAuthRequest(r.Context(), id)
		q := url.Values{"error": {"access_denied"}, "error_description": {"the user is not allowed to use this application"}}
		if s := req.GetState(); s != "" {
			q.Set("state", s)
		}
		sep := "?"
		if strings.Contains(req.GetRedirectURI(), "?") {
			sep = "&"
		}
		http.Redirect(w, r, req.GetRedirectURI()+sep+q.Encode(), http.StatusFound)
		return
	}
	if err := p.st.CheckUsernamePassword(username, password, id); err != nil {
		data.Error = "Wrong username or password."
		if strings.Contains(err.Error(), "request not found") {
			data.Error = "This login has expired: go back to the application and start again."
		}
		render(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
}

// Tokens is the answer of the token endpoint.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// LoginAt runs the authorization code flow with PKCE at issuer (Issuer or
// AltIssuer) for a client, as a browser would: authorization request, login
// form, callback, then the code exchange (with the secret as basic auth
// when one is given).
func (p *Provider) LoginAt(ctx context.Context, issuer, clientID, secret, username, password string) (Tokens, error) {
	c := &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), RedirectURI) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	var vb [32]byte
	_, _ = rand.Read(vb[:])
	verifier := base64.RawURLEncoding.EncodeToString(vb[:])
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {RedirectURI}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"st8"}, "nonce": {"n0nce"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	get := func(u string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		return c.Do(req)
	}
	post := func(u string, form url.Values, user, pass string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		return c.Do(req)
	}
	// 1. The authorization request redirects to the login page, which
	// names the auth request.
	resp, err := get(issuer + "/auth?" + q.Encode())
	if err != nil {
		return Tokens{}, err
	}
	resp.Body.Close()
	authReqID := resp.Request.URL.Query().Get("authRequestID")
	if authReqID == "" {
		return Tokens{}, fmt.Errorf("authorization request did not reach the login page (at %s, status %d)", resp.Request.URL, resp.StatusCode)
	}
	// 2. The login form; its callback redirects to the client with a code.
	resp, err = post(issuer+"/login/username", url.Values{"username": {username}, "password": {password}, "id": {authReqID}}, "", "")
	if err != nil {
		return Tokens{}, err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return Tokens{}, fmt.Errorf("login as %s was not accepted (status %d)", username, resp.StatusCode)
	}
	if e := loc.Query().Get("error"); e != "" {
		return Tokens{}, fmt.Errorf("login as %s refused: %s (%s)", username, e, loc.Query().Get("error_description"))
	}
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != "st8" {
		return Tokens{}, fmt.Errorf("callback without code or with the wrong state: %s", redact.Of(loc))
	}
	// 3. The code exchange.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI}, "code_verifier": {verifier}}
	basicUser := ""
	if secret == "" {
		form.Set("client_id", clientID) // a public client names itself
	} else {
		basicUser = clientID
	}
	resp, err = post(issuer+"/oauth/token", form, basicUser, secret)
	if err != nil {
		return Tokens{}, err
	}
	defer resp.Body.Close()
	var tok Tokens
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return Tokens{}, fmt.Errorf("token response (status %d): %w", resp.StatusCode, err)
	}
	if tok.AccessToken == "" || tok.IDToken == "" {
		return Tokens{}, fmt.Errorf("token response (status %d) without tokens", resp.StatusCode)
	}
	return tok, nil
}

// opStorage is the example storage with fmn's additions: a groups claim,
// preferred_username in JWT access tokens, introspection by fmn's client,
// and the provider's switches of token types and lifetimes.
type opStorage struct {
	*storage.Storage
	p *Provider
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil || id != ClientID {
		return c, err
	}
	return &client{Client: c, p: s.p}, nil
}

// AuthorizeClientIDSecret accepts fmn's client with ClientSecret: the
// browser logs in as a public client, while fmn's API authenticates with
// the secret to introspect tokens. Other clients are the example's.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if id == ClientID {
		if subtle.ConstantTimeCompare([]byte(secret), []byte(ClientSecret)) != 1 {
			return errors.New("invalid secret")
		}
		return nil
	}
	return s.Storage.AuthorizeClientIDSecret(ctx, id, secret)
}

// SetIntrospectionFromToken answers for every live token of the provider,
// whichever client it was issued to, and names that client in client_id
// and aud, as Keycloak and Ipsilon do: the resource server (fmn) must check
// that the token is its own. (The example storage answers only for tokens
// whose audience is the asking client.)
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	var err error
	for _, aud := range []string{clientID, ClientID, OtherClientID} {
		*resp = oidc.IntrospectionResponse{}
		if err = s.Storage.SetIntrospectionFromToken(ctx, resp, tokenID, subject, aud); err == nil {
			resp.Audience = oidc.Audience{aud}
			break
		}
	}
	if err != nil {
		return err
	}
	if s.p.minimal.Load() {
		*resp = oidc.IntrospectionResponse{
			ClientID: resp.ClientID, Audience: resp.Audience, Expiration: resp.Expiration,
			Subject: resp.Subject, Scope: resp.Scope,
		}
		return nil
	}
	if resp.Claims == nil {
		resp.Claims = map[string]any{}
	}
	resp.Claims["groups"] = s.groups(resp.Subject)
	resp.TokenType = "Bearer"
	return nil
}

func (s *opStorage) groups(userID string) []string {
	if u := s.p.users[userID]; u != nil {
		return u.Groups
	}
	return nil
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	ui.AppendClaims("groups", s.groups(req.GetSubject()))
	return nil
}

func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	ui.AppendClaims("groups", s.groups(ui.Subject))
	return nil
}

func (s *opStorage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	c, err := s.Storage.GetPrivateClaimsFromScopes(ctx, userID, clientID, scopes)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = map[string]any{}
	}
	if u := s.p.users[userID]; u != nil {
		c["preferred_username"] = u.Username
		c["groups"] = u.Groups
	}
	return c, nil
}

// client is fmn's client with the provider's switches applied.
type client struct {
	op.Client
	p *Provider
}

func (c *client) AccessTokenType() op.AccessTokenType {
	if c.p.jwtAccess.Load() {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}

func (c *client) IDTokenLifetime() time.Duration {
	if d := time.Duration(c.p.idLifetime.Load()); d != 0 {
		return d
	}
	return c.Client.IDTokenLifetime()
}

func (c *client) PostLogoutRedirectURIs() []string { return c.p.postLogoutURIs() }

// IDTokenUserinfoClaimsAssertion puts the profile claims into the ID token
// even when an access token is issued, as many providers do.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

type userStore struct{ users map[string]*storage.User }

func (u userStore) GetUserByID(id string) *storage.User { return u.users[id] }

func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u.users {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u userStore) ExampleClientID() string { return storage.ServiceUserID }
