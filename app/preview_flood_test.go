package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/mail"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api/auth/oidctest"
	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sizes of TestPreviewFlood: the BUS history every preview reads (about
// 2.5 KB a message, as Fedora's), the previews sent at once, and the
// bound on the growth of the heap they may cause.
const (
	floodHistory  = 10000
	floodPreviews = 60
	// floodHeapBound bounds the heap's peak (HeapAlloc, garbage
	// included) above its level before the flood; the process holds the
	// embedded NATS server and its caches too. Measured on 2 cores: 40 to
	// 90 MB with the limits (with or without -race), 400 to 620 MB before
	// them (issue 15).
	floodHeapBound = 150 << 20
)

// TestPreviewFlood is issue 15's trial: many rule previews at once, each
// reading all of BUS history (a window further back than the preview
// index), from one user and from several, in a process that also runs the
// consumer and the email sender. Before, 50 such previews made the NATS
// connection every role shares a slow consumer: the server cut it, the
// heap grew from 180 to 768 MB and emails stopped. Now the previews over
// the limits get 429 with Retry-After, the others read BUS on the API's
// own connection with bounded buffers, the main connection never drops,
// emails keep flowing, and the heap stays within floodHeapBound.
func TestPreviewFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	// Not parallel: it measures the heap of the process.
	ctx := fmntest.Context(t)
	nc, pg := fmntest.StartNATS(t), fmntest.StartPostgres(t)
	smtp := fmntest.StartSMTP(t, "fmn-bot", "Sm7p-pa55word")
	flooder := "mallet"
	others := []string{"alice", "bob", "carol", "dave", "erin"}
	var accounts []oidctest.User
	for _, u := range append([]string{flooder}, others...) {
		accounts = append(accounts, oidctest.User{Username: u})
	}
	op := oidctest.Start(t, accounts...)
	op.SetJWTAccessTokens(true)

	start := time.Now()
	publishHistory(t, ctx, nc.JS, floodHistory, append([]string{flooder}, others...))
	t.Logf("history: %d messages published in %s", floodHistory, time.Since(start).Round(time.Millisecond))

	cfg := config.Defaults()
	cfg.NATSURL, cfg.DatabaseURL = nc.URL, pg.URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret = op.Issuer, oidctest.ClientID, oidctest.ClientSecret
	cfg.MailFrom = "notifications@example.org"
	cfg.SMTPURL = smtp.URL() + "?ca_file=" + smtp.CAFile(t)
	// The bound is on what the previews make the heap hold, garbage
	// included: the consumer's GC headroom, garbage it allows on purpose,
	// would fill it (FMN_CONSUMER_GC_HEADROOM).
	cfg.ConsumerGCHeadroomMiB = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		done <- app.RunSystem(rctx, cfg, []string{"projector", "consumer", "sender-email", "api"}, app.Options{
			Log: log, Started: func(s *app.System) { started <- s },
			SenderOptions: &senders.Options{BackOff: []time.Duration{100 * time.Millisecond}},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	var sys *app.System
	select {
	case sys = <-started:
	case err := <-done:
		t.Fatalf("system did not start: %v", err)
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("system did not start within 20s")
	}
	if sys.PreviewNC == nil || sys.PreviewNC == sys.Env.NC {
		t.Fatal("the api role has no NATS connection of its own for previews")
	}

	// A rule that mails watcher about every message naming them: the
	// notifications that must keep flowing during the flood.
	cmds, err := rulelog.NewCommands(ctx, nc.JS, pg.Pool, rulelog.CommandsConfig{Stream: nc.Streams.Rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	sr, err := cmds.Create(ctx, "watcher", emailRule("mine", rules.TrackingRule{Name: "related-events"}, "watcher@example.org"), rulelog.Meta{Actor: "watcher"})
	if err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 5*time.Second, "matcher has the rule", func() bool { return sys.Matcher.Version() >= sr.Version })
	fmntest.Eventually(t, 60*time.Second, "consumer through the history", func() bool {
		return sys.Consumer.Stats.Messages.Load() >= floodHistory
	})
	t.Logf("consumer through the history %s after start", time.Since(start).Round(time.Millisecond))

	tokens := map[string]string{}
	for _, a := range accounts {
		tokens[a.Username] = op.Login(t, a.Username).AccessToken
	}
	base := "http://" + sys.HTTPAddr
	type answer struct {
		user        string
		status      int
		header      http.Header
		body        []byte
		took        time.Duration
		err         error
		source      string
		messages    int
		complete    bool
		contentType string
	}
	preview := func(user string) answer {
		rule := map[string]any{
			"tracking_rule":    map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{{"filters": map[string]any{"my_actions": true}}},
			// Further back than the index: the whole of BUS is read.
			"since": time.Now().Add(-23 * time.Hour).UTC().Format(time.RFC3339),
		}
		data, _ := json.Marshal(rule)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/rule-preview", bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+tokens[user])
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return answer{user: user, err: err}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		a := answer{user: user, status: resp.StatusCode, header: resp.Header, body: body, err: err, took: time.Since(t0),
			contentType: resp.Header.Get("Content-Type")}
		if a.status == http.StatusOK {
			var res struct {
				Source   string `json:"source"`
				Messages int    `json:"messages"`
				Complete bool   `json:"complete"`
			}
			a.err = json.Unmarshal(body, &res)
			a.source, a.messages, a.complete = res.Source, res.Messages, res.Complete
		}
		return a
	}

	// The heap, sampled while the flood runs.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapAlloc
	var peak atomic.Uint64
	peak.Store(baseline)
	sampling := make(chan struct{})
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() {
		defer samplerDone.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-sampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	mainReconnects := sys.Env.NC.Stats().Reconnects

	// Live traffic: a message for watcher every 100 ms while the flood
	// runs, each of which must reach the SMTP server.
	var (
		liveMu sync.Mutex
		live   = map[string]time.Time{} // id → published
	)
	flooding := make(chan struct{})
	var liveDone sync.WaitGroup
	liveDone.Add(1)
	go func() {
		defer liveDone.Done()
		for i := 0; ; i++ {
			id := fmt.Sprintf("live-%d-%s", i, fmntest.RandomID())
			liveMu.Lock()
			live[id] = time.Now()
			liveMu.Unlock()
			if err := publishBus(ctx, nc.JS, id, []string{"packager0", "watcher"}, 200); err != nil {
				t.Errorf("publish %s: %v", id, err)
				return
			}
			select {
			case <-flooding:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	// Delivery times, polled from the SMTP server.
	delivered := map[string]time.Time{}
	var deliveredMu sync.Mutex
	pollMails := func() {
		mails := smtp.Mails()
		now := time.Now()
		deliveredMu.Lock()
		defer deliveredMu.Unlock()
		for _, m := range mails {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				continue
			}
			if id := msg.Header.Get("X-Fedora-Messaging-Id"); strings.HasPrefix(id, "live-") && delivered[id].IsZero() {
				delivered[id] = now
			}
		}
	}
	polling := make(chan struct{})
	var pollDone sync.WaitGroup
	pollDone.Add(1)
	go func() {
		defer pollDone.Done()
		for {
			pollMails()
			select {
			case <-polling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	// The flood: half the previews from one user, the rest from five
	// others, all at once.
	time.Sleep(300 * time.Millisecond) // some live traffic before
	answers := make([]answer, floodPreviews)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range floodPreviews {
		user := flooder
		if i%2 == 1 {
			user = others[(i/2)%len(others)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			answers[i] = preview(user)
		}()
	}
	floodStart := time.Now()
	close(gate)
	wg.Wait()
	floodTook := time.Since(floodStart)
	// One more, now that every slot is free: the limits let it through.
	after := preview(flooder)
	close(flooding)
	liveDone.Wait()
	close(sampling)
	samplerDone.Wait()

	liveMu.Lock()
	published := len(live)
	liveMu.Unlock()
	fmntest.Eventually(t, 15*time.Second, "every live notification mailed", func() bool {
		deliveredMu.Lock()
		defer deliveredMu.Unlock()
		return len(delivered) >= published
	})
	close(polling)
	pollDone.Wait()

	// What the flood got.
	var ok, refusedUser, refusedServer int
	perUser := map[string]int{}
	for _, a := range answers {
		if a.err != nil {
			t.Errorf("preview of %s: %v", a.user, a.err)
			continue
		}
		switch a.status {
		case http.StatusOK:
			ok++
			perUser[a.user]++
			if a.source != "scan" || a.messages == 0 {
				t.Errorf("preview of %s: source %q, %d messages read: want a scan of BUS", a.user, a.source, a.messages)
			}
		case http.StatusTooManyRequests:
			secs, err := strconv.Atoi(a.header.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Errorf("429 with Retry-After %q, want a number of seconds", a.header.Get("Retry-After"))
			}
			if a.contentType != "application/problem+json" {
				t.Errorf("429 with Content-Type %q, want application/problem+json", a.contentType)
			}
			var p struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(a.body, &p); err != nil || p.Status != http.StatusTooManyRequests || p.Detail == "" {
				t.Errorf("429 problem %s", a.body)
			}
			switch {
			case strings.Contains(p.Detail, "one user may run"):
				refusedUser++
			case strings.Contains(p.Detail, "the most it runs"):
				refusedServer++
			default:
				t.Errorf("429 says %q: which limit?", p.Detail)
			}
		default:
			t.Errorf("preview of %s: %d %s", a.user, a.status, a.body)
		}
	}
	took := make([]time.Duration, 0, ok)
	for _, a := range answers {
		if a.status == http.StatusOK {
			took = append(took, a.took)
		}
	}
	slices.Sort(took)
	t.Logf("flood of %d previews (%d messages each) over %s: %d ran (per user %v; durations %v), %d refused for the user's limit, %d for the server's",
		floodPreviews, floodHistory, floodTook.Round(time.Millisecond), ok, perUser, roundAll(took), refusedUser, refusedServer)
	if ok == 0 || refusedUser == 0 || refusedServer == 0 {
		t.Errorf("want some previews run, some refused for the user's limit and some for the server's")
	}
	if ok+refusedUser+refusedServer != floodPreviews {
		t.Errorf("%d answers of %d", ok+refusedUser+refusedServer, floodPreviews)
	}
	if after.err != nil || after.status != http.StatusOK {
		t.Errorf("preview after the flood: %d %s %v", after.status, after.body, after.err)
	}

	// The main connection held.
	if st := sys.Env.NC.Status(); st != nats.CONNECTED {
		t.Errorf("main NATS connection is %s", st)
	}
	if n := sys.Env.NC.Stats().Reconnects - mainReconnects; n != 0 {
		t.Errorf("main NATS connection reconnected %d times", n)
	}
	var mainDrops, previewDrops int
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"NATS disconnected"`) {
			if strings.Contains(line, `"connection":"fmn-preview"`) {
				previewDrops++
			} else {
				mainDrops++
			}
		}
	}
	if mainDrops > 0 {
		t.Errorf("main NATS connection dropped %d times:\n%s", mainDrops, logs.String())
	}
	t.Logf("preview connection: %d disconnections, %d reconnects", previewDrops, sys.PreviewNC.Stats().Reconnects)

	// The emails kept flowing, during the flood too.
	deliveredMu.Lock()
	var worst time.Duration
	during := 0
	for id, at := range live {
		d := delivered[id]
		if lat := d.Sub(at); lat > worst {
			worst = lat
		}
		if d.Before(floodStart.Add(floodTook)) {
			during++
		}
	}
	deliveredMu.Unlock()
	t.Logf("live notifications: %d published, %d mailed while the flood ran, slowest mailed %s after publication",
		published, during, worst.Round(time.Millisecond))
	if limit := fmntest.Scaled(5 * time.Second); worst > limit {
		t.Errorf("a notification took %s to be mailed, want at most %s", worst, limit)
	}

	// Memory.
	grew := peak.Load() - baseline
	t.Logf("heap: %d MB before the flood, peak %d MB (+%d MB; bound +%d MB)", baseline>>20, peak.Load()>>20, grew>>20, floodHeapBound>>20)
	if grew > floodHeapBound {
		t.Errorf("the heap grew by %d MB during the flood, want at most %d MB", grew>>20, floodHeapBound>>20)
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}

// lockedBuffer collects log lines from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// publishHistory stores n bus messages of about 2.5 KB on BUS, each naming
// one or two of users (or of others).
func publishHistory(t *testing.T, ctx context.Context, js jetstream.JetStream, n int, users []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(15, 9))
	pool := slices.Clone(users)
	for i := range 40 {
		pool = append(pool, fmt.Sprintf("packager%d", i))
	}
	var futs []jetstream.PubAckFuture
	for i := range n {
		names := []string{pool[rng.IntN(len(pool))]}
		if rng.IntN(2) == 0 {
			names = append(names, pool[rng.IntN(len(pool))])
		}
		m := busMsg(fmt.Sprintf("history-%d", i), names, 2500)
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(m.Header.Get(wire.HeaderMsgID)))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
		if len(futs) == 2048 || i == n-1 {
			for _, f := range futs {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					t.Fatal(err)
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				}
			}
			futs = futs[:0]
		}
	}
}

func publishBus(ctx context.Context, js jetstream.JetStream, id string, users []string, size int) error {
	_, err := js.PublishMsg(ctx, busMsg(id, users, size))
	return err
}

// busMsg is a Bodhi comment by the first of users naming them all, with a
// comment making the body about size bytes.
func busMsg(id string, users []string, size int) *nats.Msg {
	topic := "org.fedoraproject.prod.bodhi.update.comment"
	body := map[string]any{
		"agent_name": users[0], "usernames": users,
		"summary": fmt.Sprintf("%s commented on update FEDORA-2026-%s", users[0], id),
		"url":     "https://bodhi.example.org/updates/" + id,
		"content": strings.Repeat("Works for me, tested on Fedora 43. ", max(1, size/35)),
	}
	data, _ := json.Marshal(body)
	m := nats.NewMsg(wire.BusSubject(topic))
	m.Header.Set(wire.HeaderMsgID, id)
	m.Header.Set(bus.HeaderSchema, "base.message")
	m.Header.Set(bus.HeaderSentAt, time.Now().UTC().Format(time.RFC3339Nano))
	for _, u := range users {
		m.Header.Set(bus.FilterHeaderPrefix+"user_"+u, "true")
	}
	m.Data = data
	return m
}
