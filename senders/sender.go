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

// unavailableError marks a failure of the peer itself (the mail relay is
// down, refuses every session, or fails authentication), not of one
// notification: the circuit breaker of Run counts these.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as the peer being unavailable for every
// notification, not only this one: connection refused, TLS or
// authentication failing, a "421 service not available". Such failures
// stay transient (retried with backoff); enough of them in a row open the
// circuit breaker of Run, which then stops fetching and probes the peer
// instead of failing one notification after another. Unavailable(nil) is
// nil; a permanent error stays permanent and is not marked.
func Unavailable(err error) error {
	if err == nil || IsPermanent(err) || IsUnavailable(err) {
		return err
	}
	return &unavailableError{err: err}
}

// IsUnavailable reports whether err, or an error it wraps, was marked with
// Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}

// Prober is a Sender that can check its peer without a notification: the
// circuit breaker of Run uses it to probe a peer it considers down (see
// Breaker). Probe returns nil when the peer would accept a notification
// now (for SMTP: connected, TLS and AUTH done); it may keep the connection
// it made for the next Send.
type Prober interface {
	Probe(ctx context.Context) error
}
