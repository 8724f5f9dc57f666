package email_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// relay is a real SMTP server (go-smtp) on loopback that records what it
// receives: STARTTLS with a certificate made for the test, AUTH only over
// TLS, PLAIN and LOGIN.
type relay struct {
	srv  *smtp.Server
	ln   *countingListener
	addr string

	user, pass string
	mechs      []string

	mu       sync.Mutex
	mails    []mailIn
	auths    []string // mechanism of each successful AUTH
	badAuths int
	rejects  map[string]*smtp.SMTPError // by recipient
}

// mailIn is one message as the relay got it.
type mailIn struct {
	from string
	to   []string
	data []byte
	tls  bool
	auth string
}

type relayOptions struct {
	noTLS    bool     // no STARTTLS
	implicit bool     // TLS from the first byte (smtps)
	mechs    []string // default PLAIN and LOGIN
	// insecureAuth lets the relay offer AUTH without TLS, to check that
	// the client refuses anyway.
	insecureAuth bool
	// ln serves on this listener instead of a new one.
	ln net.Listener
}

// testCert is one self-signed certificate for 127.0.0.1 and localhost,
// and a pool that trusts it.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fmn test relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})

func startRelay(t *testing.T, user, pass string, o relayOptions) *relay {
	t.Helper()
	r := &relay{user: user, pass: pass, mechs: o.mechs, rejects: map[string]*smtp.SMTPError{}}
	if r.mechs == nil {
		r.mechs = []string{sasl.Plain, sasl.Login}
	}
	r.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{r: r, c: c}, nil
	}))
	r.srv.Domain = "relay.test"
	r.srv.AllowInsecureAuth = o.insecureAuth
	r.srv.ReadTimeout = 10 * time.Second
	r.srv.WriteTimeout = 10 * time.Second
	r.srv.ErrorLog = log.New(io.Discard, "", 0)
	cert, _ := testCert()
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !o.noTLS && !o.implicit {
		r.srv.TLSConfig = tlsCfg
	}
	ln := o.ln
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
	}
	r.addr = ln.Addr().String()
	r.ln = &countingListener{Listener: ln}
	var serve net.Listener = r.ln
	if o.implicit {
		serve = tls.NewListener(r.ln, tlsCfg)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.srv.Serve(serve)
	}()
	t.Cleanup(func() {
		r.srv.Close()
		<-done
	})
	return r
}

// reject makes the relay refuse a recipient.
func (r *relay) reject(rcpt string, e *smtp.SMTPError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejects[rcpt] = e
}

func (r *relay) Mails() []mailIn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.mails)
}

func (r *relay) Auths() (ok []string, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.auths), r.badAuths
}

// Connections is how many TCP connections the relay accepted.
func (r *relay) Connections() int64 { return r.ln.accepted.Load() }

// DropConnections closes every connection the relay accepted, as a relay
// does with idle clients.
func (r *relay) DropConnections() { r.ln.closeAll() }

func (r *relay) check(user, pass string) error {
	if user == r.user && pass == r.pass && r.user != "" {
		return nil
	}
	r.mu.Lock()
	r.badAuths++
	r.mu.Unlock()
	// Echo the password as some broken relays do, to prove the client
	// scrubs it from its errors.
	return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid for " + user + "/" + pass}
}

type session struct {
	r      *relay
	c      *smtp.Conn
	authed string
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return s.r.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	done := func(user, pass string) error {
		if err := s.r.check(user, pass); err != nil {
			return err
		}
		s.authed = mech
		s.r.mu.Lock()
		s.r.auths = append(s.r.auths, mech)
		s.r.mu.Unlock()
		return nil
	}
	if !slices.Contains(s.r.mechs, mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return errors.New("identity differs from user name")
			}
			return done(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{done: done}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.r.user != "" && s.authed == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	e := s.r.rejects[to]
	s.r.mu.Unlock()
	if e != nil {
		return e
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.r.mu.Lock()
	s.r.mails = append(s.r.mails, mailIn{from: s.from, to: s.to, data: data, tls: isTLS, auth: s.authed})
	s.r.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks: ask
// for the user name (unless it came as the initial response), then the
// password.
type loginServer struct {
	done func(user, pass string) error
	step int
	user string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch {
	case l.step == 1 && len(resp) > 0:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	case l.step == 1:
		return []byte("Username:"), false, nil
	case l.step == 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case l.step == 3:
		return nil, true, l.done(l.user, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// countingListener counts accepted connections and can drop them all.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *countingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}
