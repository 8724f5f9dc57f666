package fmntest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/fmn-project/fmn/devfas"
)

// FASJSON is the FASJSON v1 stand-in of package devfas, for tests.
type FASJSON = devfas.Server

// StartFASJSON starts a FASJSON test server for the test's duration. Its
// lists hold at most 2 items a page, so clients must follow pagination.
func StartFASJSON(t testing.TB) *FASJSON {
	t.Helper()
	f := devfas.New()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A write error means the client went away: nothing to do.
	_ = json.NewEncoder(w).Encode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
