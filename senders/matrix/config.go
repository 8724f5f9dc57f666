package matrix

import (
	"errors"
	"fmt"
	"github.com/fmn-project/fmn/senders"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Secret is a string that never prints (see senders.Secret).
type Secret = senders.Secret

// Config is the Matrix sender's configuration: FMN_MATRIX_URL and
// FMN_MATRIX_TOKEN. Build it with NewConfig; the zero value of each field
// means its default.
type Config struct {
	// Homeserver is the base URL of the bot's homeserver, where
	// /_matrix/client/v3 lives (FMN_MATRIX_URL, no default). Plain http is
	// accepted only on loopback, or with the URL parameter
	// insecure_http=true: the access token travels in every request.
	Homeserver *url.URL
	// Token is the bot's access token (FMN_MATRIX_TOKEN, no default).
	Token Secret
	// InsecureHTTP allows http:// to a host that is not loopback
	// (default false). URL parameter insecure_http=true.
	InsecureHTTP bool
	// RequestTimeout bounds each request to the homeserver (default 30s).
	// URL parameter timeout.
	RequestTimeout time.Duration
	// MaxRateLimitWait is how long one Send waits in total for the
	// homeserver's rate limits (M_LIMIT_EXCEEDED) before it gives the
	// notification back for a later retry (default 30s). URL parameter
	// max_rate_limit_wait.
	MaxRateLimitWait time.Duration
	// RoomRecheck is how long a direct room is used before the sender
	// checks again that the bot and the recipient are still in it; a
	// recipient who left gets a new room (default 10m). URL parameter
	// room_recheck.
	RoomRecheck time.Duration
	// BotCatchUp is how old a message sent to the bot may be and still be
	// answered when the bot catches up on what came while fmn was down
	// (or not listening): older ones are skipped, and logged (default
	// 24h). URL parameter bot_catch_up.
	BotCatchUp time.Duration
}

// NewConfig parses FMN_MATRIX_URL and FMN_MATRIX_TOKEN, applies the
// defaults and validates. The URL may carry the parameters timeout,
// max_rate_limit_wait, room_recheck, bot_catch_up and insecure_http, which are removed
// from Homeserver.
func NewConfig(homeserver, token string) (Config, error) {
	c := Config{Token: Secret(token)}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("FMN_MATRIX_URL: "+format, args...))
	}
	u, err := url.Parse(homeserver)
	switch {
	case homeserver == "":
		bad("must be set, e.g. https://matrix.example.org")
	case err != nil:
		bad("not a URL (https://matrix.example.org)")
	default:
		for k, vs := range u.Query() {
			v := vs[len(vs)-1]
			switch k {
			case "timeout", "max_rate_limit_wait", "room_recheck", "bot_catch_up":
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					bad("parameter %s must be a positive duration such as 30s, got %q", k, v)
				}
				switch k {
				case "timeout":
					c.RequestTimeout = d
				case "max_rate_limit_wait":
					c.MaxRateLimitWait = d
				case "bot_catch_up":
					c.BotCatchUp = d
				default:
					c.RoomRecheck = d
				}
			case "insecure_http":
				b, err := strconv.ParseBool(v)
				if err != nil {
					bad("parameter %s must be true or false, got %q", k, v)
				}
				c.InsecureHTTP = b
			default:
				bad("unknown parameter %q", k)
			}
		}
		u.RawQuery = ""
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		c.Homeserver = u
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	c = c.WithDefaults()
	return c, c.Validate()
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MaxRateLimitWait == 0 {
		c.MaxRateLimitWait = 30 * time.Second
	}
	if c.RoomRecheck == 0 {
		c.RoomRecheck = 10 * time.Minute
	}
	if c.BotCatchUp == 0 {
		c.BotCatchUp = 24 * time.Hour
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
	if u := c.Homeserver; u == nil {
		bad("FMN_MATRIX_URL", "must be set, e.g. https://matrix.example.org")
	} else {
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			bad("FMN_MATRIX_URL", "scheme must be http or https, got %q", u.Scheme)
		case u.Host == "":
			bad("FMN_MATRIX_URL", "URL has no host")
		case u.User != nil:
			bad("FMN_MATRIX_URL", "must not hold credentials; the access token goes in FMN_MATRIX_TOKEN")
		case u.Scheme == "http" && !c.InsecureHTTP && !isLoopback(u.Hostname()):
			bad("FMN_MATRIX_URL", "http:// would send the access token in clear text to %s: use https://, or insecure_http=true for a trusted network", u.Host)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			bad("FMN_MATRIX_URL", "must be the homeserver's base URL, without query or fragment")
		}
	}
	switch tok := string(c.Token); {
	case tok == "":
		bad("FMN_MATRIX_TOKEN", "must be set: the access token of the bot account")
	case strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		bad("FMN_MATRIX_TOKEN", "holds a space or control character")
	}
	if c.RequestTimeout <= 0 {
		bad("FMN_MATRIX_URL", "timeout must be positive, got %s", c.RequestTimeout)
	}
	if c.MaxRateLimitWait < 0 {
		bad("FMN_MATRIX_URL", "max_rate_limit_wait must not be negative, got %s", c.MaxRateLimitWait)
	}
	if c.RoomRecheck <= 0 {
		bad("FMN_MATRIX_URL", "room_recheck must be positive, got %s", c.RoomRecheck)
	}
	if c.BotCatchUp <= 0 {
		bad("FMN_MATRIX_URL", "bot_catch_up must be positive, got %s", c.BotCatchUp)
	}
	return errors.Join(errs...)
}

// String is the homeserver URL with its parameters, for logs. The token
// is not part of it.
func (c Config) String() string {
	if c.Homeserver == nil {
		return ""
	}
	u := *c.Homeserver
	q := url.Values{}
	if c.InsecureHTTP {
		q.Set("insecure_http", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
