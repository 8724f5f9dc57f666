package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/queries"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/wire"
)

// roleOps is the operational side of one process, whatever its roles: the
// Prometheus registry, and the readiness checks each role adds as it
// starts (what it waits on: NATS, its durable consumers, PostgreSQL, the
// mail relay's circuit, its lease). It is served on FMN_METRICS_ADDR:
//
//   - /healthz/live: 200 while the process runs;
//   - /healthz/ready: 503 "starting" until every role runs, then every
//     role's checks, 503 when one fails, each with what it says;
//   - /metrics: the registry (the same one the API serves on FMN_HTTP_ADDR).
//
// FMN_HTTP_ADDR's /healthz/ready keeps answering for the API alone (what a
// load balancer needs to know), so that a mail relay outage in a process
// that also runs the API does not take the API out of rotation.
type roleOps struct {
	env *Env
	reg *prometheus.Registry

	mu     sync.Mutex
	checks []api.Check
	names  map[string]bool
	ready  atomic.Pointer[http.ServeMux] // set once every role runs

	consumers *consumerWatch
}

func newRoleOps(env *Env, reg *prometheus.Registry) *roleOps {
	w := &consumerWatch{}
	reg.MustRegister(w)
	return &roleOps{env: env, reg: reg, names: map[string]bool{}, consumers: w}
}

// add appends checks; a name already present is not added twice.
func (o *roleOps) add(cs ...api.Check) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range cs {
		if !o.names[c.Name] {
			o.names[c.Name] = true
			o.checks = append(o.checks, c)
		}
	}
}

// started freezes the checks: /healthz/ready answers with them from now on.
func (o *roleOps) started() {
	o.mu.Lock()
	checks := append([]api.Check(nil), o.checks...)
	o.mu.Unlock()
	mux := http.NewServeMux()
	(&api.Ops{Checks: checks}).Register(mux)
	o.ready.Store(mux)
}

// handler serves /metrics and /healthz/*.
func (o *roleOps) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz/live", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		if m := o.ready.Load(); m != nil {
			m.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"starting","checks":{}}` + "\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{}))
	return mux
}

// serve listens on addr and serves until the process ends; it returns the
// address it listens on (addr may have port 0).
func (o *roleOps) serve(addr string, log *slog.Logger) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("FMN_METRICS_ADDR: %w (each process on a host needs its own address)", err)
	}
	srv := &http.Server{Handler: o.handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics and health endpoint stopped", "err", err)
		}
	}()
	o.env.OnClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return l.Addr().String(), nil
}

// natsCheck is ready while the process's NATS connection is up.
func (o *roleOps) natsCheck() api.Check {
	return api.Check{Name: "nats", Fn: func(context.Context) error {
		if s := o.env.NC.Status(); s != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", s)
		}
		return nil
	}}
}

// postgresCheck is ready while PostgreSQL answers a ping.
func (o *roleOps) postgresCheck() api.Check {
	return api.Check{Name: "postgres", Fn: func(ctx context.Context) error { return o.env.DB.Ping(ctx) }}
}

// consumer watches a durable consumer: its info feeds the metrics, and
// reaching it is a readiness check. optional: not existing yet is fine (a
// leased sender's consumer is created by whichever process holds the
// lease).
func (o *roleOps) consumer(stream, durable string, optional bool) {
	c := o.consumers.watch(o.env.JS, stream, durable)
	o.add(api.Check{Name: "consumer " + stream + "/" + durable, Detail: func(ctx context.Context) (string, error) {
		info, err := c.get(ctx)
		switch {
		case optional && errors.Is(err, jetstream.ErrConsumerNotFound):
			return "not created yet", nil
		case err != nil:
			return "", fmt.Errorf("consumer info unreachable: %w", err)
		}
		return fmt.Sprintf("pending %d, ack pending %d, redelivered %d", info.NumPending, info.NumAckPending, info.NumRedelivered), nil
	}})
}

// breaker makes a sender's circuit a readiness check: not ready while it
// is open, saying since when and why.
func (o *roleOps) breaker(name string, b *senders.Breaker) {
	o.add(api.Check{Name: name, Detail: func(context.Context) (string, error) {
		st := b.Status()
		switch st.State {
		case senders.BreakerOpen:
			return "", fmt.Errorf("circuit open for %s after %d failures in a row (last: %s); next probe in %s",
				time.Since(st.Since).Round(time.Second), st.Failures, st.LastError, max(time.Until(st.NextProbe), 0).Round(time.Millisecond))
		case senders.BreakerHalfOpen:
			return "circuit half-open: probing", nil
		}
		return "circuit closed", nil
	}})
}

// lease makes a leased sender's lease a readiness check: ready when this
// process holds it or stands by for a live holder; not ready while it
// cannot reach the lease bucket.
func (o *roleOps) lease(name string, s *lease.Status) {
	o.add(api.Check{Name: name, Detail: func(context.Context) (string, error) {
		st := s.Get()
		switch {
		case st.State == lease.Held:
			return "holding the lease since " + st.Since.UTC().Format(time.RFC3339), nil
		case st.State == lease.Standby:
			return "standby: lease held by " + st.Holder, nil
		case st.Err != nil:
			return "", fmt.Errorf("cannot take the lease: %w", st.Err)
		}
		return "", errors.New("acquiring the lease")
	}})
}

// projectionLag exports how far each projection is behind its stream.
type projectionLag struct {
	env   *Env
	items []lagItem
}

type lagItem struct{ projection, stream string }

var (
	projLagDesc = prometheus.NewDesc("fmn_projection_lag",
		"Messages of the projection's stream not yet applied to its tables (stream last sequence minus the projection's position).",
		[]string{"projection", "stream"}, nil)
	projPosDesc = prometheus.NewDesc("fmn_projection_position",
		"Last stream sequence applied to the projection's tables.", []string{"projection", "stream"}, nil)
)

func (p *projectionLag) Describe(ch chan<- *prometheus.Desc) {
	ch <- projLagDesc
	ch <- projPosDesc
}

func (p *projectionLag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	q := queries.New(p.env.DB)
	for _, it := range p.items {
		st, err := p.env.JS.Stream(ctx, it.stream)
		if err != nil {
			continue
		}
		pos, err := q.ProjectionGet(ctx, it.projection)
		if errors.Is(err, pgx.ErrNoRows) {
			pos, err = 0, nil // nothing applied yet
		}
		if err != nil {
			continue // PostgreSQL down: no sample (readiness says why)
		}
		last := st.CachedInfo().State.LastSeq
		ch <- prometheus.MustNewConstMetric(projPosDesc, prometheus.GaugeValue, float64(pos), it.projection, it.stream)
		ch <- prometheus.MustNewConstMetric(projLagDesc, prometheus.GaugeValue, float64(last-min(last, uint64(pos))), it.projection, it.stream)
	}
}

// streamSize exports how many messages some streams hold: the dead letters
// waiting for an operator, above all.
type streamSize struct {
	env     *Env
	streams []string
}

var streamMsgsDesc = prometheus.NewDesc("fmn_jetstream_stream_messages",
	"Messages the stream holds (for DLQ: dead letters waiting for fmn dlq retry or drop).", []string{"stream"}, nil)

func (s *streamSize) Describe(ch chan<- *prometheus.Desc) { ch <- streamMsgsDesc }

func (s *streamSize) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range s.streams {
		st, err := s.env.JS.Stream(ctx, name)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(streamMsgsDesc, prometheus.GaugeValue, float64(st.CachedInfo().State.Msgs), name)
	}
}

// consumerWatch exports the state of durable consumers from their info:
// what waits to be delivered, what is delivered and not acknowledged, what
// is being redelivered.
type consumerWatch struct {
	mu   sync.Mutex
	list []*watchedConsumer
}

type watchedConsumer struct {
	js              jetstream.JetStream
	stream, durable string

	mu   sync.Mutex
	at   time.Time
	info *jetstream.ConsumerInfo
	err  error
}

func (w *consumerWatch) watch(js jetstream.JetStream, stream, durable string) *watchedConsumer {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.list {
		if c.stream == stream && c.durable == durable {
			return c
		}
	}
	c := &watchedConsumer{js: js, stream: stream, durable: durable}
	w.list = append(w.list, c)
	return c
}

// get returns the consumer's info, at most a second old: a scrape and a
// readiness check together cost one request.
func (c *watchedConsumer) get(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < time.Second {
		return c.info, c.err
	}
	c.info, c.err = nil, nil
	cons, err := c.js.Consumer(ctx, c.stream, c.durable)
	if err != nil {
		c.err = err
	} else {
		c.info = cons.CachedInfo()
	}
	c.at = time.Now()
	return c.info, c.err
}

var (
	consLabels        = []string{"stream", "consumer"}
	consUpDesc        = prometheus.NewDesc("fmn_jetstream_consumer_up", "1 when the durable consumer's info could be read at this scrape, 0 when not.", consLabels, nil)
	consPendingDesc   = prometheus.NewDesc("fmn_jetstream_consumer_pending", "Messages of the stream the consumer has not delivered yet (its backlog).", consLabels, nil)
	consAckPendDesc   = prometheus.NewDesc("fmn_jetstream_consumer_ack_pending", "Messages delivered and not yet acknowledged (in flight, or waiting for a retry).", consLabels, nil)
	consRedelivDesc   = prometheus.NewDesc("fmn_jetstream_consumer_redelivered", "Messages delivered more than once and not yet acknowledged.", consLabels, nil)
	consWaitingDesc   = prometheus.NewDesc("fmn_jetstream_consumer_waiting", "Pull requests waiting for messages (idle workers).", consLabels, nil)
	consAckFloorDesc  = prometheus.NewDesc("fmn_jetstream_consumer_ack_floor", "Stream sequence up to which every message is acknowledged.", consLabels, nil)
	consDeliveredDesc = prometheus.NewDesc("fmn_jetstream_consumer_delivered", "Last stream sequence delivered.", consLabels, nil)
)

func (w *consumerWatch) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{consUpDesc, consPendingDesc, consAckPendDesc, consRedelivDesc, consWaitingDesc, consAckFloorDesc, consDeliveredDesc} {
		ch <- d
	}
}

func (w *consumerWatch) Collect(ch chan<- prometheus.Metric) {
	w.mu.Lock()
	list := append([]*watchedConsumer(nil), w.list...)
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range list {
		wg.Go(func() {
			gauge := func(d *prometheus.Desc, v float64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, c.stream, c.durable)
			}
			info, err := c.get(ctx)
			if err != nil {
				gauge(consUpDesc, 0)
				return
			}
			gauge(consUpDesc, 1)
			gauge(consPendingDesc, float64(info.NumPending))
			gauge(consAckPendDesc, float64(info.NumAckPending))
			gauge(consRedelivDesc, float64(info.NumRedelivered))
			gauge(consWaitingDesc, float64(info.NumWaiting))
			gauge(consAckFloorDesc, float64(info.AckFloor.Stream))
			gauge(consDeliveredDesc, float64(info.Delivered.Stream))
		})
	}
	wg.Wait()
}

// senderMetrics counts the delivery attempts of every sender of the
// process, and exports each channel's circuit and lease.
type senderMetrics struct {
	attempts     *prometheus.CounterVec
	redeliveries *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	workers      *prometheus.GaugeVec

	mu       sync.Mutex
	breakers map[string]*senders.Breaker
	leases   map[string]*lease.Status
}

func newSenderMetrics(reg *prometheus.Registry) *senderMetrics {
	m := &senderMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fmn_sender_attempts_total",
			Help: "Delivery attempts by channel and result: sent, retry (failed, will be retried), dead (dead-lettered), skipped (a redelivery of a notification sent before, acked without sending), paused (the destination is paused: dropped)."},
			[]string{"channel", "result"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fmn_sender_redeliveries_total",
			Help: "Attempts on notifications delivered to the sender before (retries, and redeliveries after a lost ack or a crash)."},
			[]string{"channel"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fmn_sender_send_seconds",
			Help: "Time spent sending one notification to the peer, by channel and result.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)},
			[]string{"channel", "result"}),
		workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fmn_sender_workers",
			Help: "Notifications a sender process sends at once."}, []string{"channel"}),
		breakers: map[string]*senders.Breaker{},
		leases:   map[string]*lease.Status{},
	}
	reg.MustRegister(m.attempts, m.redeliveries, m.duration, m.workers, m)
	return m
}

// record is an Options.OnOutcome; next, when set, is called after.
func (m *senderMetrics) record(next func(senders.Outcome)) func(senders.Outcome) {
	return func(o senders.Outcome) {
		m.attempts.WithLabelValues(o.Channel, string(o.Result)).Inc()
		if o.Delivery > 1 {
			m.redeliveries.WithLabelValues(o.Channel).Inc()
		}
		if o.Result == wire.Sent || o.Result == wire.Retry || o.Duration > 0 {
			m.duration.WithLabelValues(o.Channel, string(o.Result)).Observe(o.Duration.Seconds())
		}
		if next != nil {
			next(o)
		}
	}
}

// channel prepares a channel's sender options: metrics, its own breaker
// (unless one is given), the worker gauge.
func (m *senderMetrics) channel(channel string, so senders.Options) senders.Options {
	if so.Breaker == nil {
		so.Breaker = senders.NewBreaker(senders.BreakerConfig{})
	}
	so.OnOutcome = m.record(so.OnOutcome)
	m.workers.WithLabelValues(channel).Set(float64(max(so.Workers, 1)))
	for _, r := range []wire.DeliveryResult{wire.Sent, wire.Retry, wire.Dead, wire.Skipped, wire.Paused, wire.Held} {
		m.attempts.WithLabelValues(channel, string(r)) // export zeros: rate() works from the start
	}
	m.redeliveries.WithLabelValues(channel)
	m.mu.Lock()
	m.breakers[channel] = so.Breaker
	m.mu.Unlock()
	return so
}

func (m *senderMetrics) lease(channel string, s *lease.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leases[channel] = s
}

var (
	circuitStateDesc  = prometheus.NewDesc("fmn_sender_circuit_state", "Circuit breaker on the channel's peer: 0 closed (sending), 1 open (peer down; holding notifications, probing), 2 half-open (probing).", []string{"channel"}, nil)
	circuitOpenedDesc = prometheus.NewDesc("fmn_sender_circuit_opened_total", "Times the circuit breaker opened (the peer failed several attempts in a row).", []string{"channel"}, nil)
	circuitProbeDesc  = prometheus.NewDesc("fmn_sender_circuit_probes_total", "Probes of a peer considered down, by result (ok, failed).", []string{"channel", "result"}, nil)
	leaseHeldDesc     = prometheus.NewDesc("fmn_sender_lease_held", "1 when this process holds the channel's lease (it is the one sending), 0 on standby.", []string{"channel"}, nil)
)

func (m *senderMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- circuitStateDesc
	ch <- circuitOpenedDesc
	ch <- circuitProbeDesc
	ch <- leaseHeldDesc
}

func (m *senderMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c, b := range m.breakers {
		st := b.Status()
		state := map[senders.BreakerState]float64{senders.BreakerClosed: 0, senders.BreakerOpen: 1, senders.BreakerHalfOpen: 2}[st.State]
		ch <- prometheus.MustNewConstMetric(circuitStateDesc, prometheus.GaugeValue, state, c)
		ch <- prometheus.MustNewConstMetric(circuitOpenedDesc, prometheus.CounterValue, float64(st.Opened), c)
		ch <- prometheus.MustNewConstMetric(circuitProbeDesc, prometheus.CounterValue, float64(st.Probes-st.ProbesFailed), c, "ok")
		ch <- prometheus.MustNewConstMetric(circuitProbeDesc, prometheus.CounterValue, float64(st.ProbesFailed), c, "failed")
	}
	for c, s := range m.leases {
		held := 0.0
		if s.Get().State == lease.Held {
			held = 1
		}
		ch <- prometheus.MustNewConstMetric(leaseHeldDesc, prometheus.GaugeValue, held, c)
	}
}
