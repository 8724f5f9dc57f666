package email

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/senders"
)

// StartTLS is the STARTTLS policy of a plain smtp:// connection.
type StartTLS string

// STARTTLS policies.
const (
	// StartTLSRequired refuses to send over a connection where STARTTLS is
	// not offered or fails. The default when credentials are set.
	StartTLSRequired StartTLS = "required"
	// StartTLSOpportunistic upgrades when the server offers STARTTLS and
	// goes on in clear text otherwise. The default without credentials.
	StartTLSOpportunistic StartTLS = "opportunistic"
	// StartTLSOff never upgrades.
	StartTLSOff StartTLS = "off"
)

// Secret is a string that never prints (see senders.Secret).
type Secret = senders.Secret

// Config is the email sender's configuration: FMN_SMTP_URL and
// FMN_MAIL_FROM. Build it with NewConfig or ParseURL; the zero value of each
// field means its default.
type Config struct {
	// Host is the mail relay (default localhost).
	Host string
	// Port is the relay's port (default 25, or 465 with ImplicitTLS).
	Port int
	// ImplicitTLS speaks TLS from the first byte (smtps://).
	ImplicitTLS bool
	// StartTLS applies to smtp:// (default required when Username is set,
	// opportunistic otherwise). URL parameter starttls.
	StartTLS StartTLS
	// Username and Password log in with AUTH PLAIN or LOGIN, whichever the
	// server offers (default empty: no AUTH).
	Username string
	Password Secret
	// TLSOptions: insecure_auth (credentials over a connection without
	// TLS, for a relay on loopback), tls_server_name (default Host),
	// insecure_skip_verify, ca_file.
	senders.TLSOptions
	// From is the From of every email (FMN_MAIL_FROM, default fmn@localhost).
	From mail.Address
	// LocalName is the name sent with EHLO (default the host's name).
	// URL parameter helo.
	LocalName string
	// DialTimeout bounds connecting, TLS included (default 10s). URL
	// parameter dial_timeout.
	DialTimeout time.Duration
	// CommandTimeout bounds each command's reply (default 30s). URL
	// parameter timeout.
	CommandTimeout time.Duration
	// SubmissionTimeout bounds the reply to the end of the message
	// (default 2m).
	SubmissionTimeout time.Duration
	// IdleCheck is how long a connection may sit idle before it is checked
	// with NOOP ahead of reuse (default 15s).
	IdleCheck time.Duration
	// PatchTimeout bounds fetching the patch of a dist-git push (default
	// 10s, FMN's); PatchMaxBytes caps its size (default 512 KiB, the rest
	// is left out with a note). URL parameters patch_timeout and
	// patch_max_bytes.
	PatchTimeout  time.Duration
	PatchMaxBytes int
	// MaxIdle is how long a connection may sit idle at all; an older one is
	// closed rather than checked (default 4m: servers drop idle clients
	// after about 5 minutes).
	MaxIdle time.Duration
	// MaxIdleConns is how many connections are kept open between messages
	// (default 4); set it to the number of sender workers, so that each
	// keeps its session.
	MaxIdleConns int
}

// NewConfig parses FMN_SMTP_URL and FMN_MAIL_FROM, applies the defaults
// and validates. An empty smtpURL means smtp://localhost:25, an empty
// mailFrom fmn@localhost.
func NewConfig(smtpURL, mailFrom string) (Config, error) {
	var errs []error
	c, err := ParseURL(smtpURL)
	if err != nil {
		errs = append(errs, err)
	}
	if mailFrom != "" {
		from, err := mail.ParseAddress(mailFrom)
		if err != nil {
			errs = append(errs, fmt.Errorf("FMN_MAIL_FROM: %q is not an email address: %w", mailFrom, err))
		} else {
			c.From = *from
		}
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	c = c.WithDefaults()
	return c, c.Validate()
}

// ParseURL reads an FMN_SMTP_URL: smtp://[user[:pass]@]host[:port] or
// smtps://… with the parameters starttls (required, opportunistic, off),
// insecure_auth, tls_server_name, insecure_skip_verify, ca_file, helo,
// timeout, dial_timeout, patch_timeout and patch_max_bytes. Errors never repeat the password.
func ParseURL(raw string) (Config, error) {
	var c Config
	if raw == "" {
		return c, nil
	}
	u, e, err := senders.ParseServiceURL("FMN_SMTP_URL", raw, "smtp://user:pass@host:port", "user:pass", "smtp", "smtps")
	if err != nil {
		return c, err
	}
	c.ImplicitTLS = u.Scheme == "smtps"
	c.Host, c.Port, c.Username, c.Password = u.Host, u.Port, u.User, u.Password
	for k, v := range u.Params {
		switch k {
		case "starttls":
			switch StartTLS(v) {
			case StartTLSRequired, StartTLSOpportunistic, StartTLSOff:
				c.StartTLS = StartTLS(v)
			default:
				e.Bad(k, v, "required, opportunistic or off")
			}
		case "helo":
			c.LocalName = v
		case "timeout":
			c.CommandTimeout = e.Duration(k, v)
		case "dial_timeout":
			c.DialTimeout = e.Duration(k, v)
		case "patch_timeout":
			c.PatchTimeout = e.Duration(k, v)
		case "patch_max_bytes":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				e.Bad(k, v, "a positive number of bytes")
			}
			c.PatchMaxBytes = n
		default:
			if !c.TLSOptions.Param(e, k, v) {
				e.Unknown(k)
			}
		}
	}
	return c, e.Err()
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Host == "" {
		c.Host = "localhost"
	}
	if c.Port == 0 {
		c.Port = 25
		if c.ImplicitTLS {
			c.Port = 465
		}
	}
	if c.StartTLS == "" {
		c.StartTLS = StartTLSOpportunistic
		if c.Username != "" {
			c.StartTLS = StartTLSRequired
		}
	}
	if c.TLSServerName == "" {
		c.TLSServerName = c.Host
	}
	if c.From.Address == "" {
		c.From.Address = "fmn@localhost"
	}
	if c.LocalName == "" {
		c.LocalName, _ = os.Hostname()
		if c.LocalName == "" || strings.ContainsAny(c.LocalName, " \r\n") {
			c.LocalName = "localhost"
		}
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 30 * time.Second
	}
	if c.SubmissionTimeout == 0 {
		c.SubmissionTimeout = 2 * time.Minute
	}
	if c.IdleCheck == 0 {
		c.IdleCheck = 15 * time.Second
	}
	if c.MaxIdle == 0 {
		c.MaxIdle = 4 * time.Minute
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = 4
	}
	return c
}

// Validate reports what cannot work, naming the setting. Call it on the
// result of WithDefaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf(setting+": "+format, args...))
	}
	if c.Host == "" {
		bad("FMN_SMTP_URL", "host is missing")
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("FMN_SMTP_URL", "port must be 1 to 65535, got %d", c.Port)
	}
	switch c.StartTLS {
	case StartTLSRequired, StartTLSOpportunistic, StartTLSOff:
	default:
		bad("FMN_SMTP_URL", "starttls must be required, opportunistic or off, got %q", c.StartTLS)
	}
	if c.Password != "" && c.Username == "" {
		bad("FMN_SMTP_URL", "a password needs a user name")
	}
	if c.Username != "" && !c.ImplicitTLS && c.StartTLS != StartTLSRequired && !c.InsecureAuth {
		bad("FMN_SMTP_URL", "with credentials, starttls=%s could send the password in clear text: use starttls=required, smtps://, or insecure_auth=true for a trusted relay", c.StartTLS)
	}
	if strings.ContainsAny(c.Username, "\x00\r\n") {
		bad("FMN_SMTP_URL", "user name holds a control character")
	}
	if strings.ContainsAny(c.LocalName, " \t\r\n") {
		bad("FMN_SMTP_URL", "helo must be one host name, got %q", c.LocalName)
	}
	if a := c.From.Address; !strings.Contains(a, "@") || strings.ContainsAny(a, " \t\r\n<>") {
		bad("FMN_MAIL_FROM", "must be an email address, got %q", a)
	}
	for name, d := range map[string]time.Duration{
		"dial_timeout": c.DialTimeout, "timeout": c.CommandTimeout,
		"submission timeout": c.SubmissionTimeout, "idle check": c.IdleCheck, "max idle": c.MaxIdle,
	} {
		if d <= 0 {
			bad("FMN_SMTP_URL", "%s must be positive, got %s", name, d)
		}
	}
	return errors.Join(errs...)
}

// Addr is host:port.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// String is the URL with the password shown as <secret>, for logs.
func (c Config) String() string {
	u := url.URL{Scheme: "smtp", Host: c.Addr()}
	if c.Port == 0 {
		u.Host = c.Host
	}
	if c.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if c.Username != "" {
		u.User = url.User(c.Username)
		if c.Password != "" {
			u.User = url.UserPassword(c.Username, redact.Mark)
		}
	}
	q := url.Values{}
	if c.StartTLS != "" && !c.ImplicitTLS {
		q.Set("starttls", string(c.StartTLS))
	}
	c.TLSOptions.Encode(q, c.Host)
	u.RawQuery = q.Encode()
	return redact.Of(&u)
}
