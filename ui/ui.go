// Package ui serves fmn's web interface: the Vite build of the Vue app in this
// folder, embedded in the binary.
//
// `make ui` builds the app into dist/app/, which git ignores. Without it, the
// committed placeholder dist/index.html is served instead, so `go build` works on a
// machine without Node.js and the binary says how to get the real UI.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Config is the runtime configuration the app reads from /config.json at start, so
// one build serves every deployment.
type Config struct {
	// OIDCIssuer is the OpenID Connect provider users log in with (empty: login is
	// not configured and the app says so).
	OIDCIssuer string `json:"oidc_issuer"`
	// OIDCClientID is the public client the app uses for the authorization code flow
	// with PKCE; it is also the audience the API checks.
	OIDCClientID string `json:"oidc_client_id"`
	// OIDCScopes are the scopes requested at login (default "openid profile email").
	OIDCScopes string `json:"oidc_scopes"`
	// PublicURL is how users reach fmn.
	PublicURL string `json:"public_url"`
	// SiteName is shown in the page title and header (default "fmn").
	SiteName string `json:"site_name"`
	// APIBase is where the REST API lives (default "/api/v1").
	APIBase string `json:"api_base"`
}

func (c Config) withDefaults() Config {
	if c.OIDCScopes == "" {
		c.OIDCScopes = "openid profile email"
	}
	if c.SiteName == "" {
		c.SiteName = "fmn"
	}
	if c.APIBase == "" {
		c.APIBase = "/api/v1"
	}
	return c
}

// Built reports whether the binary embeds a real build of the app rather than the
// placeholder.
func Built() bool {
	_, err := fs.Stat(dist, "dist/app/index.html")
	return err == nil
}

// Handler serves the app at the root of a mux: hashed files under /assets/ with
// immutable caching, /config.json from cfg, any other GET that is not a file the
// app's index.html (no-cache), so client-side routes such as /rules/12 load the app.
// Paths under /api/ are never answered with the app: they get a plain 404.
func Handler(cfg Config) http.Handler {
	sub, err := fs.Sub(dist, "dist/app")
	if !Built() || err != nil {
		sub, _ = fs.Sub(dist, "dist")
	}
	return newHandler(sub, cfg)
}

type handler struct {
	files  fs.FS
	index  []byte
	etags  map[string]string
	config []byte
	csp    string
}

func newHandler(files fs.FS, cfg Config) *handler {
	cfg = cfg.withDefaults()
	h := &handler{files: files, etags: map[string]string{}}
	h.index, _ = fs.ReadFile(files, "index.html")
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := fs.ReadFile(files, p); err == nil {
			sum := sha256.Sum256(b)
			h.etags[p] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		}
		return nil
	})
	h.config, _ = json.Marshal(cfg)
	h.config = append(h.config, '\n')
	h.csp = contentSecurityPolicy(cfg.OIDCIssuer)
	return h
}

// contentSecurityPolicy lets the app talk to fmn and to the login provider only.
func contentSecurityPolicy(issuer string) string {
	connect := "'self'"
	if u, err := url.Parse(issuer); err == nil && u.Scheme != "" && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"connect-src " + connect + "; frame-src " + connect + "; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	switch {
	case p == "/config.json":
		w.Header().Set("Cache-Control", "no-cache")
		h.serveBytes(w, r, "config.json", "application/json", h.config, "")
		return
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name != "" && name != "index.html" {
		if st, err := fs.Stat(h.files, name); err == nil && !st.IsDir() {
			if strings.HasPrefix(name, "assets/") {
				// Vite puts a content hash in every file name under assets/.
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				w.Header().Set("Cache-Control", "no-cache")
			}
			b, _ := fs.ReadFile(h.files, name)
			h.serveBytes(w, r, name, mime.TypeByExtension(path.Ext(name)), b, h.etags[name])
			return
		}
		// A missing hashed file is an old or broken build: answering with HTML would
		// make the browser run or cache the wrong thing.
		if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" && path.Ext(name) != ".html" {
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", h.csp)
	h.serveBytes(w, r, "index.html", "text/html; charset=utf-8", h.index, h.etags["index.html"])
}

func (h *handler) serveBytes(w http.ResponseWriter, r *http.Request, name, ctype string, b []byte, etag string) {
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
