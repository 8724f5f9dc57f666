// Package redact keeps passwords and tokens out of logs and error texts:
// one way to show a URL without its secret, and one way to remove secrets
// from a text a library wrote.
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// Mark is what stands in for a secret.
const Mark = "<secret>"

// Unparsable is what stands in for a URL that does not parse: its text
// could hold a secret anywhere.
const Unparsable = "<unparsable URL>"

// URL is raw for logs and messages, with its password shown as <secret>.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Unparsable
	}
	return Of(u)
}

// TokenURL is like URL, and also hides a user part without a password,
// which some schemes (nats://TOKEN@host) use for a token.
func TokenURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Unparsable
	}
	if u.User != nil {
		if _, ok := u.User.Password(); !ok {
			v := *u
			v.User = nil
			return strings.Replace(v.String(), "//", "//"+Mark+"@", 1)
		}
	}
	return Of(u)
}

// Of is u as a string with its password, if any, shown as <secret>
// (url.UserPassword would percent-encode the angle brackets, so the mark
// goes in after formatting).
func Of(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	if _, ok := u.User.Password(); !ok {
		return u.String()
	}
	v := *u
	v.User = url.User(u.User.Username())
	// The escaped user name holds no '@': the first one ends it.
	return strings.Replace(v.String(), "@", ":"+Mark+"@", 1)
}

// URLSecrets are the forms in which raw's password may appear in a text:
// as written, and percent-encoded as libraries quote it. For a URL that
// does not parse, everything between the scheme and the last '@'.
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		at := strings.LastIndexByte(raw, '@')
		if i := strings.Index(raw, "://"); at > 0 && i >= 0 && i+3 < at {
			return []string{raw[i+3 : at]}
		}
		return nil
	}
	if u.User == nil {
		return nil
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return nil
	}
	out := []string{pw, url.QueryEscape(pw), url.PathEscape(pw)}
	if _, enc, ok := strings.Cut(u.User.String(), ":"); ok {
		out = append(out, enc)
	}
	return out
}

// Text is s with every non-empty secret replaced by <secret>, and the
// password of every URL written in s (a driver may quote its connection
// string) too.
func Text(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Mark)
		}
	}
	if !strings.Contains(s, "@") {
		return s
	}
	for _, f := range strings.Fields(s) {
		f = strings.Trim(f, `"'(),:`)
		if u, err := url.Parse(f); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				s = strings.ReplaceAll(s, f, Of(u))
			}
		}
	}
	return s
}

// Error is err with its text redacted as Text does. The result does not
// wrap err, which would let errors.Unwrap reach a secret that its text
// does not show: test what the error is before redacting it.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return errors.New(Text(err.Error(), secrets...))
}
