package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders/senderstest"
)

// get fetches an ops endpoint: status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func ready(t *testing.T, base string) (int, readiness) {
	t.Helper()
	code, body := get(t, base+"/healthz/ready")
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("readiness is not JSON: %q", body)
	}
	return code, r
}

// metricValue finds a sample line "name{labels} value" whose name and
// labels contain each of parts.
func metricValue(body string, parts ...string) (string, bool) {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		match := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				match = false
				break
			}
		}
		if match {
			f := strings.Fields(l)
			return f[len(f)-1], true
		}
	}
	return "", false
}

// TestSenderRoleOps: a process running only sender-email serves /metrics
// and /healthz on FMN_METRICS_ADDR: ready with its NATS, consumer and
// relay circuit; its delivery counters move; when the relay goes down the
// circuit opens and readiness says so; when it is back, ready again.
func TestSenderRoleOps(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	srv := fmntest.StartSMTP(t, "fmn-bot", "Sm7p-pa55word")
	cfg := testConfig(t, n)
	cfg.SMTPURL = srv.URL() + "?ca_file=" + srv.CAFile(t)
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.SenderEmailWorkers = 3
	// The delivery settings come from the rules projection.
	cfg.DatabaseURL = fmntest.StartPostgres(t).URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	sys := runRoles(t, cfg, "sender-email")
	if sys.HTTPAddr != "" || sys.MetricsAddr == "" {
		t.Fatalf("HTTP %q, metrics %q: want only the metrics address", sys.HTTPAddr, sys.MetricsAddr)
	}
	base := "http://" + sys.MetricsAddr

	if code, body := get(t, base+"/healthz/live"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("live: %d %s", code, body)
	}
	// Ready once the sender's consumer is set up, which may follow the
	// start by a moment.
	code, r := ready(t, base)
	for deadline := time.Now().Add(fmntest.Scaled(10 * time.Second)); code != 200 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		code, r = ready(t, base)
	}
	if code != 200 {
		t.Fatalf("ready: %d %+v", code, r)
	}
	for _, c := range []string{"nats", "consumer NOTIFY/sender-email", "smtp-relay"} {
		if _, ok := r.Checks[c]; !ok {
			t.Errorf("readiness lacks check %q: %+v", c, r.Checks)
		}
	}
	if r.Checks["smtp-relay"] != "circuit closed" {
		t.Errorf("smtp-relay: %q", r.Checks["smtp-relay"])
	}

	publish := func(id string) {
		senderstest.Publish(t, n, "email", &notification.Notification{ID: id, Protocol: "email", Address: "alice@example.org",
			Email: &notification.Email{Subject: "hello " + id, Body: "body"}})
	}
	publish("ops-1")
	fmntest.Eventually(t, 10*time.Second, "mail sent", func() bool { return len(srv.Mails()) == 1 })
	fmntest.Eventually(t, 10*time.Second, "metrics count it", func() bool {
		_, body := get(t, base+"/metrics")
		v, _ := metricValue(body, "fmn_sender_attempts_total{", `channel="email"`, `result="sent"`)
		return v == "1"
	})
	_, body := get(t, base+"/metrics")
	for _, want := range [][]string{
		{"fmn_sender_workers{", `channel="email"`},
		{"fmn_sender_circuit_state{", `channel="email"`},
		{"fmn_jetstream_consumer_pending{", `consumer="sender-email"`},
		{"fmn_jetstream_consumer_ack_pending{", `consumer="sender-email"`},
		{"fmn_jetstream_consumer_up{", `consumer="sender-email"`},
		{"fmn_sender_attempts_total{", `result="retry"`},
		{"go_goroutines"},
		{"fmn_jetstream_stream_messages{", `stream="DLQ"`},
	} {
		if _, ok := metricValue(body, want...); !ok {
			t.Errorf("/metrics lacks %v", want)
		}
	}
	if v, _ := metricValue(body, "fmn_sender_workers{", `channel="email"`); v != "3" {
		t.Errorf("fmn_sender_workers = %q, want 3 (FMN_SENDER_EMAIL_WORKERS)", v)
	}

	// The relay goes down: after a few failures the circuit opens and the
	// process is not ready, saying why.
	srv.Stop()
	for i := range 5 {
		publish(fmt.Sprint("ops-down-", i))
	}
	fmntest.Eventually(t, 15*time.Second, "not ready: circuit open", func() bool {
		code, r = ready(t, base)
		return code == 503 && strings.Contains(r.Checks["smtp-relay"], "circuit open")
	})
	if !strings.Contains(r.Checks["smtp-relay"], "connection refused") {
		t.Errorf("smtp-relay check does not say why: %q", r.Checks["smtp-relay"])
	}
	_, body = get(t, base+"/metrics")
	if v, _ := metricValue(body, "fmn_sender_circuit_state{", `channel="email"`); v != "1" {
		t.Errorf("fmn_sender_circuit_state = %q while open, want 1", v)
	}
	srv.Start(t)
	fmntest.Eventually(t, 15*time.Second, "all mail sent", func() bool { return len(srv.Mails()) == 6 })
	fmntest.Eventually(t, 10*time.Second, "ready again", func() bool { code, r = ready(t, base); return code == 200 })
}

// TestProjectionRolesOps: the projector and stats roles, without the API,
// answer readiness with PostgreSQL, their consumers and the rules
// projection, and export how far their projections lag.
func TestProjectionRolesOps(t *testing.T) {
	t.Parallel()
	o := setupOps(t, false)
	cfg := o.cfg
	cfg.MetricsAddr = "127.0.0.1:0"
	sys := runRoles(t, cfg, "projector", "stats")
	base := "http://" + sys.MetricsAddr
	var r readiness
	fmntest.Eventually(t, 10*time.Second, "ready", func() bool {
		var code int
		code, r = ready(t, base)
		return code == 200
	})
	for _, c := range []string{"nats", "postgres", "consumer RULES/projector", "rules-projection", "consumer NOTIFY/stats", "consumer EVENTS/stats-deliveries"} {
		if _, ok := r.Checks[c]; !ok {
			t.Errorf("readiness lacks check %q: %+v", c, r.Checks)
		}
	}
	fmntest.Eventually(t, 10*time.Second, "lag exported", func() bool {
		_, body := get(t, base+"/metrics")
		_, rules := metricValue(body, "fmn_projection_lag{", `projection="rules"`)
		_, st := metricValue(body, "fmn_projection_lag{", `projection="stats"`)
		_, applied := metricValue(body, "fmn_projector_applied_total")
		return rules && st && applied
	})
}

// testConfig is a configuration on the test's NATS, for roles that need
// nothing else.
func testConfig(t *testing.T, n *fmntest.NATS) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.NATSURL = n.URL
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MailFrom = "notifications@example.org"
	return cfg
}

// runRoles runs roles in-process until the test ends.
func runRoles(t *testing.T, cfg config.Config, roles ...string) *app.System {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan *app.System, 1)
	go func() {
		done <- app.RunSystem(ctx, cfg, roles, app.Options{Log: quietLog(t), Started: func(s *app.System) { started <- s }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	select {
	case s := <-started:
		return s
	case err := <-done:
		t.Fatalf("roles %v did not start: %v", roles, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("roles %v did not start within 30s", roles)
	}
	return nil
}
