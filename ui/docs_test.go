package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDocsHandler(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, h http.Handler, method string) *httptest.ResponseRecorder {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/api/docs", nil))
		return rec
	}
	checkHeaders := func(t *testing.T, rec *httptest.ResponseRecorder) {
		t.Helper()
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self';", "connect-src 'self';"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "http") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
			t.Errorf("CSP allows more than self: %q", csp)
		}
	}

	t.Run("built", func(t *testing.T) {
		t.Parallel()
		files := fstest.MapFS{
			"index.html":                 {Data: []byte("<!doctype html><title>app</title>")},
			"docs/swagger-ui-bundle.js":  {Data: []byte("var SwaggerUIBundle")},
			"docs/swagger-ui.css":        {Data: []byte("body{}")},
			"docs/init.js":               {Data: []byte("SwaggerUIBundle({})")},
			"assets/index-AbC123.js":     {Data: []byte("console.log(1)")},
			"docs/swagger-ui-bundle.LIC": {Data: []byte("")},
		}
		rec := get(t, newDocsHandler(files, "/api/v1/openapi.json"), http.MethodGet)
		checkHeaders(t, rec)
		body := rec.Body.String()
		for _, want := range []string{
			`<script src="/docs/swagger-ui-bundle.js"></script>`,
			`<script src="/docs/init.js"></script>`,
			`href="/docs/swagger-ui.css"`,
			`data-url="/api/v1/openapi.json"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s:\n%s", want, body)
			}
		}
		if strings.Contains(body, "unpkg") || strings.Contains(body, "https://") || strings.Contains(body, "<script>") {
			t.Errorf("page loads something remote or inline:\n%s", body)
		}
		// Every file the page references is in the build, and so served by Handler.
		app := newHandler(files, Config{})
		for _, p := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js"} {
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
			if rec.Code != http.StatusOK || strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Errorf("%s: %d %s", p, rec.Code, rec.Header().Get("Content-Type"))
			}
		}
		if rec := get(t, newDocsHandler(files, "/api/v1/openapi.json"), http.MethodPost); rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", rec.Code)
		}
	})

	t.Run("without a build", func(t *testing.T) {
		t.Parallel()
		files := fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>placeholder</title>")}}
		rec := get(t, newDocsHandler(files, "/api/v1/openapi.json"), http.MethodGet)
		checkHeaders(t, rec)
		body := rec.Body.String()
		for _, want := range []string{`<a href="/api/v1/openapi.json">`, "make ui"} {
			if !strings.Contains(body, want) {
				t.Errorf("fallback lacks %s:\n%s", want, body)
			}
		}
		if strings.Contains(body, "<script") {
			t.Errorf("fallback loads scripts:\n%s", body)
		}
	})

	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		rec := get(t, DocsHandler("/api/v1/openapi.json"), http.MethodGet)
		checkHeaders(t, rec)
		if !strings.Contains(rec.Body.String(), "/api/v1/openapi.json") {
			t.Errorf("page does not point at the document:\n%s", rec.Body.String())
		}
	})
}
