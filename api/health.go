// Package api serves fmn's HTTP endpoints. This file holds the operational
// ones: liveness, readiness and Prometheus metrics.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
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

// Register adds /healthz/live, /healthz/ready (also at FMN's
// /api/v1/healthz/…) and /metrics to mux.
func (o *Ops) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz/live", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /healthz/ready", o.ready)
	// FMN's paths and answers: {"detail": "OK"}, or on failure a detail
	// naming what is not ready (503 where FMN says 500: not ready is a
	// temporary unavailability).
	mux.HandleFunc("GET "+Prefix+"/healthz/live", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"detail":"OK"}` + "\n"))
	})
	mux.HandleFunc("GET "+Prefix+"/healthz/ready", o.readyFMN)
	if o.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	}
}

// readiness runs the checks: the status, each check's text, and the
// failures as one sentence.
func (o *Ops) readiness(r *http.Request) (code int, checks map[string]string, failed string) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks = map[string]string{}
	code = http.StatusOK
	// The checks run side by side: one slow dependency costs its own
	// time, not the sum.
	texts := make([]string, len(o.Checks))
	oks := make([]bool, len(o.Checks))
	var wg sync.WaitGroup
	for i, c := range o.Checks {
		wg.Go(func() { texts[i], oks[i] = c.run(ctx) })
	}
	wg.Wait()
	var fails []string
	for i, c := range o.Checks {
		checks[c.Name] = texts[i]
		if !oks[i] {
			code = http.StatusServiceUnavailable
			fails = append(fails, c.Name+": "+texts[i])
		}
	}
	return code, checks, strings.Join(fails, "; ")
}

func (o *Ops) ready(w http.ResponseWriter, r *http.Request) {
	type result struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	code, checks, _ := o.readiness(r)
	res := result{Status: "ok", Checks: checks}
	if code != http.StatusOK {
		res.Status = "unavailable"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}

// readyFMN is readiness in FMN's form: {"detail": "OK"} or the failures.
func (o *Ops) readyFMN(w http.ResponseWriter, r *http.Request) {
	code, checks, failed := o.readiness(r)
	res := struct {
		Detail string            `json:"detail"`
		Checks map[string]string `json:"checks"`
	}{Detail: "OK", Checks: checks}
	if code != http.StatusOK {
		res.Detail = "Not ready: " + failed
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}
