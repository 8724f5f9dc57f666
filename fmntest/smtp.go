package fmntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message an SMTPServer accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
	User string // authenticated user, "" without AUTH
	Mech string // SASL mechanism of that AUTH
	TLS  bool   // received over TLS (STARTTLS or implicit)
}

// SMTPOptions change what StartSMTPWith serves; the zero value is
// StartSMTP's server.
type SMTPOptions struct {
	Mechs        []string     // AUTH mechanisms offered; default PLAIN and LOGIN
	NoTLS        bool         // no STARTTLS
	Implicit     bool         // TLS from the first byte (smtps) instead of STARTTLS
	InsecureAuth bool         // offer AUTH without TLS too
	Listener     net.Listener // serve on this instead of a new loopback port
	// DataDelay makes the server take this long to accept each message,
	// as a busy relay does (see MaxConcurrentData).
	DataDelay time.Duration
}

// SMTPServer is a real SMTP server (go-smtp) on loopback for tests. By
// default it offers STARTTLS with a self-signed certificate and AUTH
// PLAIN and LOGIN only over TLS, and requires AUTH when User is set. It
// records every accepted message, login and connection.
//
// A failed login is answered with the user name and password it got, as
// some broken relays do, so tests can check that clients scrub them.
type SMTPServer struct {
	User, Pass string
	// Reject, when set, refuses a recipient with the returned error. Set it
	// before the first connection; RejectRcpt can change refusals later.
	Reject func(rcpt string) *smtp.SMTPError
	// CertPool trusts the server's certificate.
	CertPool *x509.CertPool
	TLS      *tls.Config

	opts SMTPOptions
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	done     chan struct{} // closed when srv.Serve returns
	conns    []net.Conn    // open connections, for DropConnections
	accepted int
	sessions int
	mails    []Mail
	auths    []string // mechanism of each successful AUTH
	badAuths int
	rejects  map[string]*smtp.SMTPError
	inData   int // messages being accepted now
	maxData  int // the most at once
}

// StartSMTP starts the server on a random loopback port, with AUTH PLAIN
// and LOGIN (mechs overrides) for user/pass.
func StartSMTP(t testing.TB, user, pass string, mechs ...string) *SMTPServer {
	t.Helper()
	return StartSMTPWith(t, user, pass, SMTPOptions{Mechs: mechs})
}

// StartSMTPWith starts the server as o says. With user "" it takes mail
// without AUTH and refuses every login.
func StartSMTPWith(t testing.TB, user, pass string, o SMTPOptions) *SMTPServer {
	t.Helper()
	if len(o.Mechs) == 0 {
		o.Mechs = []string{sasl.Plain, sasl.Login}
	}
	cert, err := smtpCert()
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{
		User: user, Pass: pass, CertPool: SMTPCertPool(), opts: o,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		rejects: map[string]*smtp.SMTPError{},
	}
	l := o.Listener
	if l == nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

// CAFile writes the server's certificate as PEM into a temporary file and
// returns its path (for FMN_SMTP_URL's ca_file parameter).
func (s *SMTPServer) CAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smtp-ca.pem")
	cert := s.TLS.Certificates[0].Leaf
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Addr is host:port.
func (s *SMTPServer) Addr() string { return s.addr }

// URL is an FMN_SMTP_URL with the server's credentials.
func (s *SMTPServer) URL() string {
	return (&url.URL{Scheme: "smtp", User: url.UserPassword(s.User, s.Pass), Host: s.addr}).String()
}

func (s *SMTPServer) serve(l net.Listener) {
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = s.opts.InsecureAuth
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l = &smtpListener{Listener: l, s: s}
	switch {
	case s.opts.Implicit:
		l = tls.NewListener(l, s.TLS)
	case !s.opts.NoTLS:
		srv.TLSConfig = s.TLS
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.ln, s.done = srv, l, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
}

// Stop closes the listener and every connection and waits for the server
// to end; Start brings it back on the same address.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, l, done := s.srv, s.ln, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	_ = l.Close() // in case Serve has not registered it yet
	s.DropConnections()
	<-done
}

// Start listens again on the original address after Stop.
func (s *SMTPServer) Start(t testing.TB) {
	t.Helper()
	var l net.Listener
	var err error
	for range 100 {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.serve(l)
}

// RejectRcpt makes the server refuse rcpt with e; nil accepts it again.
// It is checked before Reject.
func (s *SMTPServer) RejectRcpt(rcpt string, e *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e == nil {
		delete(s.rejects, rcpt)
	} else {
		s.rejects[rcpt] = e
	}
}

// Mails returns a copy of what was accepted so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// Sessions counts SMTP sessions: go-smtp starts a new one after STARTTLS,
// so a connection with STARTTLS counts twice.
func (s *SMTPServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// MaxConcurrentData is the most messages the server was accepting at
// once (DATA received, reply not yet sent): how parallel its clients are.
func (s *SMTPServer) MaxConcurrentData() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxData
}

// Connections counts accepted TCP connections.
func (s *SMTPServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Auths returns the mechanism of each successful AUTH and the number of
// failed ones.
func (s *SMTPServer) Auths() (ok []string, bad int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auths), s.badAuths
}

// DropConnections closes every open connection, as relays do with idle
// clients; the server keeps listening.
func (s *SMTPServer) DropConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// smtpListener counts and keeps the connections it accepts.
type smtpListener struct {
	net.Listener
	s *SMTPServer
}

func (l *smtpListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.accepted++
		l.s.conns = append(l.s.conns, c)
		l.s.mu.Unlock()
	}
	return c, err
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &smtpSession{s: s, c: c}, nil
}

type smtpSession struct {
	s          *SMTPServer
	c          *smtp.Conn
	user, mech string // after a successful AUTH
	m          Mail
}

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

func (ss *smtpSession) AuthMechanisms() []string { return ss.s.opts.Mechs }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	if !slices.Contains(ss.s.opts.Mechs, mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	check := func(user, pass string) error { return ss.login(mech, user, pass) }
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return errors.New("identity differs from user name")
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *smtpSession) login(mech, user, pass string) error {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.User == "" || user != s.User || pass != s.Pass {
		s.badAuths++
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
			Message: "Authentication credentials invalid for " + user + "/" + pass}
	}
	s.auths = append(s.auths, mech)
	ss.user, ss.mech = user, mech
	return nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.User != "" && ss.user == "" {
		return errAuthRequired
	}
	ss.m = Mail{From: from}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	err := ss.s.rejects[to]
	ss.s.mu.Unlock()
	if err == nil && ss.s.Reject != nil {
		err = ss.s.Reject(to)
	}
	if err != nil {
		return err
	}
	ss.m.To = append(ss.m.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	ss.s.mu.Lock()
	ss.s.inData++
	ss.s.maxData = max(ss.s.maxData, ss.s.inData)
	ss.s.mu.Unlock()
	defer func() {
		ss.s.mu.Lock()
		ss.s.inData--
		ss.s.mu.Unlock()
	}()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if d := ss.s.opts.DataDelay; d > 0 {
		time.Sleep(d)
	}
	m := ss.m
	m.Data, m.User, m.Mech = b, ss.user, ss.mech
	_, m.TLS = ss.c.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.m = Mail{} }
func (ss *smtpSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks: ask
// for the user name unless the initial response carries it, then for the
// password.
type loginServer struct {
	check func(user, pass string) error
	step  int // 0 start, 1 want user name, 2 want password, 3 done
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if len(resp) == 0 {
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// SMTPCertPool returns a new pool that trusts the certificate of every
// SMTPServer: they share one.
func SMTPCertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	if cert, err := smtpCert(); err == nil {
		pool.AddCert(cert.Leaf)
	}
	return pool
}

// smtpCert is a self-signed certificate for 127.0.0.1 and localhost,
// made once per test binary.
var smtpCert = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "fmntest SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
})
