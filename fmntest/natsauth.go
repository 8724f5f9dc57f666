package fmntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// NKeyUser makes a NATS user nkey, writes its seed into a file (as
// `nk -gen user` does) and returns the public key (U…, for the server's
// configuration) and the seed file (for FMN_NATS_NKEY).
func NKeyUser(t testing.TB) (public, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return public, seedFile
}

// NATSOperator is a NATS operator with one account, for servers in
// operator (JWT) mode: users get .creds files as nsc writes them.
type NATSOperator struct {
	operator, account nkeys.KeyPair
	// OperatorJWT and AccountJWT go into the server's configuration
	// (ServerConfig).
	OperatorJWT, AccountJWT string
	AccountPublic           string
	systemPublic, systemJWT string
}

// NewNATSOperator makes an operator and an account with JetStream.
func NewNATSOperator(t testing.TB) *NATSOperator {
	t.Helper()
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	// JetStream needs a system account.
	sys, _ := nkeys.CreateAccount()
	sysPub, _ := sys.PublicKey()
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = "SYS"
	sjwt, err := sc.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "fmntest"
	oc.SystemAccount = sysPub
	ojwt, err := oc.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = "FMN"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	return &NATSOperator{operator: op, account: acc, OperatorJWT: ojwt, AccountJWT: ajwt, AccountPublic: accPub,
		systemPublic: sysPub, systemJWT: sjwt}
}

// ServerConfig is the part of a nats-server configuration that trusts the
// operator and preloads the account.
func (o *NATSOperator) ServerConfig() string {
	return "operator: " + o.OperatorJWT + "\nsystem_account: " + o.systemPublic + "\nresolver: MEMORY\nresolver_preload: {\n  " +
		o.AccountPublic + ": " + o.AccountJWT + "\n  " + o.systemPublic + ": " + o.systemJWT + "\n}\n"
}

// Creds writes the .creds file of a new user of the account, allowed to
// publish and subscribe to the given subjects (nil: everything), and
// returns its path (for FMN_NATS_CREDS).
func (o *NATSOperator) Creds(t testing.TB, name string, pub, sub []string) string {
	t.Helper()
	u, _ := nkeys.CreateUser()
	uPub, _ := u.PublicKey()
	uc := jwt.NewUserClaims(uPub)
	uc.Name = name
	uc.IssuerAccount = ""
	uc.Pub.Allow.Add(pub...)
	uc.Sub.Allow.Add(sub...)
	ujwt, err := uc.Encode(o.account)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := u.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TLSFiles are PEM files of a test CA, a server certificate it signed for
// 127.0.0.1 and localhost, and a client certificate it signed.
type TLSFiles struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string

	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// WriteTLSFiles makes a CA and signs a server certificate and a client
// certificate (common name clientCN) with it, into t.TempDir().
func WriteTLSFiles(t testing.TB, clientCN string) *TLSFiles {
	t.Helper()
	f := &TLSFiles{dir: t.TempDir()}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "fmntest NATS CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f.caCert, _ = x509.ParseCertificate(der)
	f.caKey = key
	f.CA = f.write(t, "ca.pem", "CERTIFICATE", der)
	f.ServerCert, f.ServerKey = f.Sign(t, "server", "localhost", x509.ExtKeyUsageServerAuth, time.Now().Add(24*time.Hour))
	f.ClientCert, f.ClientKey = f.Sign(t, "client", clientCN, x509.ExtKeyUsageClientAuth, time.Now().Add(24*time.Hour))
	return f
}

// Sign issues a certificate for 127.0.0.1 and localhost with common name
// cn, valid until notAfter, and writes it and its key as name.pem and
// name-key.pem.
func (f *TLSFiles) Sign(t testing.TB, name, cn string, usage x509.ExtKeyUsage, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.caCert, &key.PublicKey, f.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return f.write(t, name+".pem", "CERTIFICATE", der), f.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func (f *TLSFiles) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
