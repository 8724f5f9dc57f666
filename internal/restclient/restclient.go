// Package restclient is how fmn calls the JSON web services it depends on
// (FASJSON, dist-git): one GET at a time, with a timeout per attempt,
// retries with backoff when the service is down, none when it answered
// that the request is wrong, and errors that say which of the two happened
// without ever showing a credential.
package restclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned when the service answered 404: the user, group
// or project does not exist. It is an answer, worth caching.
var ErrNotFound = errors.New("not found")

// ErrUnavailable is returned when the service could not answer: a network
// error, a timeout or a 5xx after every retry. The caller should try again
// later and must not conclude anything from it.
var ErrUnavailable = errors.New("service unavailable")

// StatusError is a 4xx answer other than 404: the request itself is wrong
// (or the credentials are), so retrying would not help.
type StatusError struct {
	Service string
	Status  int
	// Message is the service's own explanation, shortened.
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s answered %d %s", e.Service, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s answered %d %s: %s", e.Service, e.Status, http.StatusText(e.Status), e.Message)
}

// Auth adds credentials to a request. Bearer and Basic are the two fmn
// configures; a Kerberos (SPNEGO) deployment plugs in a Transport instead.
type Auth interface {
	Apply(*http.Request)
}

// Bearer sends "Authorization: Bearer <token>".
type Bearer string

// Apply implements Auth.
func (b Bearer) Apply(r *http.Request) { r.Header.Set("Authorization", "Bearer "+string(b)) }

// String never shows the token.
func (b Bearer) String() string { return "Bearer <secret>" }

// Basic sends HTTP basic credentials.
type Basic struct{ User, Password string }

// Apply implements Auth.
func (b Basic) Apply(r *http.Request) { r.SetBasicAuth(b.User, b.Password) }

// String never shows the password.
func (b Basic) String() string { return "Basic " + b.User + ":<secret>" }

// Config of a Client. Zero fields take the defaults.
type Config struct {
	// Service names the service in errors and logs ("FASJSON").
	Service string
	// BaseURL is where paths are resolved from. Credentials in it
	// (https://user:pass@host) become basic auth and are removed from
	// every URL fmn shows.
	BaseURL string
	// Transport makes the HTTP round trips (default
	// http.DefaultTransport). Plug a SPNEGO transport here for Kerberos.
	Transport http.RoundTripper
	// Auth adds credentials to each request (default none, or Basic from
	// BaseURL). It is applied to the first request only: redirects keep
	// the header to the same host and drop it to others, as net/http does.
	Auth Auth
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Attempts bounds the attempts of one call (default 3).
	Attempts int
	// Backoff is the delay before the second attempt, doubled before each
	// next one, with ±25% jitter (default 200ms).
	Backoff time.Duration
	// MaxBody bounds the size of an answer (default 32 MiB).
	MaxBody int64
	// UserAgent (default "fmn").
	UserAgent string
}

// Client calls one JSON web service. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
}

// New returns a client of the service at cfg.BaseURL.
func New(cfg Config) (*Client, error) {
	if cfg.Service == "" {
		cfg.Service = "web service"
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s: base URL must be http(s)://host[/path]", cfg.Service)
	}
	if u.User != nil {
		if cfg.Auth == nil {
			pw, _ := u.User.Password()
			cfg.Auth = Basic{User: u.User.Username(), Password: pw}
		}
		u.User = nil
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 32 << 20
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "fmn"
	}
	return &Client{cfg: cfg, base: u, http: &http.Client{Transport: cfg.Transport}}, nil
}

// Base is the service's base URL, without credentials.
func (c *Client) Base() string { return c.base.String() }

// Service is the service's name.
func (c *Client) Service() string { return c.cfg.Service }

// URL resolves path (already escaped, starting with "/") and query
// against the base URL.
func (c *Client) URL(path string, query url.Values) *url.URL {
	u := *c.base
	u.RawPath = ""
	u.Path = ""
	raw := c.base.EscapedPath() + path
	if p, err := url.PathUnescape(raw); err == nil {
		u.Path = p
		u.RawPath = raw
	}
	u.RawQuery = query.Encode()
	return &u
}

// GetJSON GETs path with query and decodes the JSON answer into out.
// It returns ErrNotFound for a 404, a *StatusError for another 4xx, and an
// error wrapping ErrUnavailable when no attempt got an answer.
func (c *Client) GetJSON(ctx context.Context, path string, query url.Values, out any) error {
	u := c.URL(path, query)
	var last error
	for attempt := 1; ; attempt++ {
		retry, err := c.try(ctx, u, out)
		if err == nil || !retry {
			return err
		}
		last = err
		if attempt >= c.cfg.Attempts {
			break
		}
		delay := c.backoff(attempt)
		var ra retryAfter
		if errors.As(err, &ra) && ra.d > delay {
			// Honour Retry-After, within reason: the caller is waiting.
			delay = min(ra.d, 10*time.Second)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s GET %s: %w: %w", c.cfg.Service, redacted(u), ErrUnavailable, ctx.Err())
		case <-t.C:
		}
	}
	return fmt.Errorf("%s GET %s: %w after %d attempts: %w", c.cfg.Service, redacted(u), ErrUnavailable, c.cfg.Attempts, last)
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.Backoff << (attempt - 1)
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + jitter
}

// retryAfter carries a 503/429's Retry-After.
type retryAfter struct {
	err error
	d   time.Duration
}

func (r retryAfter) Error() string { return r.err.Error() }
func (r retryAfter) Unwrap() error { return r.err }

// try makes one attempt. retry tells whether another attempt may succeed.
func (c *Client) try(ctx context.Context, u *url.URL, out any) (retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", c.cfg.Service, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if c.cfg.Auth != nil {
		c.cfg.Auth.Apply(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("%s GET %s: %w: %w", c.cfg.Service, redacted(u), ErrUnavailable, ctx.Err())
		}
		return true, fmt.Errorf("%s GET %s: %s", c.cfg.Service, redacted(u), netReason(err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, fmt.Errorf("%s GET %s: %w", c.cfg.Service, redacted(u), ErrNotFound)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		// 429 is a 4xx, but it says "later", not "wrong": it is retried
		// like a 5xx.
		err := fmt.Errorf("%s GET %s: answered %d %s", c.cfg.Service, redacted(u), resp.StatusCode, http.StatusText(resp.StatusCode))
		if s, e := strconv.Atoi(resp.Header.Get("Retry-After")); e == nil && s > 0 {
			return true, retryAfter{err: err, d: time.Duration(s) * time.Second}
		}
		return true, err
	case resp.StatusCode >= 400:
		return false, &StatusError{Service: c.cfg.Service, Status: resp.StatusCode, Message: errorMessage(resp.Body)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return false, fmt.Errorf("%s GET %s: unexpected status %d", c.cfg.Service, redacted(u), resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("%s GET %s: %w: %w", c.cfg.Service, redacted(u), ErrUnavailable, ctx.Err())
		}
		return true, fmt.Errorf("%s GET %s: reading the answer: %s", c.cfg.Service, redacted(u), netReason(err))
	}
	if int64(len(body)) > c.cfg.MaxBody {
		return false, fmt.Errorf("%s GET %s: answer larger than %d bytes", c.cfg.Service, redacted(u), c.cfg.MaxBody)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return false, fmt.Errorf("%s GET %s: answer is not the expected JSON: %w", c.cfg.Service, redacted(u), err)
	}
	return false, nil
}

// errorMessage extracts a short explanation from an error answer: FASJSON
// says {"message": …}, Pagure {"error": …, "error_code": …}.
func errorMessage(r io.Reader) string {
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	m := e.Message
	if m == "" {
		m = e.Error
	}
	if len(m) > 200 {
		m = m[:200] + "…"
	}
	return m
}

// netReason describes a transport error without its URL (net/http puts
// the full URL in *url.Error; ours is already in the message, redacted).
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return err.Error()
}

func redacted(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
