package senders

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Secret is a string that never prints: fmt, slog and encoders all show
// "<secret>". Every sender's passwords and tokens have this type.
type Secret string

func (Secret) String() string                { return "<secret>" }
func (Secret) GoString() string              { return `"<secret>"` }
func (Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte("<secret>")) }
func (Secret) LogValue() slog.Value          { return slog.StringValue("<secret>") }
func (Secret) MarshalText() ([]byte, error)  { return []byte("<secret>"), nil }

// Scrub removes every non-empty form in secrets (a password, its base64
// forms, a token) from err's text: a peer may echo what it was sent. The
// original error does not stay reachable through Unwrap; permanence and
// unavailability are kept.
func Scrub(err error, secrets ...string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	text := err.Error()
	clean := text
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "<secret>")
		}
	}
	if clean == text {
		return err
	}
	switch {
	case IsPermanent(err):
		return Permanent(errors.New(clean))
	case IsUnavailable(err):
		return Unavailable(errors.New(clean))
	}
	return errors.New(clean)
}
