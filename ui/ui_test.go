package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{
		"index.html":             {Data: []byte("<!doctype html><title>app</title>")},
		"assets/index-AbC123.js": {Data: []byte("console.log(1)")},
		"favicon.svg":            {Data: []byte("<svg/>")},
	}
	h := newHandler(files, Config{OIDCIssuer: "http://127.0.0.1:5556/dex", OIDCClientID: "fmn-ui"})

	get := func(t *testing.T, method, target string, hdr ...string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	t.Run("hashed assets are immutable", func(t *testing.T) {
		rec := get(t, "GET", "/assets/index-AbC123.js")
		if rec.Code != 200 || rec.Body.String() != "console.log(1)" {
			t.Fatalf("got %d %q", rec.Code, rec.Body.String())
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("Cache-Control = %q", cc)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "application/javascript") {
			t.Errorf("Content-Type = %q", ct)
		}
	})
	t.Run("client routes fall back to index.html, not cached", func(t *testing.T) {
		for _, p := range []string{"/", "/rules/12", "/admin/users", "/index.html"} {
			rec := get(t, "GET", p)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<title>app</title>") {
				t.Fatalf("%s: got %d %q", p, rec.Code, rec.Body.String())
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("%s: Cache-Control = %q", p, cc)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:5556") {
				t.Errorf("%s: CSP = %q", p, csp)
			}
		}
	})
	t.Run("revalidation answers 304", func(t *testing.T) {
		etag := get(t, "GET", "/").Header().Get("ETag")
		if etag == "" {
			t.Fatal("no ETag on index.html")
		}
		if rec := get(t, "GET", "/rules", "If-None-Match", etag); rec.Code != http.StatusNotModified {
			t.Errorf("got %d, want 304", rec.Code)
		}
	})
	t.Run("missing files and API paths are 404, never the app", func(t *testing.T) {
		for _, p := range []string{"/assets/index-old.js", "/favicon.ico", "/api/v1/nothing", "/api"} {
			if rec := get(t, "GET", p); rec.Code != 404 {
				t.Errorf("%s: got %d, want 404", p, rec.Code)
			}
		}
	})
	t.Run("config.json comes from Go", func(t *testing.T) {
		rec := get(t, "GET", "/config.json")
		var cfg Config
		if err := json.Unmarshal(rec.Body.Bytes(), &cfg); err != nil {
			t.Fatal(err)
		}
		want := Config{OIDCIssuer: "http://127.0.0.1:5556/dex", OIDCClientID: "fmn-ui", OIDCScopes: "openid profile email", SiteName: "fmn", APIBase: "/api/v1"}
		if cfg != want {
			t.Errorf("got %+v, want %+v", cfg, want)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("Cache-Control = %q", cc)
		}
	})
	t.Run("only GET and HEAD", func(t *testing.T) {
		rec := get(t, "POST", "/rules")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("got %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
		}
		if rec := get(t, "HEAD", "/"); rec.Code != 200 || rec.Body.Len() != 0 {
			t.Errorf("HEAD: got %d with %d bytes", rec.Code, rec.Body.Len())
		}
	})
}

func TestEmbeddedServesSomething(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	Handler(Config{}).ServeHTTP(rec, httptest.NewRequest("GET", "/rules/1", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("got %d %.200q (built=%v)", rec.Code, rec.Body.String(), Built())
	}
}

// With `make ui` done, the real build is embedded: its index.html must load hashed
// assets that the handler serves with immutable caching.
func TestEmbeddedBuild(t *testing.T) {
	t.Parallel()
	if !Built() {
		t.Skip("no ui/dist/app: run `make ui` to embed the real build")
	}
	h := Handler(Config{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/rules/12", nil))
	body := rec.Body.String()
	i := strings.Index(body, `src="/assets/`)
	if rec.Code != 200 || i < 0 {
		t.Fatalf("index.html: %d %.300q", rec.Code, body)
	}
	src := body[i+5:]
	src = src[:strings.IndexByte(src, '"')]
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", src, nil))
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || rec.Body.Len() < 1000 {
		t.Fatalf("%s: %d %q, %d bytes", src, rec.Code, rec.Header().Get("Cache-Control"), rec.Body.Len())
	}
}
