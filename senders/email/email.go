// Package email sends notifications by SMTP through one mail relay:
// STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, connections reused across
// messages, and SMTP replies classified into permanent and transient
// failures for senders.Run.
package email

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
)

// Channel is the channel of email notifications: notify.email.
const Channel = "email"

// Sender delivers email notifications. It is safe for concurrent use: each
// Send takes an idle connection or opens one, and gives it back after (up
// to Config.MaxIdleConns are kept).
//
// Failures of the relay itself — it cannot be reached, STARTTLS, EHLO or
// AUTH fail, MAIL FROM is refused, the connection breaks, a 421 reply —
// are marked senders.Unavailable, so that the circuit breaker of
// senders.Run opens on them; Probe checks the relay without a message.
type Sender struct {
	cfg     Config
	log     *slog.Logger
	tls     *tls.Config
	secrets []string // forms of the password that must never leak

	// starttls remembers that the relay offered STARTTLS, so that
	// opportunistic mode need not probe before each new connection.
	starttls atomic.Bool

	patches *patchFetcher

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

var (
	_ senders.Sender = (*Sender)(nil)
	_ senders.Prober = (*Sender)(nil)
)

// New returns a sender for cfg (defaults applied, then validated). It does
// not connect: the first Send does.
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Sender{cfg: cfg, tls: cfg.ClientConfig(), log: logger.With("relay", cfg.String()),
		patches: newPatchFetcher(cfg.PatchTimeout, cfg.PatchMaxBytes, nil)}
	if pw := string(cfg.Password); pw != "" {
		b64 := base64.StdEncoding.EncodeToString
		s.secrets = []string{
			pw, b64([]byte(pw)),
			b64([]byte("\x00" + cfg.Username + "\x00" + pw)),
			b64([]byte(cfg.Username + "\x00" + cfg.Username + "\x00" + pw)),
		}
	}
	return s, nil
}

// Channel is "email".
func (s *Sender) Channel() string { return Channel }

// Close says QUIT on the idle connections. Sends still running finish on
// their connection, which is then closed.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range idle {
		c.quit()
	}
	return nil
}

// Send delivers n.Email to n.Address. A rejection of the recipient or of
// the message (5xx) is permanent; 4xx replies, network errors, and
// failures of the relay session itself (TLS, AUTH, MAIL FROM: the same
// for every message, usually configuration) are transient. The error never
// holds the password.
func (s *Sender) Send(ctx context.Context, n *notification.Notification) error {
	return s.scrub(s.send(ctx, n))
}

func (s *Sender) send(ctx context.Context, n *notification.Notification) error {
	if n.Email == nil {
		return senders.Permanent(fmt.Errorf("notification %s has no rendered email", n.ID))
	}
	to, err := recipient(n.Address)
	if err != nil {
		return senders.Permanent(err)
	}
	if u := n.Email.PatchURL; u != "" {
		r := s.patches.get(ctx, u)
		if ctx.Err() != nil {
			return fmt.Errorf("fetching the patch of notification %s interrupted: %w", n.ID, context.Cause(ctx))
		}
		if r.failure != "" {
			s.log.Info("sending without the patch", "id", n.ID, "patch_url", u, "reason", r.failure)
		}
		e := *n.Email
		e.Body = withPatch(e.Body, u, r)
		withBody := *n
		withBody.Email = &e
		n = &withBody
	}
	msg, dropped, err := compose(s.cfg.From, to, n, time.Now())
	if err != nil {
		return senders.Permanent(fmt.Errorf("notification %s: %w", n.ID, err))
	}
	if len(dropped) > 0 {
		s.log.Warn("headers with invalid names dropped", "id", n.ID, "headers", dropped)
	}
	for {
		c, reused, err := s.get(ctx)
		if err != nil {
			return senders.Unavailable(err)
		}
		err = c.transact(ctx, s.cfg.From.Address, to, msg)
		switch {
		case err == nil:
			s.put(c)
			return nil
		case ctx.Err() != nil:
			c.close()
			return fmt.Errorf("sending to mail relay %s interrupted: %w", s.cfg.Addr(), context.Cause(ctx))
		case reused && c.beforeMail:
			// The relay dropped the idle connection before this message
			// started: nothing was sent, so try once more on a new one.
			c.close()
			s.log.Debug("reused connection failed, reconnecting", "err", s.scrub(err))
			continue
		}
		var smtpErr *smtp.SMTPError
		isReply := errors.As(err, &smtpErr)
		if isReply && smtpErr.Code != 421 && c.reset() == nil {
			// The relay refused this message but the session is sound.
			s.put(c)
		} else {
			c.close()
		}
		if !isReply || smtpErr.Code == 421 {
			// The session broke, or the relay is closing it: not this
			// message's fault.
			err = senders.Unavailable(err)
		}
		return err
	}
}

// Probe checks that the relay takes a session now: connected, TLS and
// AUTH as configured (an idle connection that answers NOOP will do). The
// connection is kept for the next Send. senders.Run's circuit breaker
// calls it while the relay is considered down.
func (s *Sender) Probe(ctx context.Context) error {
	c, reused, err := s.get(ctx)
	for err == nil && reused {
		// A connection from before the outage may look fresh: ask it.
		if err = c.noop(ctx); err == nil {
			break
		}
		c.close()
		c, reused, err = s.get(ctx)
	}
	if err != nil {
		return s.scrub(senders.Unavailable(err))
	}
	s.put(c)
	return nil
}

// get returns an idle connection that still works, or a new one.
func (s *Sender) get(ctx context.Context) (c *conn, reused bool, err error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, false, errors.New("email sender is closed")
		}
		if len(s.idle) > 0 {
			c = s.idle[len(s.idle)-1]
			s.idle = s.idle[:len(s.idle)-1]
		}
		s.mu.Unlock()
		if c == nil {
			break
		}
		idle := time.Since(c.lastUsed)
		if idle > s.cfg.MaxIdle {
			c.close()
			c = nil
			continue
		}
		if idle > s.cfg.IdleCheck {
			if err := c.noop(ctx); err != nil {
				s.log.Debug("idle connection failed NOOP, reconnecting", "err", s.scrub(err))
				c.close()
				c = nil
				continue
			}
		}
		return c, true, nil
	}
	c, err = s.dial(ctx)
	return c, false, err
}

// put keeps c for the next message.
func (s *Sender) put(c *conn) {
	c.lastUsed = time.Now()
	s.mu.Lock()
	if !s.closed && len(s.idle) < s.cfg.MaxIdleConns {
		s.idle = append(s.idle, c)
		c = nil
	}
	s.mu.Unlock()
	if c != nil {
		c.quit()
	}
}

// dial opens a session ready for MAIL FROM: connected, TLS as configured,
// logged in.
func (s *Sender) dial(ctx context.Context) (*conn, error) {
	startTLS := false
	switch {
	case s.cfg.ImplicitTLS:
	case s.cfg.StartTLS == StartTLSRequired:
		startTLS = true
	case s.cfg.StartTLS == StartTLSOpportunistic:
		if s.starttls.Load() {
			startTLS = true
			break
		}
		c, err := s.connect(ctx, false)
		if err != nil {
			return nil, err
		}
		if ok, _ := c.c.Extension("STARTTLS"); !ok {
			return s.loggedIn(c)
		}
		// go-smtp upgrades only at the start of a session: start anew.
		c.quit()
		s.starttls.Store(true)
		startTLS = true
	}
	c, err := s.connect(ctx, startTLS)
	if err != nil {
		// Probe again next time: the relay may have changed.
		s.starttls.Store(false)
		return nil, err
	}
	return s.loggedIn(c)
}

func (s *Sender) loggedIn(c *conn) (*conn, error) {
	if err := s.login(c); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// connect dials the relay and greets it, with TLS from the start, after
// STARTTLS, or none.
func (s *Sender) connect(ctx context.Context, useTLS bool) (*conn, error) {
	cfg := s.cfg
	addr := cfg.Addr()
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	d := &net.Dialer{}
	var nc net.Conn
	var err error
	if cfg.ImplicitTLS {
		nc, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to mail relay %s: %w", addr, err)
	}
	// Until the session is set up, the dial deadline bounds it all.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	var c *smtp.Client
	if useTLS && !cfg.ImplicitTLS {
		c, err = smtp.NewClientStartTLS(nc, s.tls)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("STARTTLS with mail relay %s (starttls=%s): %w", addr, cfg.StartTLS, err)
		}
	} else {
		c = smtp.NewClient(nc)
	}
	c.CommandTimeout = cfg.CommandTimeout
	c.SubmissionTimeout = cfg.SubmissionTimeout
	if err := c.Hello(cfg.LocalName); err != nil {
		c.Close()
		return nil, classify(fmt.Sprintf("opening a session with mail relay %s", addr), err, false)
	}
	return &conn{c: c, nc: nc, tls: useTLS || cfg.ImplicitTLS, lastUsed: time.Now()}, nil
}

// login authenticates with the first of PLAIN and LOGIN that the relay
// offers. Credentials only ever go over TLS unless InsecureAuth is set.
func (s *Sender) login(c *conn) error {
	cfg := s.cfg
	if cfg.Username == "" {
		return nil
	}
	if !c.tls && !cfg.InsecureAuth {
		return fmt.Errorf("mail relay %s: refusing to send credentials without TLS (the relay offered no STARTTLS; set insecure_auth=true for a trusted relay)", cfg.Addr())
	}
	ok, offered := c.c.Extension("AUTH")
	if !ok {
		return fmt.Errorf("mail relay %s offers no AUTH, but a user name is configured", cfg.Addr())
	}
	var client sasl.Client
	var mech string
	mechs := strings.Fields(strings.ToUpper(offered))
	switch {
	case slices.Contains(mechs, sasl.Plain):
		client, mech = sasl.NewPlainClient("", cfg.Username, string(cfg.Password)), sasl.Plain
	case slices.Contains(mechs, sasl.Login):
		client, mech = &loginClient{user: cfg.Username, pass: string(cfg.Password)}, sasl.Login
	default:
		return fmt.Errorf("mail relay %s offers AUTH %s; fmn speaks PLAIN and LOGIN", cfg.Addr(), offered)
	}
	if err := c.c.Auth(client); err != nil {
		return classify(fmt.Sprintf("AUTH %s as %q at mail relay %s", mech, cfg.Username, cfg.Addr()), err, false)
	}
	return nil
}

// scrub removes the password, and the encodings it travels in, from err's
// text: a relay may echo what it was sent.
func (s *Sender) scrub(err error) error { return senders.Scrub(err, s.secrets...) }

// classify labels an SMTP failure with what was being done. A 5xx reply is
// permanent when it concerns this message (perMessage); the rest is
// transient.
func classify(doing string, err error, perMessage bool) error {
	var reply *smtp.SMTPError
	if !errors.As(err, &reply) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	err = &replyError{doing: doing, reply: reply}
	if perMessage && reply.Code >= 500 && reply.Code < 600 {
		return senders.Permanent(err)
	}
	return err
}

// replyError is a refusal by the relay: what fmn was doing and the reply,
// as the relay's log would show it ("550 5.1.1 No such user").
type replyError struct {
	doing string
	reply *smtp.SMTPError
}

func (e *replyError) Error() string {
	r := e.reply
	text := strconv.Itoa(r.Code)
	if ec := r.EnhancedCode; ec != smtp.NoEnhancedCode && ec != (smtp.EnhancedCode{}) {
		text += fmt.Sprintf(" %d.%d.%d", ec[0], ec[1], ec[2])
	}
	if r.Message != "" {
		text += " " + strings.Join(strings.Fields(r.Message), " ")
	}
	return e.doing + ": refused with " + text
}

func (e *replyError) Unwrap() error { return e.reply }

// conn is one SMTP session with the relay.
type conn struct {
	c        *smtp.Client
	nc       net.Conn
	tls      bool
	lastUsed time.Time
	// beforeMail is set when the last transaction failed before the relay
	// answered MAIL FROM on a connection problem: nothing was sent.
	beforeMail bool
}

// transact sends one message: MAIL FROM, RCPT TO, DATA.
func (c *conn) transact(ctx context.Context, from, to string, msg []byte) error {
	c.beforeMail = false
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()

	var opts *smtp.MailOptions
	if !isASCII(from) || !isASCII(to) {
		if ok, _ := c.c.Extension("SMTPUTF8"); !ok {
			return senders.Permanent(fmt.Errorf("address %q is not ASCII and the mail relay lacks SMTPUTF8", to))
		}
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.c.Mail(from, opts); err != nil {
		var smtpErr *smtp.SMTPError
		c.beforeMail = !errors.As(err, &smtpErr)
		// The sender is the same for every message: a refusal here is
		// the relay's state, not this message's.
		return senders.Unavailable(classify(fmt.Sprintf("MAIL FROM:<%s>", from), err, false))
	}
	if err := c.c.Rcpt(to, nil); err != nil {
		return classify(fmt.Sprintf("RCPT TO:<%s>", to), err, true)
	}
	w, err := c.c.Data()
	if err != nil {
		return classify("DATA", err, true)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("writing the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return classify("end of message", err, true)
	}
	return nil
}

// noop checks an idle session.
func (c *conn) noop(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()
	return c.c.Noop()
}

// reset ends a refused transaction with RSET, keeping the session.
func (c *conn) reset() error { return c.c.Reset() }

// quit ends the session politely, bounded by the command timeout.
func (c *conn) quit() {
	if err := c.c.Quit(); err != nil {
		c.close()
	}
}

func (c *conn) close() { _ = c.c.Close() }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// loginClient is the LOGIN mechanism. go-sasl's client sends the user name
// as an initial response and insists on the exact challenge "Password:";
// relays differ ("Username:", "User Name", lower case), so this one answers
// by what the challenge asks for, and by order when it cannot tell.
type loginClient struct {
	user, pass string
	step       int
}

func (a *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

func (a *loginClient) Next(challenge []byte) ([]byte, error) {
	a.step++
	ch := strings.ToLower(string(challenge))
	switch {
	case strings.Contains(ch, "user"):
		return []byte(a.user), nil
	case strings.Contains(ch, "pass"):
		return []byte(a.pass), nil
	case a.step == 1:
		return []byte(a.user), nil
	case a.step == 2:
		return []byte(a.pass), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}
