package consumer

import (
	"time"

	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
)

// publishStall is how long a notification publish waits for room when
// InFlight publishes await their PubAck. A short wait (nats.go's default
// is 200ms) would turn a short server hiccup into an error, and so into a
// Nak, a redelivery and the message matched twice; waiting is the
// backpressure the pipeline wants. It matches the publish timeout.
const publishStall = 15 * time.Second

// publishTimeout is how long a publish waits for its PubAck before its
// bus message is redelivered.
const publishTimeout = 15 * time.Second

// The subjects of the usual channels, built once.
var (
	notifyEmail  = wire.NotifySubject(rules.ProtocolEmail)
	notifyIRC    = wire.NotifySubject(rules.ProtocolIRC)
	notifyMatrix = wire.NotifySubject(rules.ProtocolMatrix)
)

// notifySubject is wire.NotifySubjectFor without a concatenation for
// the usual channels. The live feed's subject names the user.
func notifySubject(protocol, user string) string {
	switch protocol {
	case rules.ProtocolEmail:
		return notifyEmail
	case rules.ProtocolIRC:
		return notifyIRC
	case rules.ProtocolMatrix:
		return notifyMatrix
	}
	return wire.NotifySubjectFor(protocol, user)
}
