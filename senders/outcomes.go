package senders

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/wire"
)

// EventOf is o as the event stored on EVENTS, for an attempt that ended at
// the given time.
func EventOf(o Outcome, at time.Time) wire.DeliveryEvent {
	e := wire.DeliveryEvent{
		Channel: o.Channel, Result: o.Result, StreamSeq: o.StreamSeq, Delivery: o.Delivery,
		Reason: o.Reason, RetryInMS: o.RetryIn.Milliseconds(),
		DurationMS: float64(o.Duration.Microseconds()) / 1000, Time: at.UTC(),
		Digest: o.Digest, DigestLastSeq: o.DigestLastSeq,
	}
	if n := o.Notification; n != nil {
		e.NotificationID, e.MessageID, e.User, e.RuleIDs, e.App = n.ID, n.MessageID, n.User, n.RuleIDs, n.App
	}
	return e
}

// OutcomePublisher stores outcomes as wire.DeliveryEvents on EVENTS
// (subject events.delivery.<channel>). Its Store is an
// Options.StoreOutcome.
type OutcomePublisher struct {
	js  jetstream.JetStream
	now func() time.Time
}

// MaxPendingOutcomes bounds the outcome events in flight per publisher.
const MaxPendingOutcomes = 4096

// NewOutcomePublisher publishes through its own JetStream context on nc;
// log receives a line for every event whose store fails after it was
// handed over (nil: slog.Default).
func NewOutcomePublisher(nc *nats.Conn, log *slog.Logger) (*OutcomePublisher, error) {
	if log == nil {
		log = slog.Default()
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(MaxPendingOutcomes),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			log.Warn("delivery outcome event not stored; statistics will miss it", "subject", m.Subject,
				"id", m.Header.Get(wire.HeaderMsgID), "err", err)
		}))
	if err != nil {
		return nil, err
	}
	return &OutcomePublisher{js: js, now: time.Now}, nil
}

// Store publishes o and waits until EVENTS has it: an Options.StoreOutcome.
// Publishes of concurrent callers are pipelined.
func (p *OutcomePublisher) Store(ctx context.Context, o Outcome) error {
	m, err := p.message(o)
	if err != nil {
		return fmt.Errorf("encode delivery outcome event: %w", err)
	}
	f, err := p.js.PublishMsgAsync(m)
	if err != nil {
		return fmt.Errorf("publish delivery outcome event %s: %w", m.Header.Get(wire.HeaderMsgID), err)
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return fmt.Errorf("store delivery outcome event %s: %w", m.Header.Get(wire.HeaderMsgID), err)
	case <-ctx.Done():
		return fmt.Errorf("store delivery outcome event %s: %w", m.Header.Get(wire.HeaderMsgID), ctx.Err())
	}
}

// message is o's event as a NATS message with its Nats-Msg-Id.
func (p *OutcomePublisher) message(o Outcome) (*nats.Msg, error) {
	e := EventOf(o, p.now())
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(wire.EventsDeliverySubject(o.Channel))
	m.Header.Set(wire.HeaderMsgID, wire.DeliveryEventID(e))
	m.Data = data
	return m, nil
}

// Done is closed when every event published so far is acknowledged (or
// failed), for a clean shutdown.
func (p *OutcomePublisher) Done() <-chan struct{} { return p.js.PublishAsyncComplete() }
