package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/fmn-project/fmn/api/auth/oidctest"
	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The users of docs/nats/fmn-accounts.conf, by the name of their nkey
// variable (FMN_NKEY_<name>).
var permUsers = []string{"PROJECTOR", "CONSUMER", "STATS", "SENDER_EMAIL", "SENDER_IRC", "SENDER_MATRIX", "API", "AMQP_PUBLISHER", "BRIDGE", "PUBLISH", "ADMIN"}

// permServer is an in-process nats-server configured with the example
// account of docs/nats/fmn-accounts.conf, each user with an nkey of its
// own.
type permServer struct {
	URL   string
	Seeds map[string]string // user → seed file (FMN_NATS_NKEY)
	dir   string
	pubs  map[string]string
	srv   *server.Server
}

func startPermServer(t *testing.T) *permServer {
	t.Helper()
	p := &permServer{dir: t.TempDir(), Seeds: map[string]string{}, pubs: map[string]string{}}
	for _, u := range permUsers {
		p.pubs[u], p.Seeds[u] = fmntest.NKeyUser(t)
	}
	p.start(t)
	return p
}

// start starts the server, with fmn-accounts.conf as it is.
func (p *permServer) start(t *testing.T) {
	t.Helper()
	accounts, err := os.ReadFile(filepath.Join("..", "docs", "nats", "fmn-accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(accounts)
	var users strings.Builder
	for _, u := range permUsers {
		fmt.Fprintf(&users, "FMN_NKEY_%s: %q\n", u, p.pubs[u])
	}
	files := map[string]string{
		"fmn-accounts.conf": conf,
		"fmn-nkeys.conf":    users.String(),
		"nats-server.conf": fmt.Sprintf("listen: 127.0.0.1:-1\nmax_payload: 8MB\njetstream { store_dir: %q }\n"+
			"include fmn-accounts.conf\naccounts { FMN: $FMN_ACCOUNT }\n", filepath.Join(p.dir, "js")),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(p.dir, "nats-server.conf"))
	if err != nil {
		t.Fatalf("docs/nats/fmn-accounts.conf: %v", err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(srv.Shutdown)
	p.srv, p.URL = srv, srv.ClientURL()
}

// auth is how user connects, with its own inbox prefix as the example
// configuration asks.
func (p *permServer) auth(user string) config.NATSAuth {
	role := strings.ReplaceAll(strings.ToLower(user), "_", "-")
	if user == "BRIDGE" || user == "PUBLISH" {
		role = "publisher"
	}
	a := config.NATSAuth{NKeyFile: p.Seeds[user]}
	if user != "ADMIN" {
		a.InboxPrefix = "_INBOX." + role
	}
	return a
}

// connect opens a connection as user; asyncErrs receives the server's
// asynchronous errors (permission violations).
func (p *permServer) connect(t *testing.T, user string) (*nats.Conn, jetstream.JetStream, <-chan error) {
	t.Helper()
	opts, err := p.auth(user).NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	nc, err := nats.Connect(p.URL, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, errs
}

// permLog collects a process's log, to check that no permission was
// refused.
type permLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *permLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *permLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// runAs runs RunSystem with roles as user until the test ends, and returns
// the system once it runs.
func runAs(t *testing.T, ctx context.Context, cfg config.Config, auth config.NATSAuth, log *permLog, so *senders.Options, roles ...string) *app.System {
	t.Helper()
	cfg.NATSAuth = auth
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		done <- app.RunSystem(rctx, cfg, roles, app.Options{
			Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})), SenderOptions: so,
			Started: func(s *app.System) { started <- s },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem %v: %v", roles, err)
		}
	})
	select {
	case sys := <-started:
		return sys
	case err := <-done:
		t.Fatalf("%v did not start: %v\n%s", roles, err, log)
	case <-time.After(fmntest.Scaled(30 * time.Second)):
		t.Fatalf("%v did not start within 30s\n%s", roles, log)
	}
	return nil
}

// TestRolesWithTheirNATSPermissions runs every role as the user of the
// example account (docs/nats/fmn-accounts.conf) on a nats-server that
// enforces it: a rule created through the API is projected, a bus message
// published with fmn publish is matched and mailed, shown in the live feed
// and the preview, counted by the statistics; failures reach the dead
// letters; the IRC lease changes hands; no role hits a permission it lacks.
// Then a forged rule event, from the bridge's user and from nobody, is
// refused by the server and never reaches RULES, nor may the API's user
// touch the matcher's consumer.
func TestRolesWithTheirNATSPermissions(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	p := startPermServer(t)
	pg := fmntest.StartPostgres(t)
	fas := fmntest.StartFASJSON(t)
	fas.AddUser("alice", []string{"alice@fedoraproject.org", "alice@example.org"}, nil)
	op := oidctest.Start(t)
	op.SetJWTAccessTokens(true)
	smtpSrv := fmntest.StartSMTP(t, "fmn-bot", "Sm7p-pa55word")
	smtpSrv.RejectRcpt("alice@example.org", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"})

	cfg := config.Defaults()
	cfg.NATSURL, cfg.DatabaseURL = p.URL, pg.URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.OIDCIssuer, cfg.OIDCClientID = op.Issuer, oidctest.ClientID
	cfg.FASJSONURL = fas.URL
	cfg.SMTPURL = smtpSrv.URL() + "?ca_file=" + smtpSrv.CAFile(t)
	cfg.MailFrom = "notifications@example.org"
	cfg.DigestEvery = 200 * time.Millisecond
	// The test counts alice's rules and FMN messages: one rule, hers.
	cfg.DefaultRules = false

	// First start: a server with the admin's credentials creates the
	// streams (docs/deploy.md); the roles' users may only look them up.
	actx, stopAdmin := context.WithCancel(ctx)
	var adminLog permLog
	runAs(t, actx, cfg, p.auth("ADMIN"), &adminLog, nil)
	stopAdmin()

	logs := map[string]*permLog{}
	boot := func(user string, so *senders.Options, roles ...string) *app.System {
		logs[user] = &permLog{}
		return runAs(t, ctx, cfg, p.auth(user), logs[user], so, roles...)
	}
	boot("PROJECTOR", nil, "projector")
	cons := boot("CONSUMER", nil, "consumer")
	boot("STATS", nil, "stats")
	email := boot("SENDER_EMAIL", &senders.Options{BackOff: []time.Duration{100 * time.Millisecond}}, "sender-email")
	api := boot("API", nil, "api")
	exchange, fmnMessages := amqpQueue(t, "#")
	pcfg := cfg
	pcfg.AMQPURL, pcfg.AMQPExchange = fmntest.AMQPURL(), exchange
	logs["AMQP_PUBLISHER"] = &permLog{}
	runAs(t, ctx, pcfg, p.auth("AMQP_PUBLISHER"), logs["AMQP_PUBLISHER"], nil, "amqp-publisher")

	token := op.Login(t, "alice").AccessToken
	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		}
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+api.HTTPAddr+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}

	// The API appends the event; it answers once the projector applied it.
	rule := map[string]any{"name": "mine", "tracking_rule": map[string]any{"name": "related-events"},
		"generation_rules": []map[string]any{{"destinations": []map[string]string{
			{"protocol": "email", "address": "alice@fedoraproject.org"},
			{"protocol": "email", "address": "alice@example.org"},
			{"protocol": "sse", "address": "alice"},
		}}}}
	code, body := call(http.MethodPost, "/api/v1/users/alice/rules", rule)
	if code != http.StatusOK {
		t.Fatalf("create a rule: %d %s", code, body)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(body, &created)
	fmntest.Eventually(t, 10*time.Second, "the matcher has the rule", func() bool { return cons.Matcher.RuleCount() == 1 })
	// The amqp-publisher reads the rule's history and publishes FMN's message.
	select {
	case d := <-fmnMessages:
		if d.Headers["fedora_messaging_schema"] != "fmn.rule.create.v1" || !strings.Contains(string(d.Body), fmt.Sprintf(`"id": %d, "user"`, created.ID)) {
			t.Errorf("FMN's message of the new rule: %v %s", d.Headers, d.Body)
		}
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Errorf("no FMN message of the new rule within 20s\n%s", logs["AMQP_PUBLISHER"])
	}

	// The live feed, as a browser opens it.
	code, body = call(http.MethodPost, "/api/v1/users/alice/notifications/ticket", nil)
	var tk struct {
		Ticket string `json:"ticket"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &tk) != nil {
		t.Fatalf("ticket: %d %s", code, body)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api.HTTPAddr+"/api/v1/users/alice/notifications/stream?ticket="+tk.Ticket, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", resp, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	live := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				live <- v
			}
		}
	}()

	// fmn publish, as the publish user.
	dir := t.TempDir()
	msgFile := filepath.Join(dir, "msg.json")
	msg := `{"id":"5b2a4c8e-1f0d-4e7a-9a55-3c1d2e4f6a70","topic":"org.fedoraproject.prod.bodhi.update.comment",` +
		`"headers":{"fedora_messaging_user_alice":true},"body":{"agent":"bob","summary":"bob commented on your update"}}`
	if err := os.WriteFile(msgFile, []byte(msg+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pa := p.auth("PUBLISH")
	if code, out, errs := runCLI(t, "", "publish", "--nats-url", p.URL, "--nats-nkey", pa.NKeyFile, "--nats-inbox-prefix", pa.InboxPrefix, msgFile); code != 0 {
		t.Fatalf("fmn publish: %d %s %s", code, out, errs)
	}
	// The bridge's user publishes a bus message the consumer cannot use.
	bnc, bjs, bridgeErrs := p.connect(t, "BRIDGE")
	bad := nats.NewMsg("bus.org.fedoraproject.prod.broken")
	bad.Header.Set("Nats-Msg-Id", "broken-1")
	bad.Data = []byte("{not json")
	if _, err := bjs.PublishMsg(ctx, bad); err != nil {
		t.Fatalf("the bridge's user publishes to BUS: %v", err)
	}

	fmntest.Eventually(t, 20*time.Second, "the email to alice@fedoraproject.org", func() bool {
		for _, m := range smtpSrv.Mails() {
			for _, to := range m.To {
				if to == "alice@fedoraproject.org" {
					return true
				}
			}
		}
		return false
	})
	select {
	case v := <-live:
		if !strings.Contains(v, "bob commented on your update") {
			t.Errorf("live feed: %s", v)
		}
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Error("nothing on the live feed within 20s")
	}
	if code, body := call(http.MethodGet, "/api/v1/users/alice/notifications", nil); code != http.StatusOK || !strings.Contains(string(body), "bob commented") {
		t.Errorf("live feed history: %d %s", code, body)
	}
	if code, body := call(http.MethodPost, "/api/v1/rule-preview", rule); code != http.StatusOK || !strings.Contains(string(body), "5b2a4c8e-1f0d-4e7a-9a55-3c1d2e4f6a70") {
		t.Errorf("preview: %d %s", code, body)
	}
	fmntest.Eventually(t, 20*time.Second, "the statistics count the rule's notifications", func() bool {
		var n int64
		err := pg.Pool.QueryRow(ctx, "SELECT coalesce(sum(count),0) FROM rule_generated WHERE rule_id=$1", created.ID).Scan(&n)
		return err == nil && n >= 3
	})

	// A digest: the sender holds on DIGEST, the flusher (under its lease)
	// reads, marks and purges with the sender's user.
	code, body = call(http.MethodPut, "/api/v1/users/alice/delivery", []map[string]any{{"protocol": "email",
		"address": "alice@fedoraproject.org", "paused": false, "digest": map[string]any{"max_age": 3600, "max_count": 2}}})
	if code != http.StatusOK {
		t.Fatalf("set a digest: %d %s", code, body)
	}
	fmntest.Eventually(t, 10*time.Second, "the senders see the digest", func() bool {
		s, err := email.Delivery.Lookup(ctx, "alice", "email", "alice@fedoraproject.org")
		return err == nil && s.Digest != nil
	})
	for i := range 2 {
		m := strings.Replace(msg, "5b2a4c8e-1f0d-4e7a-9a55-3c1d2e4f6a70", fmt.Sprintf("5b2a4c8e-1f0d-4e7a-9a55-3c1d2e4f6a7%d", i+1), 1)
		if err := os.WriteFile(msgFile, []byte(m+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errs := runCLI(t, "", "publish", "--nats-url", p.URL, "--nats-nkey", pa.NKeyFile, "--nats-inbox-prefix", pa.InboxPrefix, msgFile); code != 0 {
			t.Fatalf("fmn publish: %d %s %s", code, out, errs)
		}
	}
	fmntest.Eventually(t, 30*time.Second, "the digest to alice@fedoraproject.org", func() bool {
		for _, m := range smtpSrv.Mails() {
			if slices.Contains(m.To, "alice@fedoraproject.org") && bytes.Contains(m.Data, []byte("X-Fedora-Messaging-Digest: 2")) {
				return true
			}
		}
		return false
	})

	// Dead letters: the unusable bus message (consumer) and the refused
	// address (sender), read by an operator.
	_, ajs, _ := p.connect(t, "ADMIN")
	dlq, err := ajs.Stream(ctx, cfg.Streams.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{wire.DLQBus, wire.DLQNotifySubject("email")} {
		fmntest.Eventually(t, 20*time.Second, "a dead letter on "+subj, func() bool {
			_, err := dlq.GetLastMsgForSubject(ctx, subj)
			return err == nil
		})
	}
	aa := p.auth("ADMIN")
	if code, out, errs := runCLI(t, "", "dlq", "list", "--nats-url", p.URL, "--nats-nkey", aa.NKeyFile,
		"--database-url", pg.URL, "--redis-url", cfg.RedisURL, "--redis-prefix", cfg.RedisPrefix); code != 0 || !strings.Contains(out, "dlq.notify.email") {
		t.Errorf("fmn dlq list as the admin: %d %s %s", code, out, errs)
	}

	// The IRC lease: one holder, renewed, handed over when released.
	t.Run("lease", func(t *testing.T) {
		lc := lease.Config{Key: "sender-irc", TTL: 3 * time.Second}
		_, js1, errs1 := p.connect(t, "SENDER_IRC")
		_, js2, errs2 := p.connect(t, "SENDER_IRC")
		l1, err := lease.Acquire(ctx, js1, lc, nil)
		if err != nil {
			t.Fatal(err)
		}
		second := make(chan *lease.Lease, 1)
		go func() {
			l2, err := lease.Acquire(ctx, js2, lc, nil)
			if err == nil {
				second <- l2
			}
		}()
		select {
		case <-second:
			t.Fatal("two holders")
		case <-l1.Lost():
			t.Fatalf("lease lost: %v", l1.Err())
		case <-time.After(2 * lc.TTL): // renewed meanwhile
		}
		if err := l1.Release(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case l2 := <-second:
			_ = l2.Release(ctx)
		case <-time.After(fmntest.Scaled(10 * time.Second)):
			t.Fatal("the lease was not handed over")
		}
		noViolation(t, "SENDER_IRC", errs1, errs2)
		// The Matrix sender's user cannot take the IRC sender's lease.
		_, mjs, merrs := p.connect(t, "SENDER_MATRIX")
		if _, err := lease.Acquire(timeout(t, ctx, time.Second), mjs, lc, nil); err == nil {
			t.Error("the Matrix sender's user took the IRC lease")
		}
		expectViolation(t, merrs, "$KV.fmn_leases.sender-irc")
	})

	// Nobody else may append rule events.
	rules, err := ajs.Stream(ctx, cfg.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rules.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := info.State.LastSeq
	forged := nats.NewMsg(wire.RulesUserSubject("bob"))
	forged.Header.Set(wire.HeaderEvent, "rule.created")
	forged.Data = []byte(`{"type":"rule.created","user":"bob","actor":"bob","rule":{"name":"all of bob's mail to me",` +
		`"tracking_rule":{"name":"related-events"},"generation_rules":[{"destinations":[{"protocol":"email","address":"mallory@example.org"}]}]}}`)
	if _, err := bjs.PublishMsg(timeout(t, ctx, time.Second), forged); err == nil {
		t.Error("the bridge's user appended a rule event")
	}
	expectViolation(t, bridgeErrs, "rules.user.bob")
	if err := bnc.Publish(forged.Subject, forged.Data); err == nil {
		_ = bnc.Flush()
	}
	expectViolation(t, bridgeErrs, "rules.user.bob")
	if _, err := nats.Connect(p.URL); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous connection: %v", err)
	}
	// Nor drop or reconfigure streams, nor take the matcher's consumer.
	if _, err := bjs.UpdateStream(timeout(t, ctx, time.Second), jetstream.StreamConfig{Name: cfg.Streams.Rules, Subjects: []string{wire.RulesAll}, MaxMsgs: 1}); err == nil {
		t.Error("the bridge's user reconfigured RULES")
	}
	expectViolation(t, bridgeErrs, "$JS.API.STREAM.UPDATE."+cfg.Streams.Rules)
	if err := bjs.DeleteStream(timeout(t, ctx, time.Second), cfg.Streams.Rules); err == nil {
		t.Error("the bridge's user deleted RULES")
	}
	expectViolation(t, bridgeErrs, "$JS.API.STREAM.DELETE."+cfg.Streams.Rules)
	_, apijs, apiErrs := p.connect(t, "API")
	if _, err := apijs.CreateOrUpdateConsumer(timeout(t, ctx, time.Second), cfg.Streams.Bus, jetstream.ConsumerConfig{
		Durable: "matcher", FilterSubject: "bus.nothing", AckPolicy: jetstream.AckExplicitPolicy}); err == nil {
		t.Error("the API's user changed the matcher's consumer")
	}
	expectViolation(t, apiErrs, "$JS.API.CONSUMER.CREATE."+cfg.Streams.Bus+".matcher")

	info, err = rules.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != before {
		t.Errorf("RULES went from sequence %d to %d", before, info.State.LastSeq)
	}
	if _, err := rules.GetLastMsgForSubject(ctx, wire.RulesUserSubject("bob")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("a rule event of bob is in RULES: %v", err)
	}

	// No role met a permission it lacks.
	for user, log := range logs {
		if s := log.String(); strings.Contains(strings.ToLower(s), "permissions violation") {
			t.Errorf("%s was refused a permission:\n%s", user, s)
		}
	}
}

func timeout(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// expectViolation waits for the server's permission violation naming
// subject.
func expectViolation(t *testing.T, errs <-chan error, subject string) {
	t.Helper()
	deadline := time.After(fmntest.Scaled(5 * time.Second))
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-deadline:
			t.Errorf("no permission violation for %s", subject)
			return
		}
	}
}

// noViolation checks that no permission was refused on the connections
// of user.
func noViolation(t *testing.T, user string, errs ...<-chan error) {
	t.Helper()
	for _, ch := range errs {
		for {
			select {
			case err := <-ch:
				if errors.Is(err, nats.ErrPermissionViolation) {
					t.Errorf("%s was refused a permission: %v", user, err)
				}
				continue
			default:
			}
			break
		}
	}
}

// TestExampleNATSServerConfig: docs/nats/nats-server.conf, with the files
// it names made (certificates, fmn-nkeys.conf from its example), is a
// configuration nats-server accepts: a JetStream cluster of three with TLS
// for clients and routes, and fmn's account with its users.
func TestExampleNATSServerConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("..", "docs", "nats", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	// fmn-nkeys.conf: the example with a real key for every variable.
	var nkeys strings.Builder
	users := 0
	for _, line := range strings.Split(read("fmn-nkeys.conf.example"), "\n") {
		name, _, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(name, "#") || strings.TrimSpace(name) == "" {
			continue
		}
		pub, _ := fmntest.NKeyUser(t)
		fmt.Fprintf(&nkeys, "%s: %q\n", strings.TrimSpace(name), pub)
		users++
	}
	tf := fmntest.WriteTLSFiles(t, "fmn")
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for dst, src := range map[string]string{"server.pem": tf.ServerCert, "server-key.pem": tf.ServerKey, "ca.pem": tf.CA,
		"route.pem": tf.ServerCert, "route-key.pem": tf.ServerKey} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tlsDir, dst), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := read("nats-server.conf")
	conf = strings.ReplaceAll(conf, "/etc/nats/tls/", tlsDir+"/")
	conf = strings.ReplaceAll(conf, "/var/lib/nats", filepath.Join(dir, "js"))
	conf = strings.ReplaceAll(conf, "$NATS_SERVER_NAME", "nats-1")
	for name, content := range map[string]string{"nats-server.conf": conf, "fmn-accounts.conf": read("fmn-accounts.conf"), "fmn-nkeys.conf": nkeys.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats-server.conf"))
	if err != nil {
		t.Fatalf("docs/nats/nats-server.conf: %v", err)
	}
	if !opts.JetStream || opts.Cluster.Name != "fmn" || len(opts.Routes) != 3 || opts.TLSConfig == nil || opts.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert ||
		opts.Cluster.TLSConfig == nil || opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert || opts.MaxPayload != 8<<20 || opts.SystemAccount != "SYS" {
		t.Errorf("options: jetstream %v cluster %q routes %d TLS %v max payload %d system %q",
			opts.JetStream, opts.Cluster.Name, len(opts.Routes), opts.TLSConfig != nil, opts.MaxPayload, opts.SystemAccount)
	}
	if len(opts.Nkeys) != users {
		t.Errorf("%d users with nkeys, the example names %d", len(opts.Nkeys), users)
	}
	byAccount := map[string]int{}
	for _, u := range opts.Nkeys {
		byAccount[u.Account.Name]++
	}
	if byAccount["FMN"] != len(permUsers) || byAccount["SYS"] != 1 {
		t.Errorf("users by account: %v", byAccount)
	}
}
