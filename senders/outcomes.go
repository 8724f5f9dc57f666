package senders

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/streams"
)

// DeliveryEvent is an Outcome as stored on the EVENTS stream, subject
// events.delivery.<channel>: small, self-contained, enough for the
// statistics and for an operator reading the history of a notification.
type DeliveryEvent struct {
	Channel string `json:"channel"`
	Result  Result `json:"result"`
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
	// Time is when the attempt ended.
	Time time.Time `json:"time"`
}

// EventOf converts an outcome that ended at the given time.
func EventOf(o Outcome, at time.Time) DeliveryEvent {
	e := DeliveryEvent{
		Channel: o.Channel, Result: o.Result, StreamSeq: o.StreamSeq, Delivery: o.Delivery,
		Reason: o.Reason, RetryInMS: o.RetryIn.Milliseconds(),
		DurationMS: float64(o.Duration.Microseconds()) / 1000, Time: at.UTC(),
	}
	if n := o.Notification; n != nil {
		e.NotificationID, e.MessageID, e.User, e.RuleIDs, e.App = n.ID, n.MessageID, n.User, n.RuleIDs, n.App
	}
	return e
}

// DeliveryEventID is the Nats-Msg-Id of the event of one attempt: the same
// attempt reported twice is stored once.
func DeliveryEventID(e DeliveryEvent) string {
	return fmt.Sprintf("delivery:%s:%d:%d", e.Channel, e.StreamSeq, e.Delivery)
}

// OutcomePublisher publishes every Outcome it records as a DeliveryEvent
// on EVENTS. Record is an Options.OnOutcome: it never waits for the server
// (publishes are asynchronous, bounded by MaxPending); an event that cannot
// be published is logged and lost, which the statistics then miss — the
// delivery itself is never held up by them.
type OutcomePublisher struct {
	js   jetstream.JetStream
	log  *slog.Logger
	next func(Outcome)
	now  func() time.Time
}

// MaxPendingOutcomes bounds the outcome events in flight per publisher.
const MaxPendingOutcomes = 4096

// NewOutcomePublisher publishes through its own JetStream context on nc.
// next, when set, is called with every outcome after it was handed over
// (to chain another OnOutcome).
func NewOutcomePublisher(nc *nats.Conn, log *slog.Logger, next func(Outcome)) (*OutcomePublisher, error) {
	if log == nil {
		log = slog.Default()
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(MaxPendingOutcomes),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			log.Warn("delivery outcome event not stored; statistics will miss it", "subject", m.Subject,
				"id", m.Header.Get(streams.HeaderMsgID), "err", err)
		}))
	if err != nil {
		return nil, err
	}
	return &OutcomePublisher{js: js, log: log, next: next, now: time.Now}, nil
}

// Record publishes o without waiting, then calls next. It is safe for
// concurrent use.
func (p *OutcomePublisher) Record(o Outcome) {
	defer func() {
		if p.next != nil {
			p.next(o)
		}
	}()
	m, err := p.message(o)
	if err != nil {
		p.log.Warn("delivery outcome event not encoded", "err", err)
		return
	}
	if _, err := p.js.PublishMsgAsync(m); err != nil {
		p.log.Warn("delivery outcome event not published; statistics will miss it", "id", m.Header.Get(streams.HeaderMsgID), "err", err)
	}
}

// Store publishes o and waits until EVENTS has it: an Options.StoreOutcome.
// Publishes of concurrent callers are pipelined. It does not call next.
func (p *OutcomePublisher) Store(ctx context.Context, o Outcome) error {
	m, err := p.message(o)
	if err != nil {
		return fmt.Errorf("encode delivery outcome event: %w", err)
	}
	f, err := p.js.PublishMsgAsync(m)
	if err != nil {
		return fmt.Errorf("publish delivery outcome event %s: %w", m.Header.Get(streams.HeaderMsgID), err)
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return fmt.Errorf("store delivery outcome event %s: %w", m.Header.Get(streams.HeaderMsgID), err)
	case <-ctx.Done():
		return fmt.Errorf("store delivery outcome event %s: %w", m.Header.Get(streams.HeaderMsgID), ctx.Err())
	}
}

// message is o's event as a NATS message with its Nats-Msg-Id.
func (p *OutcomePublisher) message(o Outcome) (*nats.Msg, error) {
	e := EventOf(o, p.now())
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(streams.EventsDeliverySubject(o.Channel))
	m.Header.Set(streams.HeaderMsgID, DeliveryEventID(e))
	m.Data = data
	return m, nil
}

// Done is closed when every event published so far is acknowledged (or
// failed), for a clean shutdown.
func (p *OutcomePublisher) Done() <-chan struct{} { return p.js.PublishAsyncComplete() }
