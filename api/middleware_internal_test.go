package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStatusWriter: holding the status back changes nothing the client
// sees but the length declared before a body written whole.
func TestStatusWriter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		do     func(w *statusWriter)
		code   int
		length string
		body   string
	}{
		{"first status wins", func(w *statusWriter) { w.WriteHeader(404); w.WriteHeader(500); _, _ = w.Write([]byte("x")) }, 404, "", "x"},
		{"status without body", func(w *statusWriter) { w.WriteHeader(http.StatusNotModified) }, 304, "", ""},
		{"body without status", func(w *statusWriter) { _, _ = w.Write([]byte("ok")) }, 200, "", "ok"},
		{"length of a whole body", func(w *statusWriter) { w.WriteHeader(201); w.setLength(5); _, _ = w.Write([]byte("hello")) }, 201, "5", "hello"},
		{"no length once the status is out", func(w *statusWriter) { w.WriteHeader(200); w.Flush(); w.setLength(2); _, _ = w.Write([]byte("hi")) }, 200, "", "hi"},
		{"unwrap passes the status on", func(w *statusWriter) { w.WriteHeader(202); _ = w.Unwrap() }, 202, "", ""},
	} {
		rec := httptest.NewRecorder()
		w := &statusWriter{ResponseWriter: rec}
		c.do(w)
		w.release()
		if rec.Code != c.code || rec.Header().Get("Content-Length") != c.length || rec.Body.String() != c.body {
			t.Errorf("%s: %d, length %q, body %q; want %d, %q, %q", c.name, rec.Code, rec.Header().Get("Content-Length"), rec.Body.String(), c.code, c.length, c.body)
		}
		if w.code != c.code {
			t.Errorf("%s: logged status %d, want %d", c.name, w.code, c.code)
		}
	}
}
