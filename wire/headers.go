package wire

// Header names (contract). Headers starting with NatsHeaderPrefix steer
// JetStream; those starting with FmnHeaderPrefix are fmn's own. Neither may
// come from outside: a bus message carrying them is refused.
const (
	NatsHeaderPrefix = "Nats-"
	FmnHeaderPrefix  = "Fmn-"

	// HeaderMsgID is JetStream's deduplication id: a bus message's id, a
	// notification's id, a dead letter's or an event's own id.
	HeaderMsgID = "Nats-Msg-Id"
)

// Headers of a dead letter (DLQ), whoever wrote it: the consumer (dlq.bus)
// or a sender (dlq.notify.<channel>).
const (
	// HeaderReason says why the message was given up.
	HeaderReason = "Fmn-Dead-Reason"
	// HeaderSource is the subject the message was dead-lettered from
	// (bus.<topic> or notify.<channel>), HeaderSourceSq its sequence there.
	HeaderSource   = "Fmn-Source-Subject"
	HeaderSourceSq = "Fmn-Source-Sequence"
	// HeaderSourceMsgID is the Nats-Msg-Id of the original (the bus
	// message's id, or the notification id). The dead letter has its own
	// Nats-Msg-Id, so that a resent message that fails again is recorded
	// again; fmn dlq retry republishes under this one.
	HeaderSourceMsgID = "Fmn-Source-Msg-Id"
	// HeaderDeliveries is how many times a notification had been
	// delivered to its sender when it was given up.
	HeaderDeliveries = "Fmn-Deliveries"
)

// Headers of a delivery the AMQP bridge dead-letters, besides
// HeaderReason.
const (
	HeaderAMQPSource      = "Fmn-Source"       // "amqp"
	HeaderAMQPTopic       = "Fmn-Topic"        // the routing key
	HeaderAMQPMessageID   = "Fmn-Message-Id"   // the AMQP message_id, if any
	HeaderAMQPHeaders     = "Fmn-Amqp-Headers" // the AMQP headers as JSON, if they fit
	HeaderAMQPTruncated   = "Fmn-Truncated"    // original body size when the body was cut
	HeaderAMQPContentType = "Fmn-Content-Type" // the AMQP content_type
)

// HeaderEvent is the type of a rule event on RULES (also in its body).
const HeaderEvent = "Fmn-Event"

// Headers of a notification published again by an operator's run (fmn
// replay … --resend, fmn replay notify, fmn dlq retry): HeaderResendRun
// names the run, HeaderResendBy who ran it and HeaderResendOf what was
// resent ("<stream>:<sequence>"). The statistics do not count a resent
// notification as generated twice.
const (
	HeaderResendRun = "Fmn-Resend-Run"
	HeaderResendBy  = "Fmn-Resend-By"
	HeaderResendOf  = "Fmn-Resend-Of"
)
