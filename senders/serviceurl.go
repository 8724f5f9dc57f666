package senders

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ServiceURL is what every sender's URL setting shares:
// scheme://user:pass@host:port?param=value…
type ServiceURL struct {
	Scheme, Host, User string
	// Port is 0 when the URL names none.
	Port     int
	Password Secret
	// Params holds the last value of each query parameter.
	Params map[string]string
}

// ParseServiceURL reads raw, the value of setting (such as FMN_SMTP_URL).
// example is the form shown when raw is no URL at all; userinfo ("user:pass",
// "nick:pass") is shown when it has a path. Errors never repeat the
// password. The port is checked by Params' caller through Errs.
func ParseServiceURL(setting, raw, example, userinfo string, schemes ...string) (ServiceURL, *Errs, error) {
	var s ServiceURL
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the whole URL, password included.
		return s, nil, fmt.Errorf("%s: not a URL (%s)", setting, example)
	}
	known := false
	for _, sc := range schemes {
		known = known || u.Scheme == sc
	}
	if !known {
		return s, nil, fmt.Errorf("%s: scheme must be %s, got %q", setting, strings.Join(schemes, " or "), u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return s, nil, fmt.Errorf("%s: must be %s://%s@host:port, without a path", setting, u.Scheme, userinfo)
	}
	e := &Errs{setting: setting}
	s.Scheme, s.Host = u.Scheme, u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			e.Add(fmt.Errorf("port %q is not a number", p))
		}
		s.Port = n
	}
	if u.User != nil {
		s.User = u.User.Username()
		pw, _ := u.User.Password()
		s.Password = Secret(pw)
	}
	s.Params = map[string]string{}
	for k, vs := range u.Query() {
		s.Params[k] = vs[len(vs)-1]
	}
	return s, e, nil
}

// Errs collects the problems of one setting, each prefixed with its name.
type Errs struct {
	setting string
	errs    []error
}

// Add records err.
func (e *Errs) Add(err error) { e.errs = append(e.errs, fmt.Errorf("%s: %w", e.setting, err)) }

// Bad records that parameter k has value v where want was expected.
func (e *Errs) Bad(k, v, want string) {
	e.Add(fmt.Errorf("parameter %s must be %s, got %q", k, want, v))
}

// Unknown records a parameter no sender knows.
func (e *Errs) Unknown(k string) { e.Add(fmt.Errorf("unknown parameter %q", k)) }

// Bool parses a true/false parameter.
func (e *Errs) Bool(k, v string) bool {
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Bad(k, v, "true or false")
	}
	return b
}

// Duration parses a positive duration parameter.
func (e *Errs) Duration(k, v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.Bad(k, v, "a positive duration such as 30s")
	}
	return d
}

// CAFile reads the PEM certificates of a ca_file parameter.
func (e *Errs) CAFile(path string) *x509.CertPool {
	pem, err := os.ReadFile(path)
	if err != nil {
		e.Add(fmt.Errorf("ca_file: %w", err))
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		e.Add(fmt.Errorf("ca_file %s holds no PEM certificate", path))
	}
	return pool
}

// Err is every recorded problem, or nil.
func (e *Errs) Err() error { return errors.Join(e.errs...) }
