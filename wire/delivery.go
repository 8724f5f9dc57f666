package wire

import (
	"fmt"
	"time"
)

// DeliveryResult is what became of one delivery attempt.
type DeliveryResult string

// Results of an attempt.
const (
	Sent  DeliveryResult = "sent"  // delivered and acknowledged
	Retry DeliveryResult = "retry" // failed transiently; redelivered after a delay
	Dead  DeliveryResult = "dead"  // stored in the dead letters, never retried
	// Skipped: a redelivery of a notification that an earlier delivery
	// had sent (its ack was lost), acknowledged without sending again.
	// Never stored on EVENTS: the earlier delivery's outcome is the one
	// stored.
	Skipped DeliveryResult = "skipped"
	// Paused: the notification's destination is paused by its user
	// (delivery.Setting.Paused): acknowledged without sending, and counted.
	Paused DeliveryResult = "paused"
	// Held: kept for the destination's digest (stream DIGEST); the digest,
	// once sent, is one Sent event of its own.
	Held DeliveryResult = "held"
)

// DeliveryEvent is the outcome of one delivery attempt as stored on the
// EVENTS stream, subject EventsDeliverySubject(channel), with Nats-Msg-Id
// DeliveryEventID: small, self-contained, enough for the statistics and for
// an operator reading the history of a notification.
type DeliveryEvent struct {
	Channel string         `json:"channel"`
	Result  DeliveryResult `json:"result"`
	// NotificationID, MessageID (the bus message), User, RuleIDs and App
	// come from the notification; they are empty when it could not be
	// decoded.
	NotificationID string  `json:"notification_id,omitempty"`
	MessageID      string  `json:"message_id,omitempty"`
	User           string  `json:"user,omitempty"`
	RuleIDs        []int64 `json:"rule_ids,omitempty"`
	App            string  `json:"app,omitempty"`
	// StreamSeq is the notification's NOTIFY sequence and Delivery the
	// attempt number (1 for the first).
	StreamSeq uint64 `json:"stream_seq"`
	Delivery  uint64 `json:"delivery"`
	Reason    string `json:"reason,omitempty"`
	// RetryInMS is the delay before the next attempt (retry only).
	RetryInMS  int64   `json:"retry_in_ms,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// Digest is the number of held notifications (stream DIGEST) the event
	// is about: those a digest delivered, or 1 for a held notification
	// dropped because its destination was paused meanwhile; 0 for a
	// notification from NOTIFY. A digest's NotificationID is the digest's
	// id; StreamSeq and DigestLastSeq are the DIGEST sequences of the
	// first and last notification.
	Digest        int    `json:"digest,omitempty"`
	DigestLastSeq uint64 `json:"digest_last_seq,omitempty"`
	// Time is when the attempt ended.
	Time time.Time `json:"time"`
}

// DeliveryEventID is the Nats-Msg-Id of the event of one attempt: the same
// attempt reported twice is stored once.
func DeliveryEventID(e DeliveryEvent) string {
	if e.Digest > 0 {
		return fmt.Sprintf("delivery:%s:digest:%d:%d:%d", e.Channel, e.StreamSeq, e.DigestLastSeq, e.Delivery)
	}
	return fmt.Sprintf("delivery:%s:%d:%d", e.Channel, e.StreamSeq, e.Delivery)
}
