package irc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/irc"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

// sample is an IRC notification as the renderer makes it.
func sample(id, nick, line string) *notification.Notification {
	return &notification.Notification{
		ID: id, MessageID: "msg-" + id, Topic: "org.fedoraproject.prod.bodhi.update.comment",
		Protocol: "irc", Address: nick, User: "alice", RuleID: 12, RuleIDs: []int64{12},
		App: "bodhi", Severity: 20, SentAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Summary: "Zoë commented on FEDORA-2024-1", Line: line,
	}
}

// config parses rawURL and makes the sender quick to retry, as tests want.
func config(t *testing.T, rawURL string) irc.Config {
	t.Helper()
	cfg, err := irc.NewConfig(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReconnectMin = 100 * time.Millisecond
	cfg.ReconnectMax = time.Second
	cfg.RegainInterval = 2 * time.Second
	return cfg
}

func newSender(t *testing.T, cfg irc.Config, logger *slog.Logger) *irc.Sender {
	t.Helper()
	s, err := irc.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitStatus(t *testing.T, s *irc.Sender, what string, cond func(irc.Status) bool) irc.Status {
	t.Helper()
	var st irc.Status
	fmntest.Eventually(t, 15*time.Second, what, func() bool {
		st = s.Status()
		return cond(st)
	})
	return st
}

// texts is the text of each message.
func texts(ms []privmsg) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func TestDeliveryThroughNATS(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	d := startIRCd(t, ircdOptions{})
	alice := d.connectClient(t, "alice")
	logger, logs := senderstest.Logger()
	s := newSender(t, config(t, d.url(true, botNick, botPass, "rate=50&burst=20")), logger)
	out := senderstest.Start(t, n, s, senderstest.FastOptions(5), logger)

	short := "[bodhi] Zoë commented on FEDORA-2024-1 ✓ https://bodhi.fedoraproject.org/updates/FEDORA-2024-1"
	var words []string
	for i := range 120 {
		words = append(words, fmt.Sprintf("wörd%d—ü", i))
	}
	long := "[koji] " + strings.Join(words, " ") + " https://koji.fedoraproject.org/koji/taskinfo?taskID=1"
	senderstest.Publish(t, n, irc.Channel, sample("n1", "alice", short))
	senderstest.Publish(t, n, irc.Channel, sample("n2", "Alice", "line\r\nbreaks and a \x01CTCP\x01 stay on one line"))
	senderstest.Publish(t, n, irc.Channel, sample("n3", "alice", long))
	senderstest.Settled(t, n, irc.Channel)
	if got := out.Count(wire.Sent); got != 3 {
		t.Fatalf("sent %d, want 3: %+v", got, out.All())
	}

	got := alice.received()
	if len(got) < 5 {
		t.Fatalf("received %q, want the long line split", texts(got))
	}
	for _, m := range got {
		if m.From != botNick {
			t.Errorf("message from %q, want %q", m.From, botNick)
		}
	}
	if got[0].Text != short {
		t.Errorf("line\n got %q\nwant %q", got[0].Text, short)
	}
	// A line break starts a new message (a digest has one line per
	// notification); nothing in a line can start a command or a CTCP.
	if want := []string{"line", "breaks and a CTCP stay on one line"}; !slices.Equal(texts(got[1:3]), want) {
		t.Errorf("lines\n got %q\nwant %q", texts(got[1:3]), want)
	}
	if joined := strings.Join(texts(got[3:]), " "); joined != long {
		t.Errorf("long line split into %q, joined\n got %q\nwant %q", texts(got[3:]), joined, long)
	}
	for _, l := range alice.allLines() {
		if strings.Contains(l, " PRIVMSG alice :") && (len(l)+2 > 512 || !utf8.ValidString(l)) {
			t.Errorf("relayed line of %d bytes (valid UTF-8: %v): %q", len(l)+2, utf8.ValidString(l), l)
		}
	}
	if st := s.Status(); !st.Connected || st.Nick != botNick || st.Account != botNick {
		t.Errorf("status %+v, want connected as %s, logged in", st, botNick)
	}
	if acct := alice.whoisAccount(t, botNick); acct != botNick {
		t.Errorf("WHOIS %s: account %q, want %q (SASL login)", botNick, acct, botNick)
	}
	senderstest.NoSecret(t, botPass, "log", logs.String())
}

func TestSASLWrongPassword(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	d := startIRCd(t, ircdOptions{})
	const wrong = "Wr0ng-Pass-5521"
	logger, logs := senderstest.Logger()
	s := newSender(t, config(t, d.url(true, botNick, wrong, "connect_wait=1s")), logger)

	waitStatus(t, s, "login refused", func(st irc.Status) bool { return st.LastError != "" })
	err := s.Send(fmntest.Context(t), sample("w1", "alice", "never sent"))
	if err == nil || senders.IsPermanent(err) {
		t.Fatalf("Send = %v, want a transient error", err)
	}
	for _, want := range []string{"SASL", "904", botNick} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if st := s.Status(); st.Connected || !strings.Contains(st.LastError, "904") {
		t.Errorf("status %+v, want disconnected with the 904", st)
	}

	// Through the delivery loop it ends in the dead letters, still
	// without the password.
	senderstest.Start(t, n, s, senderstest.FastOptions(2), logger)
	senderstest.Publish(t, n, irc.Channel, sample("w2", "alice", "never sent either"))
	dl := senderstest.WaitDeadLetters(t, n, irc.Channel, 1)
	reason := dl[0].Header.Get(wire.HeaderReason)
	if !strings.Contains(reason, "904") {
		t.Errorf("dead letter reason %q does not name the refusal", reason)
	}
	for where, text := range map[string]string{"error": err.Error(), "log": logs.String(), "dead letter reason": reason} {
		senderstest.NoSecret(t, wrong, where, text)
		senderstest.NoSecret(t, "V3IwbmctUGFzcy01NTIx", where, text) // base64 of the password
	}
}

func TestNickServFallback(t *testing.T) {
	t.Parallel()
	d := startIRCd(t, ircdOptions{noSASL: true})
	alice := d.connectClient(t, "alice")
	logger, logs := senderstest.Logger()
	s := newSender(t, config(t, d.url(false, botNick, botPass, "")), logger)

	waitStatus(t, s, "logged in through NickServ", func(st irc.Status) bool { return st.Account == botNick })
	if err := s.Send(fmntest.Context(t), sample("f1", "alice", "[fas] identified by NickServ")); err != nil {
		t.Fatal(err)
	}
	if got := alice.waitReceived(t, 1, 5*time.Second); got[0].Text != "[fas] identified by NickServ" || got[0].From != botNick {
		t.Errorf("received %+v", got)
	}
	if acct := alice.whoisAccount(t, botNick); acct != botNick {
		t.Errorf("WHOIS %s: account %q, want %q", botNick, acct, botNick)
	}
	if !strings.Contains(logs.String(), "NickServ") {
		t.Errorf("the fallback is not logged:\n%s", logs)
	}
	senderstest.NoSecret(t, botPass, "log", logs.String())
}

func TestUnknownNick(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	d := startIRCd(t, ircdOptions{})
	alice := d.connectClient(t, "alice")
	s := newSender(t, config(t, d.url(true, botNick, botPass, "rate=50&burst=20")), nil)
	out := senderstest.Start(t, n, s, senderstest.FastOptions(5), nil)

	senderstest.Publish(t, n, irc.Channel, sample("u1", "ghost", "[bodhi] to nobody"))
	senderstest.Publish(t, n, irc.Channel, sample("u2", "#fedora", "[bodhi] to a channel"))
	senderstest.Publish(t, n, irc.Channel, sample("u3", "alice", "[bodhi] to alice"))
	dls := senderstest.WaitDeadLetters(t, n, irc.Channel, 2)
	senderstest.Settled(t, n, irc.Channel)

	reasons := map[string]string{}
	for _, dl := range dls {
		reasons[dl.Header.Get(wire.HeaderSourceMsgID)] = dl.Header.Get(wire.HeaderReason)
	}
	if r := reasons["u1"]; !strings.Contains(r, `no such nick "ghost"`) || !strings.Contains(r, "401") {
		t.Errorf("dead letter of u1: reason %q, want the unknown nick", r)
	}
	if r := reasons["u2"]; !strings.Contains(r, "not an IRC nick") {
		t.Errorf("dead letter of u2: reason %q, want a bad address", r)
	}
	if got := alice.waitReceived(t, 1, 5*time.Second); len(got) != 1 || got[0].Text != "[bodhi] to alice" {
		t.Errorf("alice received %q", texts(got))
	}
	if out.Count(wire.Dead) != 2 || out.Count(wire.Sent) != 1 || out.Count(wire.Retry) != 0 {
		t.Errorf("outcomes %+v", out.All())
	}
}

func TestPipelinedToOneNick(t *testing.T) {
	t.Parallel()
	d := startIRCd(t, ircdOptions{})
	alice := d.connectClient(t, "alice")
	s := newSender(t, config(t, d.url(true, botNick, botPass, "rate=200&burst=50")), nil)

	// Concurrent sends to one nick, another one and a missing one: each
	// gets its own answer.
	ctx := fmntest.Context(t)
	var wg sync.WaitGroup
	errs := make([]error, 30)
	for i := range errs {
		nick := []string{"alice", "ghost", "bob"}[i%3]
		wg.Go(func() { errs[i] = s.Send(ctx, sample(strconv.Itoa(i), nick, fmt.Sprintf("message %d", i))) })
	}
	bob := d.connectClient(t, "bob")
	_ = bob
	wg.Wait()
	var toAlice []string
	for i, err := range errs {
		switch i % 3 {
		case 0:
			if err != nil {
				t.Errorf("send %d to alice: %v", i, err)
			}
			toAlice = append(toAlice, fmt.Sprintf("message %d", i))
		case 1:
			if !senders.IsPermanent(err) {
				t.Errorf("send %d to ghost: %v, want permanent", i, err)
			}
		}
	}
	got := texts(alice.waitReceived(t, len(toAlice), 5*time.Second))
	slices.Sort(got)
	slices.Sort(toAlice)
	if !slices.Equal(got, toAlice) {
		t.Errorf("alice received %q, want %q", got, toAlice)
	}
}

func TestServerRestart(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	d := startIRCd(t, ircdOptions{})
	// fmn reaches the server through a gate the test can shut, so that
	// after the restart the recipient is back before fmn may send: a
	// message to a nick that is not online is dead-lettered.
	g := startGate(t, d.tls)
	alice := d.connectClient(t, "alice")
	cfg := config(t, fmt.Sprintf("ircs://%s:%s@127.0.0.1:%d?ca_file=%s&connect_wait=500ms&rate=50", botNick, botPass, g.port, d.caFile))
	logger, logs := senderstest.Logger()
	s := newSender(t, cfg, logger)
	opts := senderstest.FastOptions(100)
	out := senderstest.Start(t, n, s, opts, logger)

	senderstest.Publish(t, n, irc.Channel, sample("r0", "alice", "before the restart"))
	alice.waitReceived(t, 1, 10*time.Second)
	// Received is not yet confirmed: cut now, and r0 would be sent again.
	senderstest.Settled(t, n, irc.Channel)

	g.shut()
	d.stopServer()
	waitStatus(t, s, "disconnected", func(st irc.Status) bool { return !st.Connected })
	want := []string{"queued 1", "queued 2", "queued 3"}
	for i, line := range want {
		senderstest.Publish(t, n, irc.Channel, sample(fmt.Sprint("r", i+1), "alice", line))
	}
	fmntest.Eventually(t, 10*time.Second, "delivery attempts while the server is down", func() bool {
		return out.Count(wire.Retry) >= 3
	})

	d.restartServer()
	alice = d.connectClient(t, "alice")
	g.open()
	got := texts(alice.waitReceived(t, 3, 20*time.Second))
	senderstest.Settled(t, n, irc.Channel)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after the restart alice received %q, want %q", got, want)
	}
	if dl := senderstest.DeadLetters(t, n, irc.Channel); len(dl) != 0 {
		t.Errorf("%d dead letters", len(dl))
	}
	// Back before the services, fmn found no SASL; it identifies with
	// NickServ once they ask.
	waitStatus(t, s, "logged in again", func(st irc.Status) bool {
		return st.Connected && st.Nick == botNick && st.Account == botNick
	})
	if !strings.Contains(logs.String(), "disconnected from IRC server") {
		t.Errorf("the disconnection is not logged")
	}
}

func TestNickCollision(t *testing.T) {
	t.Parallel()
	d := startIRCd(t, ircdOptions{})
	squatter := d.connectClient(t, botNick)
	alice := d.connectClient(t, "alice")
	s := newSender(t, config(t, d.url(true, botNick, botPass, "")), nil)

	st := waitStatus(t, s, "connected", func(st irc.Status) bool { return st.Connected })
	if st.Nick != botNick+"_" && st.Nick != botNick {
		t.Errorf("connected as %q, want the alternate nick %s_ first", st.Nick, botNick)
	}
	// Logged in to the account, fmn has services free the nick (RECOVER)
	// and takes it.
	waitStatus(t, s, "nick regained", func(st irc.Status) bool { return st.Nick == botNick })
	if err := s.Send(fmntest.Context(t), sample("c1", "alice", "from the right nick")); err != nil {
		t.Fatal(err)
	}
	if got := alice.waitReceived(t, 1, 5*time.Second); got[0].From != botNick {
		t.Errorf("received from %q, want %q", got[0].From, botNick)
	}
	if lines := squatter.allLines(); !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, " NICK ") }) {
		t.Errorf("the squatter's nick was not changed:\n%s", strings.Join(lines, "\n"))
	}
}

func TestCloseFailsWaitingSends(t *testing.T) {
	t.Parallel()
	// Nothing listens on this port: Send waits for a connection.
	port := fmntest.FreePorts(t, 1)[0]
	cfg := config(t, fmt.Sprintf("irc://%s@127.0.0.1:%d?connect_wait=1m", botNick, port))
	s, err := irc.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Send(context.Background(), sample("x", "alice", "x")) }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	s.Close()
	select {
	case err := <-errc:
		if err == nil || senders.IsPermanent(err) {
			t.Errorf("Send after Close = %v, want a transient error", err)
		}
	case <-time.After(fmntest.Scaled(5 * time.Second)):
		t.Fatal("Send still waits after Close")
	}
}

// gate forwards connections to a port while open, and refuses them — and
// cuts those it carries — while shut.
type gate struct {
	port   int
	mu     sync.Mutex
	closed bool
	conns  []net.Conn
}

func startGate(t *testing.T, target int) *gate {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{port: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(func() { l.Close(); g.shut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(target)))
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			if g.closed {
				g.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = false
}

// TestKeepalive talks to a stand-in server that answers fmn's PING once it
// is registered, then falls silent: fmn answers the server's PING, pings a
// quiet server, and reconnects when it stays quiet.
func TestKeepalive(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	var seen []string
	connections := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			connections++
			mu.Unlock()
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					mu.Lock()
					seen = append(seen, line)
					mu.Unlock()
					if strings.HasPrefix(line, "USER ") {
						_, _ = io.WriteString(c, ":fake 001 fmn :Welcome fmn!fmn@127.0.0.1\r\nPING :are-you-there\r\n")
					}
				}
			}()
		}
	}()
	cfg := config(t, fmt.Sprintf("irc://fmn@127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port))
	cfg.PingInterval, cfg.PingTimeout = 300*time.Millisecond, 300*time.Millisecond
	s := newSender(t, cfg, nil)
	waitStatus(t, s, "a silent server left", func(st irc.Status) bool { return strings.Contains(st.LastError, "silent") })
	fmntest.Eventually(t, 5*time.Second, "a new connection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return connections >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"NICK fmn", "USER fmn 0 * :fmn notifications", "PONG :are-you-there", "PING :keepalive"} {
		if !slices.Contains(seen, want) {
			t.Errorf("the server never got %q: %q", want, seen)
		}
	}
	if slices.ContainsFunc(seen, func(l string) bool { return strings.HasPrefix(l, "CAP") }) {
		t.Errorf("CAP negotiated without a password: %q", seen)
	}
}

// TestDigestLines: a digest reaches the nick as one message per
// notification up to the cap, then the count of the rest with a link.
func TestDigestLines(t *testing.T) {
	t.Parallel()
	d := startIRCd(t, ircdOptions{})
	alice := d.connectClient(t, "alice")
	s := newSender(t, config(t, d.url(true, botNick, botPass, "rate=200&burst=50")), nil)
	var held []*notification.Notification
	for i := range notification.MaxDigestLines + 5 {
		held = append(held, sample(strconv.Itoa(i), "alice", fmt.Sprintf("[koji] build %d https://koji.example.org/%d", i, i)))
	}
	dg := notification.Digest("dg", held, notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}, time.Now())
	if err := s.Send(fmntest.Context(t), dg); err != nil {
		t.Fatal(err)
	}
	got := texts(alice.waitReceived(t, notification.MaxDigestLines, 10*time.Second))
	if len(got) != notification.MaxDigestLines || got[0] != "[koji] build 0 https://koji.example.org/0" ||
		got[len(got)-1] != "… and 6 more: https://fmn.example.org/" {
		t.Errorf("received %q", got)
	}
}
