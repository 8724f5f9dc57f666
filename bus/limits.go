package bus

import (
	"errors"
	"fmt"
)

// Limits bound what fmn accepts as a bus message. They protect the consumer
// and the streams from absurd input (a 50 MB body, 100,000 headers) that no
// real publisher sends; such a message is dead-lettered instead. The zero
// value of a field means its default.
type Limits struct {
	// MaxBody is the largest body in bytes (default 1 MiB).
	MaxBody int
	// MaxHeaders is the largest number of headers (default 1000).
	MaxHeaders int
	// MaxHeaderName is the longest header name in bytes (default 255, the
	// AMQP limit for a field name).
	MaxHeaderName int
	// MaxHeaderValue is the longest header value in bytes (default 4096).
	MaxHeaderValue int
	// MaxTopic is the longest topic in bytes (default 255, the AMQP limit
	// for a routing key).
	MaxTopic int
	// MaxID is the longest message id in bytes (default 255).
	MaxID int
}

// Default limits.
const (
	DefaultMaxBody        = 1 << 20
	DefaultMaxHeaders     = 1000
	DefaultMaxHeaderName  = 255
	DefaultMaxHeaderValue = 4096
	DefaultMaxTopic       = 255
	DefaultMaxID          = 255
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits { return Limits{}.WithDefaults() }

// WithDefaults returns l with every zero or negative field set to its default.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxBody, DefaultMaxBody)
	def(&l.MaxHeaders, DefaultMaxHeaders)
	def(&l.MaxHeaderName, DefaultMaxHeaderName)
	def(&l.MaxHeaderValue, DefaultMaxHeaderValue)
	def(&l.MaxTopic, DefaultMaxTopic)
	def(&l.MaxID, DefaultMaxID)
	return l
}

// InvalidError says why a bus message cannot be accepted: it is not JSON,
// has no id, is too large, has absurd headers or an unusable topic. The
// consumer dead-letters such a message with Reason in Fmn-Dead-Reason
// instead of retrying it; nothing about it will change on a retry.
type InvalidError struct {
	// Reason is a human-readable explanation, e.g. "no message id
	// (header Nats-Msg-Id)".
	Reason string
}

func (e *InvalidError) Error() string { return "invalid bus message: " + e.Reason }

func invalidf(format string, args ...any) *InvalidError {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// IsInvalid reports whether err is (or wraps) an *InvalidError.
func IsInvalid(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie)
}

// Reason returns the dead-letter reason of err: the Reason of an
// *InvalidError it wraps, else err's text.
func Reason(err error) string {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return err.Error()
}
