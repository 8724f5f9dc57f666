// Package irc sends notifications as private messages on IRC, from one
// connection for the whole deployment: TLS, SASL PLAIN (or NickServ
// IDENTIFY when the server offers no SASL), flood control with a token
// bucket, PING/PONG keepalive, reconnection with backoff and recovery of
// the nick when someone else holds it.
//
// IRC has no delivery receipt. A notification counts as sent when its
// PRIVMSG lines were written and the server then answered a PING sent after
// them without an error about the recipient in between: a server handles a
// client's commands in order, so by the time it answers the PING it has
// accepted or refused every line before it. ERR_NOSUCHNICK (401) — the
// recipient is not online — is permanent, and the notification goes to the
// dead letters. A connection lost before the PING's answer leaves it
// unknown whether the server relayed the message; Send then fails
// transiently and the retry may deliver it twice (at least once, never
// lost). One PING covers every message written before it, so the check
// costs one round trip per batch rather than per message.
//
// Only one process may hold the connection: run the sender through Run,
// which takes a lease first (package lease).
package irc

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/time/rate"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/senders"
)

// Channel is the channel of IRC notifications: notify.irc.
const Channel = "irc"

// maxLine is the longest line IRC allows, CRLF included (RFC 1459).
const maxLine = 512

// Status is the state of the sender's connection, for health checks and
// tests.
type Status struct {
	// Connected is true while a registered connection is up.
	Connected bool
	// Nick is the nick in use, which differs from Config.Nick while
	// another client holds that.
	Nick string
	// Account is the services account fmn is logged in to ("" when not).
	Account string
	// LastError is why the last connection attempt failed or the last
	// connection ended ("" when none did).
	LastError string
}

// Sender delivers IRC notifications over one connection it keeps up by
// itself. It is safe for concurrent use: messages to different recipients
// are pipelined, messages to one recipient go one after the other so that
// an error reply is always matched to its message.
type Sender struct {
	cfg     Config
	log     *slog.Logger
	tls     *tls.Config
	secrets []string // forms of the password that must never leak
	lim     *rate.Limiter

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the connection manager has stopped

	// answer answers private messages to fmn's nick (nil: they are
	// ignored); inbox holds those waiting, botDone is closed when the
	// loop answering them has stopped.
	answer  bot.Answerer
	inbox   chan inbound
	botDone chan struct{}

	mu      sync.Mutex
	cur     *conn         // the registered connection, or nil
	up      chan struct{} // closed when cur is set; replaced when it goes
	lastErr error
	closed  bool
}

var _ senders.Sender = (*Sender)(nil)

// New validates cfg and starts connecting in the background; Send waits
// for the connection (Config.ConnectWait at most).
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	return NewWithBot(cfg, nil, logger)
}

// NewWithBot is New with a bot on the connection: private messages to
// fmn's nick go to answer (see package bot), with the services account
// the server tags them with (IRCv3 account-tag), and its replies go back
// as NOTICEs under the sender's flood limit.
func NewWithBot(cfg Config, answer bot.Answerer, logger *slog.Logger) (*Sender, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Sender{
		cfg:  cfg,
		log:  logger.With("server", cfg.String()),
		tls:  cfg.ClientConfig(),
		lim:  rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		up:   make(chan struct{}),
		done: make(chan struct{}),
	}
	if pw := string(cfg.Password); pw != "" {
		b64 := base64.StdEncoding.EncodeToString
		s.secrets = []string{
			pw, b64([]byte(pw)),
			b64([]byte("\x00" + cfg.Account + "\x00" + pw)),
			b64([]byte(cfg.Account + "\x00" + cfg.Account + "\x00" + pw)),
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.botDone = make(chan struct{})
	if answer != nil {
		s.answer = answer
		s.inbox = make(chan inbound, inboxSize)
		go s.answerLoop()
	} else {
		close(s.botDone)
	}
	go s.manage()
	return s, nil
}

// Channel is "irc".
func (s *Sender) Channel() string { return Channel }

// Close says QUIT and stops reconnecting. Sends still waiting fail with a
// transient error. Close may be called more than once.
func (s *Sender) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.done
	<-s.botDone
	return nil
}

// Status reports the connection's state.
func (s *Sender) Status() Status {
	s.mu.Lock()
	c, lastErr := s.cur, s.lastErr
	s.mu.Unlock()
	var st Status
	if lastErr != nil {
		st.LastError = lastErr.Error()
	}
	if c != nil {
		c.mu.Lock()
		st.Connected, st.Nick, st.Account = true, c.nick, c.account
		c.mu.Unlock()
	}
	return st
}

// Send delivers n.Line to the nick n.Address as one PRIVMSG, or several
// when it is longer than a line may be or holds several lines (a digest). An address that is not a nick, or
// a recipient the server does not know (401: not online), is a permanent
// failure; anything about the connection is transient. The error never
// holds the password.
func (s *Sender) Send(ctx context.Context, n *notification.Notification) error {
	return s.scrub(s.send(ctx, n))
}

func (s *Sender) send(ctx context.Context, n *notification.Notification) error {
	target := strings.TrimSpace(n.Address)
	if !validNick(target) {
		return senders.Permanent(fmt.Errorf("%q is not an IRC nick", n.Address))
	}
	// A digest has one line per notification.
	var texts []string
	for l := range strings.SplitSeq(n.Line, "\n") {
		if t := cleanText(l); t != "" {
			texts = append(texts, t)
		}
	}
	if len(texts) == 0 {
		return senders.Permanent(fmt.Errorf("notification %s has no line to send", n.ID))
	}
	c, err := s.connection(ctx)
	if err != nil {
		return err
	}
	return c.deliver(ctx, target, texts)
}

// connection waits for the registered connection.
func (s *Sender) connection(ctx context.Context) (*conn, error) {
	timer := time.NewTimer(s.cfg.ConnectWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		c, up, closed, lastErr := s.cur, s.up, s.closed, s.lastErr
		s.mu.Unlock()
		switch {
		case closed:
			return nil, errors.New("IRC sender is closed")
		case c != nil:
			return c, nil
		}
		select {
		case <-up:
		case <-s.ctx.Done():
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the connection to IRC server %s: %w", s.cfg.Addr(), context.Cause(ctx))
		case <-timer.C:
			if lastErr == nil {
				return nil, fmt.Errorf("not connected to IRC server %s after %s", s.cfg.Addr(), s.cfg.ConnectWait)
			}
			return nil, fmt.Errorf("not connected to IRC server %s after %s: %w", s.cfg.Addr(), s.cfg.ConnectWait, lastErr)
		}
	}
}

// manage keeps one connection up until Close.
func (s *Sender) manage() {
	defer close(s.done)
	delay := s.cfg.ReconnectMin
	for s.ctx.Err() == nil {
		start := time.Now()
		c, err := s.connect(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				break
			}
			err = s.scrub(err)
			s.setDown(nil, err)
			wait := jitter(delay)
			s.log.Warn("cannot connect to IRC server", "err", err, "retry_in", wait.Round(time.Millisecond))
			s.sleep(wait)
			delay = min(2*delay, s.cfg.ReconnectMax)
			continue
		}
		s.setUp(c)
		select {
		case <-c.dead:
		case <-s.ctx.Done():
			c.quit("fmn is stopping")
		}
		err = s.scrub(c.cause())
		s.setDown(c, err)
		if s.ctx.Err() != nil {
			break
		}
		if time.Since(start) > s.cfg.ReconnectMax {
			delay = s.cfg.ReconnectMin // it was up long enough to start afresh
		}
		wait := jitter(delay)
		s.log.Warn("disconnected from IRC server", "err", err, "retry_in", wait.Round(time.Millisecond))
		s.sleep(wait)
		delay = min(2*delay, s.cfg.ReconnectMax)
	}
	s.setDown(nil, errors.New("IRC sender is closed"))
}

func (s *Sender) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
}

// jitter spreads reconnections of many processes by ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (s *Sender) setUp(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.lastErr = c, nil
	close(s.up)
	c.mu.Lock()
	s.log.Info("connected to IRC server", "nick", c.nick, "account", c.account, "tls", s.cfg.TLS)
	c.mu.Unlock()
}

// setDown records that c (nil: no connection) is gone and why.
func (s *Sender) setDown(c *conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && (c == nil || s.cur == c) {
		s.cur = nil
		s.up = make(chan struct{})
	}
	if err != nil {
		s.lastErr = err
	}
}

// connect dials, sets up TLS, registers and logs in.
func (s *Sender) connect(ctx context.Context) (*conn, error) {
	cfg := s.cfg
	addr := cfg.Addr()
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	var nc net.Conn
	var err error
	if cfg.TLS {
		nc, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(dctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to IRC server %s: %w", addr, err)
	}
	c := &conn{s: s, nc: nc, r: bufio.NewReaderSize(nc, 4096), dead: make(chan struct{}), targets: map[string]*pending{}}
	c.lastRead.Store(time.Now().UnixNano())
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	if err := c.register(); err != nil {
		nc.Close()
		return nil, err
	}
	go c.readLoop()
	go c.keepalive()
	return c, nil
}

// scrub removes the password, and the encodings it travels in, from err's
// text.
func (s *Sender) scrub(err error) error { return senders.Scrub(err, s.secrets...) }

// conn is one registered connection.
type conn struct {
	s  *Sender
	nc net.Conn
	r  *bufio.Reader

	wmu sync.Mutex // serializes writes

	lastRead atomic.Int64 // unix nanoseconds of the last line read

	mu       sync.Mutex
	nick     string // the nick in use
	userHost string // user@host as others see us, when known
	account  string
	// targets holds the message waiting for confirmation per recipient
	// (folded nick); pending holds them all in the order written.
	targets map[string]*pending
	pending []*pending
	seq     uint64 // messages fully written
	pingOut bool   // a confirming PING is on its way
	// keepaliveAt is when the keepalive PING went, zero when none waits.
	keepaliveAt time.Time
	accountTag  bool      // the server tags messages with the sender's account
	identifyAt  time.Time // last NickServ IDENTIFY
	regainAt    time.Time // next attempt to take back the nick
	nickAgainAt time.Time // a NICK shortly after asking services to free it
	over        bool      // fail has run: pending is settled for good

	deadOnce sync.Once
	dead     chan struct{} // closed when the connection has ended
	err      error         // why; set before dead is closed
}

// pending is a message waiting for the server to confirm it.
type pending struct {
	target string        // folded nick
	seq    uint64        // c.seq once all its lines are written, 0 before
	err    error         // the server's refusal, if any
	done   chan struct{} // closed when settled
}

func (c *conn) cause() error {
	select {
	case <-c.dead:
		return c.err
	default:
		return nil
	}
}

// fail ends the connection; messages not yet confirmed fail transiently.
func (c *conn) fail(err error) {
	c.deadOnce.Do(func() {
		c.err = err
		c.nc.Close()
		c.mu.Lock()
		c.over = true
		for _, p := range c.pending {
			if p.err == nil || !senders.IsPermanent(p.err) {
				// A refusal already received stays what it was.
				p.err = fmt.Errorf("connection to IRC server %s lost before it confirmed the message, which may or may not have been delivered: %w", c.s.cfg.Addr(), err)
			}
			close(p.done)
		}
		c.pending, c.targets = nil, map[string]*pending{}
		close(c.dead)
		c.mu.Unlock()
	})
}

// quit says goodbye and closes, giving the server a moment to answer.
func (c *conn) quit(reason string) {
	if c.write("QUIT :"+reason) == nil {
		select {
		case <-c.dead:
		case <-time.After(time.Second):
		}
	}
	c.fail(errors.New("closed by fmn"))
}

// write sends one line, bounded by the confirmation timeout.
func (c *conn) write(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.dead:
		return fmt.Errorf("connection to IRC server closed: %w", c.err)
	default:
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.ConfirmTimeout))
	if _, err := c.nc.Write([]byte(line + "\r\n")); err != nil {
		err = fmt.Errorf("writing to IRC server %s: %w", c.s.cfg.Addr(), err)
		go c.fail(err)
		return err
	}
	return nil
}

// deliver writes texts to target, each as one PRIVMSG or several when it
// is longer than a line may be, and waits for the server's confirmation.
func (c *conn) deliver(ctx context.Context, target string, texts []string) error {
	p, err := c.enqueue(ctx, target)
	if err != nil {
		return err
	}
	var lines []string
	for _, text := range texts {
		lines = append(lines, splitText(text, c.budget(target))...)
	}
	written := 0
	for _, l := range lines {
		if err = c.s.lim.Wait(ctx); err != nil {
			err = fmt.Errorf("waiting for the flood limit: %w", err)
			break
		}
		if err = c.write("PRIVMSG " + target + " :" + l); err != nil {
			break
		}
		written++
	}
	c.written(p, written)
	if err != nil {
		return err
	}
	timer := time.NewTimer(c.s.cfg.ConfirmTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for IRC server %s to confirm: %w", c.s.cfg.Addr(), context.Cause(ctx))
	case <-timer.C:
		err := fmt.Errorf("IRC server %s did not answer PING within %s", c.s.cfg.Addr(), c.s.cfg.ConfirmTimeout)
		c.fail(err)
		return err
	}
}

// enqueue registers a message to target once no other one to target waits
// for confirmation: a 401 names only the nick, so two messages to one nick
// in flight could not be told apart.
func (c *conn) enqueue(ctx context.Context, target string) (*pending, error) {
	key := rules.FoldIRCNick(target)
	for {
		c.mu.Lock()
		if c.over {
			c.mu.Unlock()
			return nil, fmt.Errorf("connection to IRC server %s lost: %w", c.s.cfg.Addr(), c.err)
		}
		prev := c.targets[key]
		if prev == nil {
			p := &pending{target: key, done: make(chan struct{})}
			c.targets[key] = p
			c.pending = append(c.pending, p)
			c.mu.Unlock()
			return p, nil
		}
		c.mu.Unlock()
		select {
		case <-prev.done:
		case <-c.dead:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the previous message to %s: %w", target, context.Cause(ctx))
		}
	}
}

// written marks p as fully written (or given up after n lines) and makes
// sure a PING follows it.
func (c *conn) written(p *pending, n int) {
	c.mu.Lock()
	if c.over {
		c.mu.Unlock()
		return
	}
	if n == 0 {
		// Nothing went out: nothing to confirm.
		c.settle(p, nil)
		c.mu.Unlock()
		return
	}
	c.seq++
	p.seq = c.seq
	ping := !c.pingOut
	c.pingOut = true
	seq := c.seq
	c.mu.Unlock()
	if ping {
		_ = c.write("PING :fmn-" + strconv.FormatUint(seq, 10))
	}
}

// settle removes p from the waiting messages and wakes its sender. Call
// with c.mu held.
func (c *conn) settle(p *pending, err error) {
	if err != nil && p.err == nil {
		p.err = err
	}
	if c.targets[p.target] == p {
		delete(c.targets, p.target)
	}
	if i := slices.Index(c.pending, p); i >= 0 {
		c.pending = slices.Delete(c.pending, i, i+1)
	}
	close(p.done)
}

// confirmed settles every message written before the PING numbered seq,
// and sends the next PING if more were written since.
func (c *conn) confirmed(seq uint64) {
	c.mu.Lock()
	if c.over {
		c.mu.Unlock()
		return
	}
	var done []*pending
	for _, p := range c.pending {
		if p.seq != 0 && p.seq <= seq {
			done = append(done, p)
		}
	}
	for _, p := range done {
		c.settle(p, nil)
	}
	c.pingOut = false
	next := uint64(0)
	for _, p := range c.pending {
		if p.seq > seq {
			next = c.seq
			c.pingOut = true
			break
		}
	}
	c.mu.Unlock()
	if next != 0 {
		_ = c.write("PING :fmn-" + strconv.FormatUint(next, 10))
	}
}

// refused records the server's refusal of the message to nick.
func (c *conn) refused(nick string, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.targets[rules.FoldIRCNick(nick)]
	if p == nil {
		return false
	}
	if p.err == nil {
		p.err = err
	}
	return true
}

// budget is how many bytes of text fit in one PRIVMSG to target once the
// server has put our prefix in front of it for the recipient.
func (c *conn) budget(target string) int {
	c.mu.Lock()
	nick, userHost := c.nick, c.userHost
	c.mu.Unlock()
	nickLen := max(len(nick), len(c.s.cfg.Nick), len(c.s.cfg.AltNick))
	uhLen := len(userHost)
	if uhLen == 0 || uhLen < len(c.s.cfg.User)+2 {
		uhLen = 11 + 1 + 63 // "~" + USERLEN 10, "@", the longest host name label set
	}
	// ":nick!user@host PRIVMSG target :text\r\n", and a margin for a
	// host that changes (a cloak set after login) without telling us.
	overhead := 1 + nickLen + 1 + uhLen + len(" PRIVMSG ") + len(target) + len(" :") + 2 + 16
	return max(maxLine-overhead, 64)
}

// register runs CAP negotiation with SASL, NICK and USER, up to the
// welcome, then identifies with NickServ when SASL did not log in.
func (c *conn) register() error {
	cfg := c.s.cfg
	addr := cfg.Addr()
	_ = c.nc.SetReadDeadline(time.Now().Add(cfg.RegisterTimeout))
	defer func() { _ = c.nc.SetReadDeadline(time.Time{}) }()

	useSASL := cfg.Password != "" && cfg.SASL == SASLPlain
	// The bot needs account-tag to know who is identified.
	useCAP := useSASL || c.s.answer != nil
	send := func(line string) error {
		_ = c.nc.SetWriteDeadline(time.Now().Add(cfg.RegisterTimeout))
		_, err := c.nc.Write([]byte(line + "\r\n"))
		if err != nil {
			return fmt.Errorf("registering with IRC server %s: %w", addr, err)
		}
		return nil
	}
	if useCAP {
		if err := send("CAP LS 302"); err != nil {
			return err
		}
	}
	nick := cfg.Nick
	if err := send("NICK " + nick); err != nil {
		return err
	}
	if err := send("USER " + cfg.User + " 0 * :" + cfg.RealName); err != nil {
		return err
	}
	capOpen := useCAP
	capEnd := func() error {
		if !capOpen {
			return nil
		}
		capOpen = false
		return send("CAP END")
	}
	noSASL := func(why string) error {
		if !useSASL {
			return capEnd()
		}
		if cfg.NoNickServ {
			return fmt.Errorf("IRC server %s %s, and nickserv=false forbids logging in with NickServ", addr, why)
		}
		c.s.log.Warn("IRC server offers no SASL PLAIN; identifying with NickServ instead", "why", why)
		return capEnd()
	}
	var caps []string
	alt := 0
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("registering with IRC server %s: %w", addr, err)
		}
		m, ok := parseMessage(line)
		if !ok {
			continue
		}
		var werr error
		switch m.Command {
		case "PING":
			werr = send("PONG :" + m.Trailing())
		case "CAP":
			switch strings.ToUpper(m.Param(1)) {
			case "LS":
				caps = append(caps, strings.Fields(m.Trailing())...)
				if len(m.Params) >= 4 && m.Param(2) == "*" {
					continue // more CAP LS lines follow
				}
				var req []string
				if c.s.answer != nil && capOffered(caps, "account-tag") {
					req = append(req, "account-tag")
				}
				sasl := useSASL && saslPlainOffered(caps)
				if sasl {
					req = append(req, "sasl")
				}
				if c.s.answer != nil && !slices.Contains(req, "account-tag") {
					c.s.log.Warn("IRC server offers no account-tag: the bot cannot tell who is identified and refuses every command")
				}
				switch {
				case len(req) > 0:
					werr = send("CAP REQ :" + strings.Join(req, " "))
				case useSASL:
					werr = noSASL("offers no SASL PLAIN")
				default:
					werr = capEnd()
				}
			case "ACK":
				acked := strings.Fields(strings.ToLower(m.Trailing()))
				if slices.Contains(acked, "account-tag") {
					c.accountTag = true
				}
				if slices.Contains(acked, "sasl") {
					werr = send("AUTHENTICATE PLAIN")
				} else {
					werr = noSASL("offers no SASL PLAIN")
				}
			case "NAK":
				werr = noSASL("refused the capabilities " + m.Trailing())
			}
		case "421": // unknown command: a server without CAP
			if strings.EqualFold(m.Param(1), "CAP") {
				capOpen = false
				if useSASL {
					werr = noSASL("does not know CAP")
				}
			}
		case "AUTHENTICATE":
			if m.Param(0) == "+" {
				werr = c.authenticate(send)
			}
		case "900": // RPL_LOGGEDIN <nick> <nick!user@host> <account> :text
			c.account = m.Param(2)
			c.setMask(m.Param(1))
		case "903": // RPL_SASLSUCCESS
			werr = capEnd()
		case "907": // ERR_SASLALREADY
			werr = capEnd()
		case "902", "904", "905", "906": // nick locked, failed, too long, aborted
			return fmt.Errorf("IRC server %s refused SASL PLAIN login as %q: %s %s", addr, cfg.Account, m.Command, m.Trailing())
		case "433", "437": // nick in use, or held by services
			if alt >= 5 {
				return fmt.Errorf("IRC server %s: nick %q and its alternatives are all in use", addr, cfg.Nick)
			}
			alt++
			nick = cfg.AltNick
			if alt > 1 {
				nick = cfg.AltNick + strconv.Itoa(alt)
			}
			c.s.log.Warn("nick in use, taking another one for now", "nick", cfg.Nick, "using", nick)
			werr = send("NICK " + nick)
		case "432": // erroneous nick
			return fmt.Errorf("IRC server %s refuses the nick %q: %s", addr, m.Param(1), m.Trailing())
		case "464", "465": // password mismatch, banned
			return fmt.Errorf("IRC server %s refused the connection: %s %s", addr, m.Command, m.Trailing())
		case "ERROR":
			return fmt.Errorf("IRC server %s closed the connection: %s", addr, m.Trailing())
		case "001": // welcome
			c.nick = m.Param(0)
			if f := strings.Fields(m.Trailing()); len(f) > 0 {
				c.setMask(f[len(f)-1])
			}
			c.regainAt = time.Now()
			return c.afterWelcome()
		}
		if werr != nil {
			return werr
		}
	}
}

// afterWelcome identifies with NickServ when a password is set and SASL
// did not log in.
func (c *conn) afterWelcome() error {
	cfg := c.s.cfg
	if cfg.Password == "" || c.account != "" {
		return nil
	}
	if cfg.NoNickServ {
		if cfg.SASL == SASLPlain {
			return fmt.Errorf("IRC server %s did not log in with SASL, and nickserv=false", cfg.Addr())
		}
		return nil
	}
	c.identifyAt = time.Now()
	c.identify()
	return nil
}

// identify asks NickServ to log in. The answer comes as 900 (logged in)
// or as a NOTICE; neither is waited for: sending works without a login.
func (c *conn) identify() {
	cfg := c.s.cfg
	if strings.Contains(string(cfg.Password), " ") {
		c.s.log.Warn("the password holds a space, which NickServ IDENTIFY cannot carry: not identified")
		return
	}
	_ = c.write("PRIVMSG " + cfg.Services + " :IDENTIFY " + cfg.Account + " " + string(cfg.Password))
}

// authenticate answers "AUTHENTICATE +" with the PLAIN response, in
// 400-byte pieces as SASL over IRC requires.
func (c *conn) authenticate(send func(string) error) error {
	cfg := c.s.cfg
	_, ir, err := sasl.NewPlainClient("", cfg.Account, string(cfg.Password)).Start()
	if err != nil {
		return fmt.Errorf("SASL PLAIN: %w", err)
	}
	enc := base64.StdEncoding.EncodeToString(ir)
	for len(enc) >= 400 {
		if err := send("AUTHENTICATE " + enc[:400]); err != nil {
			return err
		}
		enc = enc[400:]
	}
	if enc == "" {
		enc = "+"
	}
	return send("AUTHENTICATE " + enc)
}

// capOffered reports whether name is in a CAP LS list (with or without a
// value).
func capOffered(caps []string, name string) bool {
	for _, cp := range caps {
		if n, _, _ := strings.Cut(cp, "="); strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// saslPlainOffered reads "sasl" or "sasl=PLAIN,EXTERNAL" in a CAP LS list.
func saslPlainOffered(caps []string) bool {
	for _, cp := range caps {
		name, mechs, hasMechs := strings.Cut(cp, "=")
		if !strings.EqualFold(name, "sasl") {
			continue
		}
		if !hasMechs || mechs == "" {
			return true
		}
		for m := range strings.SplitSeq(mechs, ",") {
			if strings.EqualFold(m, "PLAIN") {
				return true
			}
		}
	}
	return false
}

// setMask keeps user@host from nick!user@host.
func (c *conn) setMask(mask string) {
	if _, uh, ok := strings.Cut(mask, "!"); ok && strings.Contains(uh, "@") {
		c.userHost = uh
	}
}

// readLoop handles what the server sends until the connection ends.
func (c *conn) readLoop() {
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.fail(fmt.Errorf("reading from IRC server %s: %w", c.s.cfg.Addr(), err))
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.mu.Lock()
		c.keepaliveAt = time.Time{}
		c.mu.Unlock()
		if m, ok := parseMessage(line); ok {
			c.handle(m)
		}
	}
}

// handle reacts to one message after registration.
func (c *conn) handle(m message) {
	cfg := c.s.cfg
	addr := cfg.Addr()
	switch m.Command {
	case "PING":
		_ = c.write("PONG :" + m.Trailing())
	case "PONG":
		if n, ok := strings.CutPrefix(m.Trailing(), "fmn-"); ok {
			if seq, err := strconv.ParseUint(n, 10, 64); err == nil {
				c.confirmed(seq)
			}
		}
	case "401": // ERR_NOSUCHNICK <me> <nick> :No such nick
		nick := m.Param(1)
		err := senders.Permanent(fmt.Errorf("IRC server %s: no such nick %q, the recipient is not online (401 %s)", addr, nick, m.Trailing()))
		if !c.refused(nick, err) && strings.EqualFold(nick, cfg.Services) {
			// Services are down; identify as soon as they ask.
			c.mu.Lock()
			c.identifyAt = time.Time{}
			c.mu.Unlock()
			c.s.log.Warn("services are not online: not identified for now", "services", cfg.Services)
		}
	case "404", "716", "717": // cannot send; recipient accepts only those they allow (+g)
		c.refused(m.Param(1), senders.Permanent(fmt.Errorf("IRC server %s: %q does not accept private messages from fmn (%s %s)", addr, m.Param(1), m.Command, m.Trailing())))
	case "407", "486", "531", "707", "263": // too many targets; needs login; blocked; target change too fast; try again
		c.refused(m.Param(1), fmt.Errorf("IRC server %s refused the message to %q for now (%s %s)", addr, m.Param(1), m.Command, m.Trailing()))
	case "NICK":
		c.mu.Lock()
		mine := rules.FoldIRCNick(m.Nick()) == rules.FoldIRCNick(c.nick)
		if mine {
			c.nick = m.Trailing()
		}
		regained := mine && rules.FoldIRCNick(c.nick) == rules.FoldIRCNick(cfg.Nick)
		c.mu.Unlock()
		if regained {
			c.s.log.Info("regained the nick", "nick", cfg.Nick)
		} else if mine {
			c.s.log.Warn("the server changed fmn's nick", "nick", m.Trailing())
		}
	case "900": // RPL_LOGGEDIN
		c.mu.Lock()
		c.account = m.Param(2)
		c.setMask(m.Param(1))
		c.mu.Unlock()
		c.s.log.Info("logged in to services", "account", m.Param(2))
	case "901": // RPL_LOGGEDOUT
		c.mu.Lock()
		c.account = ""
		c.mu.Unlock()
		c.s.log.Warn("logged out of services")
	case "396": // RPL_HOSTHIDDEN <me> <host> :is now your displayed host
		c.mu.Lock()
		if u, _, ok := strings.Cut(c.userHost, "@"); ok {
			c.userHost = u + "@" + m.Param(1)
		}
		c.mu.Unlock()
	case "NOTICE":
		if strings.EqualFold(m.Nick(), cfg.Services) {
			c.servicesNotice(m.Trailing())
		}
	case "PRIVMSG":
		c.privmsg(m)
	case "ERROR":
		c.fail(fmt.Errorf("IRC server %s closed the connection: %s", addr, m.Trailing()))
	}
}

// servicesNotice follows NickServ: it asks for IDENTIFY when services come
// back after fmn connected, and says when the password is wrong.
func (c *conn) servicesNotice(text string) {
	cfg := c.s.cfg
	lower := strings.ToLower(text)
	if strings.Contains(lower, "password incorrect") || strings.Contains(lower, "invalid password") {
		c.s.log.Error("services refused the password", "account", cfg.Account, "reply", text)
		return
	}
	c.mu.Lock()
	again := c.account == "" && cfg.Password != "" && !cfg.NoNickServ && strings.Contains(lower, "identify") &&
		time.Since(c.identifyAt) > cfg.RegainInterval
	if again {
		c.identifyAt = time.Now()
	}
	c.mu.Unlock()
	if again {
		c.identify()
	}
}

// keepalive pings a silent server, gives up on one that stays silent, and
// takes the nick back when another one is in use.
func (c *conn) keepalive() {
	cfg := c.s.cfg
	tick := time.NewTicker(min(time.Second, cfg.PingInterval/2))
	defer tick.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-tick.C:
		}
		now := time.Now()
		silent := now.Sub(time.Unix(0, c.lastRead.Load()))
		c.mu.Lock()
		var lines []string
		if silent > cfg.PingInterval && c.keepaliveAt.IsZero() {
			c.keepaliveAt = now
			lines = append(lines, "PING :keepalive")
		}
		expired := !c.keepaliveAt.IsZero() && now.Sub(c.keepaliveAt) > cfg.PingTimeout
		if rules.FoldIRCNick(c.nick) != rules.FoldIRCNick(cfg.Nick) {
			if !now.Before(c.regainAt) {
				c.regainAt = now.Add(cfg.RegainInterval)
				if c.account != "" {
					// Anope and Atheme free a registered nick for its owner.
					lines = append(lines, "PRIVMSG "+cfg.Services+" :RECOVER "+cfg.Nick)
					c.nickAgainAt = now.Add(time.Second)
				}
				lines = append(lines, "NICK "+cfg.Nick)
			} else if !c.nickAgainAt.IsZero() && !now.Before(c.nickAgainAt) {
				c.nickAgainAt = time.Time{}
				lines = append(lines, "NICK "+cfg.Nick)
			}
		}
		c.mu.Unlock()
		if expired {
			c.fail(fmt.Errorf("IRC server %s silent for %s", cfg.Addr(), silent.Round(time.Second)))
			return
		}
		for _, l := range lines {
			_ = c.write(l)
		}
	}
}

// inboxSize bounds the private messages waiting for the bot; more are
// dropped.
const inboxSize = 64

// inbound is a private message to fmn's nick.
type inbound struct {
	c       *conn
	nick    string
	account string
	text    string
}

// privmsg hands a private message to fmn's nick to the bot. Messages to
// channels, CTCP requests and messages beyond the inbox are dropped.
func (c *conn) privmsg(m message) {
	if c.s.answer == nil {
		return
	}
	nick, text := m.Nick(), m.Trailing()
	c.mu.Lock()
	me, tagged := c.nick, c.accountTag
	c.mu.Unlock()
	if rules.FoldIRCNick(m.Param(0)) != rules.FoldIRCNick(me) || !validNick(nick) ||
		strings.HasPrefix(text, "\x01") || !strings.Contains(m.Source, "!") {
		return
	}
	in := inbound{c: c, nick: nick, text: text}
	if tagged {
		if a, ok := m.Tag("account"); ok && a != "*" {
			in.account = a
		}
	}
	select {
	case c.s.inbox <- in:
	default:
		c.s.log.Warn("bot: too many private messages waiting, dropping one", "from", nick)
	}
}

// answerTimeout bounds the bot's work on one message.
const answerTimeout = 20 * time.Second

// answerLoop answers private messages one at a time until Close.
func (s *Sender) answerLoop() {
	defer close(s.botDone)
	for {
		var in inbound
		select {
		case <-s.ctx.Done():
			return
		case in = <-s.inbox:
		}
		ctx, cancel := context.WithTimeout(s.ctx, answerTimeout)
		lines := s.answer.Answer(ctx, bot.Message{Protocol: rules.ProtocolIRC, From: in.nick, Account: in.account, Text: in.text})
		for _, l := range lines {
			if err := in.c.notice(ctx, in.nick, l); err != nil {
				s.log.Warn("bot: cannot reply", "to", in.nick, "err", s.scrub(err))
				break
			}
		}
		cancel()
	}
}

// notice writes one reply line to nick, cut to what fits in one line,
// under the flood limit.
func (c *conn) notice(ctx context.Context, nick, text string) error {
	text = cleanText(text)
	if text == "" {
		return nil
	}
	if parts := splitText(text, c.budget(nick)); len(parts) > 0 {
		text = parts[0]
	}
	if err := c.s.lim.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the flood limit: %w", err)
	}
	return c.write("NOTICE " + nick + " :" + text)
}
