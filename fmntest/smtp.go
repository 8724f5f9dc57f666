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
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
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
	User string // the authenticated user
}

// SMTPServer is a real SMTP server on loopback for tests: STARTTLS with a
// self-signed certificate, AUTH PLAIN and LOGIN only after STARTTLS, and a
// record of every accepted message.
type SMTPServer struct {
	User, Pass string
	// Reject, when set, refuses a recipient with the returned error.
	Reject func(rcpt string) *smtp.SMTPError
	// CertPool trusts the server's certificate.
	CertPool *x509.CertPool
	TLS      *tls.Config

	mu       sync.Mutex
	addr     string
	srv      *smtp.Server
	mails    []Mail
	sessions int
	mechs    []string
}

// StartSMTP starts the server on a random loopback port, with AUTH PLAIN
// and LOGIN (mechs overrides) for user/pass.
func StartSMTP(t testing.TB, user, pass string, mechs ...string) *SMTPServer {
	t.Helper()
	if len(mechs) == 0 {
		mechs = []string{sasl.Plain, sasl.Login}
	}
	cert, pool := selfSigned(t)
	s := &SMTPServer{User: user, Pass: pass, CertPool: pool, mechs: mechs,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
	srv.TLSConfig = s.TLS
	srv.AllowInsecureAuth = false
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Stop closes the server; Start brings it back on the same address.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
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

// Mails returns a copy of what was accepted so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Sessions counts SMTP connections.
func (s *SMTPServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &smtpSession{s: s}, nil
}

type smtpSession struct {
	s    *SMTPServer
	user string
	m    Mail
}

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
var errBadCredentials = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

func (ss *smtpSession) AuthMechanisms() []string { return ss.s.mechs }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != ss.s.User || pass != ss.s.Pass {
			return errBadCredentials
		}
		ss.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.user == "" {
		return errAuthRequired
	}
	ss.m = Mail{From: from, User: ss.user}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.Reject != nil {
		if err := ss.s.Reject(to); err != nil {
			return err
		}
	}
	ss.m.To = append(ss.m.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.m.Data = b
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, ss.m)
	ss.s.mu.Unlock()
	ss.m = Mail{From: ss.m.From, User: ss.user}
	return nil
}

func (ss *smtpSession) Reset()        { ss.m = Mail{User: ss.user} }
func (ss *smtpSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (go-sasl ships only the
// client): ask for the username, then the password.
type loginServer struct {
	check      func(user, pass string) error
	step       int
	user       string
	authorized bool
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 { // initial response carries the username
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		if err := l.check(l.user, string(response)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	return nil, true, errors.New("unexpected LOGIN step")
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool
}
