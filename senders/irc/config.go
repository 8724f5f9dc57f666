package irc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/senders"
)

// Secret is a string that never prints (see senders.Secret).
type Secret = senders.Secret

// SASLMode says whether to log in with SASL.
type SASLMode string

// SASL modes.
const (
	// SASLPlain logs in with SASL PLAIN when the server offers it. The
	// default when a password is set.
	SASLPlain SASLMode = "plain"
	// SASLNone never uses SASL (NickServ IDENTIFY may still be used).
	SASLNone SASLMode = "none"
)

// Config is the IRC sender's configuration: FMN_IRC_URL. Build it with
// NewConfig or ParseURL; the zero value of each field means its default.
type Config struct {
	// Host is the IRC server (required).
	Host string
	// Port is the server's port (default 6667, or 6697 with TLS).
	Port int
	// TLS speaks TLS from the first byte (ircs://).
	TLS bool
	// Nick is the nick fmn sends from (required: the URL's user name).
	Nick string
	// AltNick is taken when Nick is in use; fmn then tries to regain Nick
	// (default Nick + "_"). URL parameter alt_nick.
	AltNick string
	// Password logs in to the services account (default empty: no login).
	Password Secret
	// Account is the services account to log in to (default Nick). URL
	// parameter account.
	Account string
	// SASL is how to log in when Password is set (default plain). URL
	// parameter sasl=plain|none.
	SASL SASLMode
	// NoNickServ turns off the fallback to "PRIVMSG NickServ :IDENTIFY
	// account pass" when SASL is off or the server does not offer it
	// (default false: the fallback is on). URL parameter nickserv=false;
	// with sasl=plain&nickserv=false a server without SASL is refused.
	NoNickServ bool
	// User is the user name (ident) sent with USER (default "fmn"). URL
	// parameter user.
	User string
	// RealName is the real name sent with USER (default "fmn
	// notifications"). URL parameter realname.
	RealName string
	// TLSOptions: insecure_auth (the password over a connection without
	// TLS, for a server on loopback), tls_server_name (default Host),
	// insecure_skip_verify, ca_file.
	senders.TLSOptions
	// Rate is the sustained rate of PRIVMSG lines per second, a token
	// bucket that keeps fmn below the server's flood limits (default 1).
	// URL parameter rate.
	Rate float64
	// Burst is how many lines may go at once after a quiet spell (default
	// 5). URL parameter burst.
	Burst int
	// DialTimeout bounds connecting, TLS included (default 10s). URL
	// parameter dial_timeout.
	DialTimeout time.Duration
	// RegisterTimeout bounds the registration: CAP, SASL, NICK, USER up to
	// the welcome (default 30s).
	RegisterTimeout time.Duration
	// ConnectWait is how long Send waits for a connection before it fails
	// with a transient error (default 30s). URL parameter connect_wait.
	ConnectWait time.Duration
	// ConfirmTimeout is how long Send waits for the server to confirm a
	// message; longer means the connection is broken (default 30s). URL
	// parameter timeout.
	ConfirmTimeout time.Duration
	// PingInterval is how long the server may stay silent before fmn
	// checks it with a PING (default 60s).
	PingInterval time.Duration
	// PingTimeout is how long fmn waits for the answer to that PING
	// before it reconnects (default 30s).
	PingTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the delay between connection
	// attempts, which doubles after each failure (default 1s and 1m).
	ReconnectMin, ReconnectMax time.Duration
	// RegainInterval is how often fmn tries to get Nick back while it
	// uses another nick (default 30s).
	RegainInterval time.Duration
	// Services is the nick of the services bot that IDENTIFY and RECOVER
	// go to (default NickServ).
	Services string
}

// NewConfig parses FMN_IRC_URL, applies the defaults and validates.
func NewConfig(ircURL string) (Config, error) {
	if ircURL == "" {
		return Config{}, errors.New("FMN_IRC_URL: not set (ircs://nick:pass@host:port)")
	}
	c, err := ParseURL(ircURL)
	if err != nil {
		return c, err
	}
	c = c.WithDefaults()
	return c, c.Validate()
}

// ParseURL reads an FMN_IRC_URL: irc://nick[:pass]@host[:port] or ircs://…
// with the parameters listed on Config's fields. Errors never repeat the
// password.
func ParseURL(raw string) (Config, error) {
	var c Config
	u, e, err := senders.ParseServiceURL("FMN_IRC_URL", raw, "ircs://nick:pass@host:port", "nick:pass", "irc", "ircs")
	if err != nil {
		return c, err
	}
	c.TLS = u.Scheme == "ircs"
	c.Host, c.Port, c.Nick, c.Password = u.Host, u.Port, u.User, u.Password
	for k, v := range u.Params {
		switch k {
		case "sasl":
			switch SASLMode(v) {
			case SASLPlain, SASLNone:
				c.SASL = SASLMode(v)
			default:
				e.Bad(k, v, "plain or none")
			}
		case "nickserv":
			c.NoNickServ = !e.Bool(k, v)
		case "account":
			c.Account = v
		case "alt_nick":
			c.AltNick = v
		case "user":
			c.User = v
		case "realname":
			c.RealName = v
		case "rate":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				e.Bad(k, v, "a positive number of lines per second")
			}
			c.Rate = f
		case "burst":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				e.Bad(k, v, "a positive number of lines")
			}
			c.Burst = n
		case "dial_timeout":
			c.DialTimeout = e.Duration(k, v)
		case "connect_wait":
			c.ConnectWait = e.Duration(k, v)
		case "timeout":
			c.ConfirmTimeout = e.Duration(k, v)
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
	if c.Port == 0 {
		c.Port = 6667
		if c.TLS {
			c.Port = 6697
		}
	}
	if c.AltNick == "" && c.Nick != "" {
		c.AltNick = c.Nick + "_"
	}
	if c.Account == "" {
		c.Account = c.Nick
	}
	if c.SASL == "" {
		c.SASL = SASLPlain
	}
	if c.User == "" {
		c.User = "fmn"
	}
	if c.RealName == "" {
		c.RealName = "fmn notifications"
	}
	if c.TLSServerName == "" {
		c.TLSServerName = c.Host
	}
	if c.Rate == 0 {
		c.Rate = 1
	}
	if c.Burst == 0 {
		c.Burst = 5
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.RegisterTimeout == 0 {
		c.RegisterTimeout = 30 * time.Second
	}
	if c.ConnectWait == 0 {
		c.ConnectWait = 30 * time.Second
	}
	if c.ConfirmTimeout == 0 {
		c.ConfirmTimeout = 30 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = time.Minute
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 30 * time.Second
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = time.Second
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = time.Minute
	}
	if c.RegainInterval == 0 {
		c.RegainInterval = 30 * time.Second
	}
	if c.Services == "" {
		c.Services = "NickServ"
	}
	return c
}

// Validate reports what cannot work, naming the setting. Call it on the
// result of WithDefaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("FMN_IRC_URL: "+format, args...))
	}
	if c.Host == "" {
		bad("host is missing")
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port must be 1 to 65535, got %d", c.Port)
	}
	if c.Nick == "" {
		bad("the nick is missing: ircs://nick:pass@host:port")
	} else if !validNick(c.Nick) {
		bad("%q is not a valid nick", c.Nick)
	}
	if c.AltNick != "" && !validNick(c.AltNick) {
		bad("alt_nick %q is not a valid nick", c.AltNick)
	}
	if c.AltNick != "" && c.AltNick == c.Nick {
		bad("alt_nick must differ from the nick")
	}
	if strings.ContainsAny(c.Account, " \x00\r\n") {
		bad("account holds a space or a control character")
	}
	if strings.ContainsAny(string(c.Password), "\x00\r\n") {
		bad("the password holds a control character")
	}
	if c.User == "" || strings.ContainsAny(c.User, " @!\x00\r\n") {
		bad("user %q is not a valid user name", c.User)
	}
	if strings.ContainsAny(c.RealName, "\x00\r\n") {
		bad("realname holds a control character")
	}
	switch c.SASL {
	case SASLPlain, SASLNone:
	default:
		bad("sasl must be plain or none, got %q", c.SASL)
	}
	if c.Password != "" && c.SASL == SASLNone && c.NoNickServ {
		bad("a password is set but sasl=none and nickserv=false: it would never be used")
	}
	if c.Password != "" && !c.TLS && !c.InsecureAuth {
		bad("irc:// would send the password in clear text: use ircs://, or insecure_auth=true for a server on loopback")
	}
	if c.Rate <= 0 {
		bad("rate must be positive, got %g", c.Rate)
	}
	if c.Burst < 1 {
		bad("burst must be at least 1, got %d", c.Burst)
	}
	for name, d := range map[string]time.Duration{
		"dial_timeout": c.DialTimeout, "register timeout": c.RegisterTimeout, "connect_wait": c.ConnectWait,
		"timeout": c.ConfirmTimeout, "ping interval": c.PingInterval, "ping timeout": c.PingTimeout,
		"reconnect min": c.ReconnectMin, "reconnect max": c.ReconnectMax, "regain interval": c.RegainInterval,
	} {
		if d <= 0 {
			bad("%s must be positive, got %s", name, d)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		bad("reconnect max (%s) must be at least reconnect min (%s)", c.ReconnectMax, c.ReconnectMin)
	}
	if !validNick(c.Services) {
		bad("services nick %q is not a valid nick", c.Services)
	}
	return errors.Join(errs...)
}

// Addr is host:port.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// String is the URL with the password shown as <secret>, for logs.
func (c Config) String() string {
	u := url.URL{Scheme: "irc", Host: c.Addr()}
	if c.Port == 0 {
		u.Host = c.Host
	}
	if c.TLS {
		u.Scheme = "ircs"
	}
	if c.Nick != "" {
		u.User = url.User(c.Nick)
		if c.Password != "" {
			u.User = url.UserPassword(c.Nick, redact.Mark)
		}
	}
	q := url.Values{}
	if c.Account != "" && c.Account != c.Nick {
		q.Set("account", c.Account)
	}
	if c.Password != "" {
		q.Set("sasl", string(c.SASL))
		q.Set("nickserv", strconv.FormatBool(!c.NoNickServ))
	}
	c.TLSOptions.Encode(q, c.Host)
	u.RawQuery = q.Encode()
	return redact.Of(&u)
}

// validNick accepts what IRC servers accept in a nick: no spaces or
// separators, not starting with a digit, a channel prefix or a dash.
func validNick(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	if strings.ContainsAny(s[:1], "0123456789-#&!+:~$%") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(",*?!@.:", r) || r >= 0x80 {
			return false
		}
	}
	return true
}
