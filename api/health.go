// Package api serves fmn's HTTP endpoints. This file holds the operational
// ones: liveness, readiness and Prometheus metrics.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness dependency: nil means ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
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
	for _, c := range o.Checks {
		if err := c.Fn(ctx); err != nil {
			res.Checks[c.Name] = err.Error()
			res.Status = "unavailable"
			code = http.StatusServiceUnavailable
		} else {
			res.Checks[c.Name] = "ok"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}
