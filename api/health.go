// Package api serves fmn's HTTP endpoints. This file holds the operational
// ones: liveness, readiness and Prometheus metrics.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness dependency: nil means ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Detail, when set, is used instead of Fn: ready when the error is
	// nil, and the text (e.g. "standby: lease held by host-b") is shown
	// in place of "ok".
	Detail func(ctx context.Context) (string, error)
}

// run runs the check: its text, and whether it passed.
func (c Check) run(ctx context.Context) (string, bool) {
	if c.Detail != nil {
		text, err := c.Detail(ctx)
		switch {
		case err != nil:
			return err.Error(), false
		case text == "":
			return "ok", true
		}
		return text, true
	}
	if err := c.Fn(ctx); err != nil {
		return err.Error(), false
	}
	return "ok", true
}

// Ops is the operational handler set.
type Ops struct {
	Checks   []Check
	Registry *prometheus.Registry
}

// Register adds /healthz/live, /healthz/ready and /metrics to mux.
func (o *Ops) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz/live", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /healthz/ready", o.ready)
	if o.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	}
}

func (o *Ops) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	type result struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	res := result{Status: "ok", Checks: map[string]string{}}
	code := http.StatusOK
	// The checks run side by side: one slow dependency costs its own
	// time, not the sum.
	texts := make([]string, len(o.Checks))
	oks := make([]bool, len(o.Checks))
	var wg sync.WaitGroup
	for i, c := range o.Checks {
		wg.Go(func() { texts[i], oks[i] = c.run(ctx) })
	}
	wg.Wait()
	for i, c := range o.Checks {
		res.Checks[c.Name] = texts[i]
		if !oks[i] {
			res.Status = "unavailable"
			code = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}
