package consumer

import (
	"time"

	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// publishStall is how long a notification publish waits for room when
// InFlight publishes await their PubAck. The nats.go default (200ms) turns
// a short server hiccup into ErrTooManyStalledMsgs, and so into a Nak, a
// redelivery and the message matched twice; waiting is the backpressure
// the pipeline wants. It matches the publish timeout.
var publishStall = jetstream.WithStallWait(15 * time.Second)

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
