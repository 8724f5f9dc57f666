package api

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
)

// reqInfo travels with a request so that the outer middleware learns what
// the inner layers found out: the operation (for metric labels) and the
// user (for the access log).
type reqInfo struct {
	id    string
	route string
	user  string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(infoKey{}).(*reqInfo)
	return ri
}

// requestID is the id of the request being served, "" outside one.
func requestID(ctx context.Context) string {
	if ri := infoFrom(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// middleware wraps the API mux with, from the outside in: request id,
// access log and metrics, CORS, and the body size limit.
func (s *Server) middleware(next http.Handler) http.Handler {
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
	cors := newCORS(s.cfg.CORSOrigins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: cleanRequestID(r.Header.Get("X-Request-ID")), route: "unmatched"}
		if ri.id == "" {
			ri.id = rand.Text()[:16]
		}
		w.Header().Set("X-Request-ID", ri.id)
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		rw := &statusWriter{ResponseWriter: w}
		s.metrics.inFlight.Inc()
		defer rw.release()
		defer func() {
			s.metrics.inFlight.Dec()
			d := time.Since(start)
			if ri.route == "unmatched" && r.Pattern != "" {
				ri.route = r.Pattern // the documents, served outside huma's middleware
			}
			code := rw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(ri.route, r.Method, strconv.Itoa(code)).Inc()
			s.metrics.latency.WithLabelValues(ri.route, r.Method).Observe(d.Seconds())
			// The access log names the path, never the query's or the
			// headers' secrets: tokens travel only in Authorization.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("request_id", ri.id), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("route", ri.route),
				slog.Int("status", code), slog.Int64("bytes", rw.n),
				slog.Duration("duration", d), slog.String("user", ri.user),
				slog.String("remote", r.RemoteAddr))
		}()
		if cors != nil && r.Header.Get("Origin") != "" {
			cors.ServeHTTP(rw, r, limited)
			return
		}
		limited(rw, r)
	})
}

// cleanRequestID accepts a client's request id when it is short and plain.
func cleanRequestID(v string) string {
	if len(v) == 0 || len(v) > 64 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return ""
		}
	}
	return v
}

// newCORS answers preflight requests and adds the CORS headers for the
// origins allowed ("*": any), nil when none is.
func newCORS(origins []string) *cors.Cors {
	if len(origins) == 0 {
		return nil
	}
	anyOrigin := slices.Contains(origins, "*")
	return cors.New(cors.Options{
		// A function, so that the allowed origin is echoed (never "*") and
		// compared exactly as configured.
		AllowOriginFunc:      func(origin string) bool { return anyOrigin || slices.Contains(origins, origin) },
		AllowedMethods:       []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders:       []string{"Authorization", "Content-Type", "If-Match", "If-None-Match", "X-Request-ID"},
		ExposedHeaders:       []string{"ETag", "Link", "Location", "Retry-After", "X-Request-ID", "WWW-Authenticate"},
		MaxAge:               600,
		OptionsSuccessStatus: http.StatusNoContent,
	})
}

// statusWriter notes the status and the bytes of the answer for the log
// and the metrics. It holds back the status until the first bytes of the
// body (or the end of the request), so that a body written whole can
// declare its length first (setLength): net/http then sends it in two
// writes where a chunked one took three.
type statusWriter struct {
	http.ResponseWriter
	code int
	n    int64
	// held is the status held back; passed that the underlying writer
	// has had the status or the body.
	held   int
	passed bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	switch {
	case code < 200: // informational: at once
	case w.held != 0: // net/http keeps the first status too
		return
	case !w.passed:
		w.held = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// release passes on the status held back.
func (w *statusWriter) release() {
	w.passed = true
	if code := w.held; code != 0 {
		w.held = 0
		w.ResponseWriter.WriteHeader(code)
	}
}

// setLength declares the length of the body about to be written whole,
// when the status is still held back.
func (w *statusWriter) setLength(n int) {
	if w.held != 0 {
		w.Header().Set("Content-Length", strconv.Itoa(n))
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.release()
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter {
	w.release()
	return w.ResponseWriter
}

// Flush lets streaming responses (server-sent events) through the
// middleware.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.code == 0 {
			w.code = http.StatusOK
		}
		w.release()
		f.Flush()
	}
}

// metrics of the API.
type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	authFailures prometheus.Counter
	authLimited  prometheus.Counter
	previews     prometheus.Histogram
	scanned      prometheus.Counter
	refused      *prometheus.CounterVec
	ruleLists    *prometheus.CounterVec
	// ruleListHits and ruleListMisses are ruleLists' two results.
	ruleListHits, ruleListMisses prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fmn_http_requests_total", Help: "API requests by operation, method and status.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fmn_http_request_duration_seconds", Help: "API request latency by operation and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fmn_http_requests_in_flight", Help: "API requests being served.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fmn_http_auth_failures_total", Help: "Requests refused for a bad token.",
		}),
		authLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fmn_http_auth_rate_limited_total", Help: "Requests refused (429) because their client address made too many failed authentications.",
		}),
		previews: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fmn_rule_preview_duration_seconds", Help: "Time to compute a rule preview.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		scanned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fmn_rule_preview_messages_total", Help: "Bus messages read by rule previews.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fmn_rule_previews_refused_total", Help: "Rule previews refused with 429, by the limit reached (user, server).",
		}, []string{"limit"}),
		ruleLists: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fmn_rule_list_reads_total",
			Help: "Reads of a user's rules (GET /users/{u}/rules) by result: hit (the cached answer was still current), miss (read from PostgreSQL).",
		}, []string{"result"}),
	}
	m.ruleListHits, m.ruleListMisses = m.ruleLists.WithLabelValues("hit"), m.ruleLists.WithLabelValues("miss")
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.inFlight, m.authFailures, m.authLimited, m.previews, m.scanned, m.refused, m.ruleLists)
	}
	return m
}
