package senders

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/fmn-project/fmn/internal/redact"
)

// Secret is a string that never prints: fmt, slog and encoders all show
// "<secret>". Every sender's passwords and tokens have this type.
type Secret string

func (Secret) String() string                { return redact.Mark }
func (Secret) GoString() string              { return `"` + redact.Mark + `"` }
func (Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redact.Mark)) }
func (Secret) LogValue() slog.Value          { return slog.StringValue(redact.Mark) }
func (Secret) MarshalText() ([]byte, error)  { return []byte(redact.Mark), nil }

// Scrub removes every non-empty form in secrets (a password, its base64
// forms, a token) from err's text: a peer may echo what it was sent. The
// original error does not stay reachable through Unwrap; permanence and
// unavailability are kept.
func Scrub(err error, secrets ...string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	text := err.Error()
	clean := redact.Text(text, secrets...)
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
