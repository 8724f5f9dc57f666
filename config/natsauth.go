package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/fmn-project/fmn/internal/redact"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// NATSAuth is how fmn authenticates to the NATS server of FMN_NATS_URL and
// secures the connection. Every role and command uses it wherever it
// connects. At most one way to authenticate may be set; the TLS settings
// combine with any of them. The zero value connects anonymously, without
// TLS unless the URL's scheme is tls://.
type NATSAuth struct {
	// CredsFile is a .creds file (a user JWT and its nkey seed, as nsc
	// writes them): FMN_NATS_CREDS. Read again at every (re)connection.
	CredsFile string
	// NKeyFile holds a user nkey seed (SU…): FMN_NATS_NKEY.
	NKeyFile string
	// User and Password: FMN_NATS_USER and FMN_NATS_PASSWORD (or
	// FMN_NATS_PASSWORD_FILE). user:pass in FMN_NATS_URL works too.
	User, Password string
	// TLSCA is a PEM file of the CAs that verify the server
	// (FMN_NATS_TLS_CA; default the system's). Setting any TLS file
	// requires TLS.
	TLSCA string
	// TLSCert and TLSKey are PEM files of the client certificate and its
	// key (FMN_NATS_TLS_CERT, FMN_NATS_TLS_KEY), for servers that verify
	// clients (tls { verify: true }). Read again at every (re)connection,
	// so that renewed certificates are picked up.
	TLSCert, TLSKey string
	// InboxPrefix replaces nats.go's _INBOX as the prefix of the subjects
	// replies come back on (FMN_NATS_INBOX_PREFIX; default empty: _INBOX).
	// With a prefix of its own, a user may be allowed to subscribe to its
	// replies only (_INBOX.api.>) and not read every other role's.
	InboxPrefix string
}

// natsAuth defines the NATS authentication settings with str.
func natsAuth(str func(name, env, usage string, secret bool, p *string), a *NATSAuth) {
	str("nats-creds", "FMN_NATS_CREDS", "NATS credentials file (user JWT and nkey seed, from nsc)", false, &a.CredsFile)
	str("nats-nkey", "FMN_NATS_NKEY", "file holding the NATS user's nkey seed (SU...)", false, &a.NKeyFile)
	str("nats-user", "FMN_NATS_USER", "NATS user name (with FMN_NATS_PASSWORD)", false, &a.User)
	str("nats-password", "FMN_NATS_PASSWORD", "NATS user's password", true, &a.Password)
	str("nats-tls-ca", "FMN_NATS_TLS_CA", "PEM file of the CAs that verify the NATS server (default: the system's); implies TLS", false, &a.TLSCA)
	str("nats-tls-cert", "FMN_NATS_TLS_CERT", "PEM file of fmn's client certificate for NATS (with FMN_NATS_TLS_KEY)", false, &a.TLSCert)
	str("nats-tls-key", "FMN_NATS_TLS_KEY", "PEM file of the key of FMN_NATS_TLS_CERT", false, &a.TLSKey)
	str("nats-inbox-prefix", "FMN_NATS_INBOX_PREFIX", "prefix of the subjects NATS replies come back on (default _INBOX; e.g. _INBOX.api, for a user allowed to subscribe to _INBOX.api.> only)", false, &a.InboxPrefix)
}

// NATSURLs splits FMN_NATS_URL, which may list several servers of a
// cluster separated by commas, as nats.go does.
func NATSURLs(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// RedactNATSURL is FMN_NATS_URL for logs and messages: every URL of the
// list without its password or token.
func RedactNATSURL(v string) string {
	urls := NATSURLs(v)
	for i, raw := range urls {
		// nats://TOKEN@host: a user part without a password is a token.
		urls[i] = redact.TokenURL(raw)
	}
	return strings.Join(urls, ",")
}

// validateNATS checks FMN_NATS_URL and the NATS authentication and TLS
// settings, reporting each problem through bad. Files are read, so that a
// missing or malformed one fails at start; nothing of their content
// appears in a message.
func (c *Config) validateNATS(bad func(env, format string, a ...any)) {
	var userInURL []string
	for _, raw := range NATSURLs(c.NATSURL) {
		u, err := url.Parse(raw)
		if err != nil {
			bad("FMN_NATS_URL", "%q is not a URL", RedactNATSURL(raw))
			continue
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			bad("FMN_NATS_URL", "scheme must be one of nats, tls, ws, wss, got %q", u.Scheme)
			continue
		}
		if u.Host == "" {
			bad("FMN_NATS_URL", "URL has no host")
		}
		if u.User != nil {
			userInURL = append(userInURL, "FMN_NATS_URL")
		}
	}
	a := c.NATSAuth
	if p := a.InboxPrefix; p != "" {
		if strings.ContainsAny(p, "*> \t\r\n") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
			bad("FMN_NATS_INBOX_PREFIX", "must be a subject without wildcards, spaces or a trailing dot, e.g. _INBOX.api; got %q", p)
		}
	}
	if c.NATSURL == "" {
		// The embedded server of development has no authentication and no
		// TLS: settings for it would be silently ignored.
		for _, s := range a.set() {
			bad(s, "applies to the NATS server of FMN_NATS_URL, which is empty (the embedded server has no authentication or TLS)")
		}
		return
	}
	methods := a.methods()
	if len(userInURL) > 0 {
		methods = append([]string{"FMN_NATS_URL (user in the URL)"}, methods...)
	}
	if len(methods) > 1 {
		bad(methods[0], "set one way to authenticate to NATS, got %s", strings.Join(methods, " and "))
	}
	if a.User != "" && a.Password == "" {
		bad("FMN_NATS_PASSWORD", "must be set when FMN_NATS_USER is")
	}
	if a.Password != "" && a.User == "" {
		bad("FMN_NATS_USER", "must be set when FMN_NATS_PASSWORD is")
	}
	if a.CredsFile != "" {
		if err := checkCreds(a.CredsFile); err != nil {
			bad("FMN_NATS_CREDS", "%v", err)
		}
	}
	if a.NKeyFile != "" {
		if _, err := nkeyPublic(a.NKeyFile); err != nil {
			bad("FMN_NATS_NKEY", "%v", err)
		}
	}
	if a.TLSCert != "" && a.TLSKey == "" {
		bad("FMN_NATS_TLS_KEY", "must be set when FMN_NATS_TLS_CERT is")
	}
	if a.TLSKey != "" && a.TLSCert == "" {
		bad("FMN_NATS_TLS_CERT", "must be set when FMN_NATS_TLS_KEY is")
	}
	if a.TLSCA != "" {
		if _, err := loadCAs(a.TLSCA); err != nil {
			bad("FMN_NATS_TLS_CA", "%v", err)
		}
	}
	if a.TLSCert != "" && a.TLSKey != "" {
		if _, err := loadClientCert(a.TLSCert, a.TLSKey, time.Now()); err != nil {
			bad("FMN_NATS_TLS_CERT", "%v", err)
		}
	}
}

// set names the settings that are set.
func (a NATSAuth) set() []string {
	var out []string
	for _, s := range []struct{ env, v string }{
		{"FMN_NATS_CREDS", a.CredsFile}, {"FMN_NATS_NKEY", a.NKeyFile},
		{"FMN_NATS_USER", a.User}, {"FMN_NATS_PASSWORD", a.Password},
		{"FMN_NATS_TLS_CA", a.TLSCA}, {"FMN_NATS_TLS_CERT", a.TLSCert}, {"FMN_NATS_TLS_KEY", a.TLSKey},
	} {
		if s.v != "" {
			out = append(out, s.env)
		}
	}
	return out
}

// methods names the ways to authenticate that are set.
func (a NATSAuth) methods() []string {
	var out []string
	if a.CredsFile != "" {
		out = append(out, "FMN_NATS_CREDS")
	}
	if a.NKeyFile != "" {
		out = append(out, "FMN_NATS_NKEY")
	}
	if a.User != "" || a.Password != "" {
		out = append(out, "FMN_NATS_USER")
	}
	return out
}

// TLS reports whether the TLS settings ask for TLS.
func (a NATSAuth) TLS() bool { return a.TLSCA != "" || a.TLSCert != "" }

// Describe says how fmn authenticates to NATS, for logs and error
// messages: the settings used and public information only (a user name,
// an nkey's public key), never a secret.
func (a NATSAuth) Describe() string {
	var parts []string
	switch {
	case a.CredsFile != "":
		parts = append(parts, "credentials FMN_NATS_CREDS="+a.CredsFile)
	case a.NKeyFile != "":
		pub, err := nkeyPublic(a.NKeyFile)
		if err != nil {
			pub = "?"
		}
		parts = append(parts, "nkey "+pub+" (FMN_NATS_NKEY="+a.NKeyFile+")")
	case a.User != "":
		parts = append(parts, "user "+a.User+" (FMN_NATS_USER)")
	}
	if a.TLS() {
		t := "TLS"
		if a.TLSCA != "" {
			t += ", CA FMN_NATS_TLS_CA=" + a.TLSCA
		}
		if a.TLSCert != "" {
			t += ", client certificate FMN_NATS_TLS_CERT=" + a.TLSCert
		}
		parts = append(parts, t)
	}
	if a.CredsFile == "" && a.NKeyFile == "" && a.User == "" {
		parts = append([]string{"no credentials"}, parts...)
	}
	return strings.Join(parts, "; ")
}

// DescribeNATS is Describe, saying so when the credentials are in
// FMN_NATS_URL (user:pass@ or a token), for messages about a connection to
// FMN_NATS_URL. No secret appears.
func (c Config) DescribeNATS() string {
	d := c.NATSAuth.Describe()
	for _, raw := range NATSURLs(c.NATSURL) {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				d = strings.Replace(d, "no credentials", "user "+u.User.Username()+" (in FMN_NATS_URL)", 1)
			} else {
				d = strings.Replace(d, "no credentials", "token (in FMN_NATS_URL)", 1)
			}
			break
		}
	}
	return d
}

// NATSOptions are the nats.go options of the NATS authentication and TLS
// settings, for every connection fmn makes to FMN_NATS_URL. The
// credentials file, the client certificate and the CAs are read again at
// every (re)connection, so that renewed ones are used without a restart.
// Errors name the setting.
func (a NATSAuth) NATSOptions() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case a.CredsFile != "":
		if err := checkCreds(a.CredsFile); err != nil {
			return nil, fmt.Errorf("FMN_NATS_CREDS: %w", err)
		}
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	case a.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			// nats.go's message names the file, not the seed.
			return nil, fmt.Errorf("FMN_NATS_NKEY: %w", err)
		}
		opts = append(opts, o)
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(a.InboxPrefix))
	}
	if a.TLS() {
		var certCB nats.TLSCertHandler
		var rootCB nats.RootCAsHandler
		if a.TLSCert != "" {
			certCB = func() (tls.Certificate, error) {
				c, err := loadClientCert(a.TLSCert, a.TLSKey, time.Now())
				if err != nil {
					return tls.Certificate{}, fmt.Errorf("FMN_NATS_TLS_CERT: %w", err)
				}
				return c, nil
			}
		}
		if a.TLSCA != "" {
			rootCB = func() (*x509.CertPool, error) {
				p, err := loadCAs(a.TLSCA)
				if err != nil {
					return nil, fmt.Errorf("FMN_NATS_TLS_CA: %w", err)
				}
				return p, nil
			}
		}
		opts = append(opts, nats.ClientTLSConfig(certCB, rootCB))
	}
	return opts, nil
}

// checkCreds makes sure path is a credentials file nats.go can use: a
// user JWT and a user nkey seed.
func checkCreds(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileErr(path, err)
	}
	defer clear(data)
	tok, err := jwt.ParseDecoratedJWT(data)
	if err == nil {
		_, err = jwt.DecodeUserClaims(tok)
	}
	if err != nil {
		return fmt.Errorf("%s holds no user JWT (want a .creds file as nsc writes it)", path)
	}
	kp, err := jwt.ParseDecoratedUserNKey(data)
	if err != nil {
		return fmt.Errorf("%s holds no user nkey seed (want a .creds file as nsc writes it)", path)
	}
	kp.Wipe()
	return nil
}

// nkeyPublic reads the user seed in path and returns its public key.
func nkeyPublic(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fileErr(path, err)
	}
	defer clear(data)
	kp, err := nkeys.ParseDecoratedNKey(data)
	if err != nil {
		return "", fmt.Errorf("%s holds no nkey seed (want a user seed, SU..., as nk -gen user writes it)", path)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("%s holds an nkey seed that is not a user's (want SU..., as nk -gen user writes it)", path)
	}
	return pub, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fileErr(path, err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}

// loadClientCert loads the certificate and its key, refusing a pair that
// does not match and a certificate that is not valid at now.
func loadClientCert(certFile, keyFile string, now time.Time) (tls.Certificate, error) {
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Stat(f); err != nil {
			return tls.Certificate{}, fileErr(f, err)
		}
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// crypto/tls's messages describe the PEM blocks, never the key.
		return tls.Certificate{}, fmt.Errorf("%s with key %s: %v", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %v", certFile, err)
	}
	if now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("%s expired on %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return tls.Certificate{}, fmt.Errorf("%s is not valid before %s", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	c.Leaf = leaf
	return c, nil
}

func fileErr(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s cannot be read (permission denied)", path)
	}
	return fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
}
