// Package senders delivers the notifications of the NOTIFY stream. Each
// channel (email, irc, matrix) implements Sender in its own package; Run is
// the one delivery loop they all share: a durable consumer per channel,
// retries with backoff for transient failures, dead letters for the rest.
package senders

import (
	"context"
	"errors"

	"github.com/fmn-project/fmn/notification"
)

// Sender delivers notifications of one channel.
//
// Send reports whether a failure is worth retrying: an error wrapped with
// Permanent (a bad address, a 5xx rejection) is dead-lettered at once, any
// other error is retried with backoff. Send must not put secrets in its
// errors: they become dead-letter reasons and log lines. Run calls Send from
// Options.Workers goroutines at once, so a Sender used with more than one
// worker must be safe for concurrent use.
type Sender interface {
	// Channel is the channel name, the last token of notify.<channel>.
	Channel() string
	// Send delivers one notification. It returns when the recipient's
	// side has accepted it, or with the reason it did not.
	Send(ctx context.Context, n *notification.Notification) error
	// Close releases connections; Send is not called afterwards.
	Close() error
}

// permanentError marks a failure that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent. Everything else is transient.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
