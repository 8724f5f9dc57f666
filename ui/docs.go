package ui

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

// docsCSP allows the docs page to load from fmn only: its scripts and styles are
// the swagger-ui-dist files copied into the build (swagger-ui sets inline style
// attributes and uses data: images in its CSS).
const docsCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// The files of the docs page in the build (vite.config.ts copies swagger-ui-dist
// there; public/docs/init.js starts it). The UI handler serves them.
const (
	docsBundle = "docs/swagger-ui-bundle.js"
	docsCSS    = "docs/swagger-ui.css"
	docsInit   = "docs/init.js"
)

var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fmn API documentation</title>
<link rel="stylesheet" href="/{{.CSS}}">
</head>
<body>
<noscript><p>The interactive documentation needs JavaScript. The OpenAPI document is at
<a href="{{.Spec}}">{{.Spec}}</a>.</p></noscript>
<div id="swagger-ui" data-url="{{.Spec}}"></div>
<script src="/{{.Bundle}}"></script>
<script src="/{{.Init}}"></script>
</body>
</html>
`))

var docsFallback = template.Must(template.New("fallback").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fmn API documentation</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
  code { background: #f1f1f1; padding: .1rem .3rem; border-radius: 3px; }
</style>
</head>
<body>
<main>
<h1>fmn API documentation</h1>
<p>The OpenAPI document is at <a href="{{.Spec}}"><code>{{.Spec}}</code></a>.</p>
<p>This binary was built without the web UI, which also holds the interactive
documentation. Build it with <code>make ui</code> (needs Node.js&nbsp;20.19 or later),
then rebuild fmn with <code>make build</code>.</p>
</main>
</body>
</html>
`))

// DocsHandler serves the interactive API documentation (swagger-ui, from the
// embedded build, for the OpenAPI document at spec), or, in a binary without the
// UI build, a plain page that links to spec and says how to build the UI.
func DocsHandler(spec string) http.Handler {
	sub, err := fs.Sub(dist, "dist/app")
	if !Built() || err != nil {
		sub, _ = fs.Sub(dist, "dist")
	}
	return newDocsHandler(sub, spec)
}

type docsHandler struct {
	page []byte
	csp  string
}

func newDocsHandler(files fs.FS, spec string) *docsHandler {
	data := struct{ Spec, CSS, Bundle, Init string }{spec, docsCSS, docsBundle, docsInit}
	t := docsFallback
	if hasFiles(files, docsBundle, docsCSS, docsInit) {
		t = docsPage
	}
	var b bytes.Buffer
	_ = t.Execute(&b, data)
	return &docsHandler{page: b.Bytes(), csp: docsCSP}
}

func hasFiles(files fs.FS, names ...string) bool {
	for _, n := range names {
		if st, err := fs.Stat(files, n); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

func (h *docsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", h.csp)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	http.ServeContent(w, r, "docs.html", time.Time{}, bytes.NewReader(h.page))
}
