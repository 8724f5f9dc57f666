package fmnmsg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/replay"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Publisher turns the rule events of RULES into FMN's messages on the
// AMQP bus. Events are handled one at a time in stream order; an event is
// acknowledged after the broker confirmed its message, or at once when it
// is not a rule change (user.created, an imported rule, event types other
// than the rule's). While the broker is unreachable the publisher holds
// the event, keeps it in progress on NATS and tries again with backoff:
// nothing is skipped and the order is kept. Only a crash of the process
// can lead to a message published twice (same id) or, for events fetched
// together, in another order.
type Publisher struct {
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	secrets []string
	history replay.History

	mu   sync.Mutex
	conn *amqp.Connection
	ch   *amqp.Channel
	// lastErr is the last failure to publish, nil once one succeeds;
	// holding the sequence of the event held since heldSince.
	lastErr   error
	holding   uint64
	heldSince time.Time

	published, skipped, failures atomic.Int64
}

// Stats counts what the publisher did since it started.
type Stats struct {
	// Published are messages the broker confirmed, Skipped events that are
	// not rule changes (acknowledged without a message), Failures failed
	// attempts to publish.
	Published, Skipped, Failures int64
}

// New returns a publisher of the events of cfg.Stream read through js.
func New(js jetstream.JetStream, cfg Config, log *slog.Logger) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, js: js, log: log.With("component", "amqp-publisher"),
		secrets: redact.URLSecrets(cfg.URL), history: replay.History{JS: js, Stream: cfg.Stream}}, nil
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	return Stats{Published: p.published.Load(), Skipped: p.skipped.Load(), Failures: p.failures.Load()}
}

// Durable is the publisher's consumer on its stream.
func (p *Publisher) Durable() string { return p.cfg.Durable }

// Status says whether the publisher can publish: nil while it is
// connected or has nothing to publish; an error naming the event it holds
// and why while the broker is unreachable.
func (p *Publisher) Status() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr != nil {
		return "", fmt.Errorf("holding RULES event %d for %s: %w", p.holding, time.Since(p.heldSince).Round(time.Second), p.lastErr)
	}
	if p.ch != nil {
		return "publishing to " + redact.URL(p.cfg.URL) + " exchange " + p.cfg.Exchange, nil
	}
	return "not connected: nothing to publish", nil
}

// Run publishes until ctx ends, then returns nil. It connects to the
// broker first: credentials it refuses then are a configuration error,
// returned at once; a broker that cannot be reached is tried again when
// there is something to publish. Later, every failure is retried. It
// also returns an error when the durable consumer cannot be set up.
func (p *Publisher) Run(ctx context.Context) error {
	defer p.disconnect()
	if _, err := p.channel(); errors.Is(err, errRefused) {
		return err
	} else if err != nil {
		p.log.Warn("the AMQP bus cannot be reached yet; rule messages wait for it", "broker", redact.URL(p.cfg.URL), "err", err)
	}
	cons, err := streams.EnsureConsumer(ctx, p.js, p.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       p.cfg.Durable,
		Description:   "fmn: FMN's rule messages to the AMQP bus",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		MaxAckPending: p.cfg.Batch,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}, p.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.log.Info("publishing FMN's rule messages", "broker", redact.URL(p.cfg.URL), "exchange", p.cfg.Exchange,
		"topic_prefix", p.cfg.TopicPrefix, "stream", p.cfg.Stream, "durable", p.cfg.Durable)
	fetchFailures := 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(p.cfg.Batch, jetstream.FetchMaxWait(time.Second))
		if err == nil {
			var msgs []jetstream.Msg
			for m := range batch.Messages() {
				msgs = append(msgs, m)
			}
			for i, m := range msgs {
				if err := p.handle(ctx, m, msgs[i:]); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
			err = batch.Error()
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			fetchFailures++
			wait := streams.Backoff{Min: p.cfg.ReconnectMin, Max: p.cfg.ReconnectMax}.Delay(fetchFailures)
			p.log.Warn("fetching rule events failed; retrying", "stream", p.cfg.Stream, "err", err, "retry_in", wait.Round(time.Millisecond))
			streams.Sleep(ctx, wait)
			continue
		}
		fetchFailures = 0
	}
	return nil
}

// handle publishes the message of event m, if it has one, then
// acknowledges m. held are the fetched events not acknowledged yet (m
// first), kept in progress while m waits for the broker.
func (p *Publisher) handle(ctx context.Context, m jetstream.Msg, held []jetstream.Msg) error {
	md, err := m.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to acknowledge.
		p.log.Error("skip a message without JetStream metadata", "subject", m.Subject(), "err", err)
		return nil
	}
	seq := md.Sequence.Stream
	var msg *Message
	for attempt := 1; ; attempt++ {
		var why string
		msg, why, err = p.build(ctx, m, md)
		if err == nil {
			if msg == nil {
				p.skipped.Add(1)
				p.log.Debug("no message for this rule event", "seq", seq, "why", why)
				p.ack(m, seq)
				return nil
			}
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := streams.Backoff{Min: p.cfg.ReconnectMin, Max: p.cfg.ReconnectMax}.Delay(attempt)
		p.log.Warn("reading the rule's history failed; retrying", "seq", seq, "err", err, "retry_in", wait.Round(time.Millisecond))
		if !p.hold(ctx, wait, held) {
			return ctx.Err()
		}
	}
	for attempt := 1; ; attempt++ {
		err := p.publish(ctx, msg)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := streams.Backoff{Min: p.cfg.ReconnectMin, Max: p.cfg.ReconnectMax}.Delay(attempt)
		p.mu.Lock()
		if p.lastErr == nil {
			p.heldSince = time.Now()
		}
		first := p.lastErr == nil
		p.lastErr, p.holding = err, seq
		p.mu.Unlock()
		p.failures.Add(1)
		// One line when publishing starts failing, then one a minute or so.
		if first || attempt%8 == 0 {
			p.log.Warn("publishing to the AMQP bus failed; holding the rule event and retrying", "seq", seq, "id", msg.ID,
				"broker", redact.URL(p.cfg.URL), "attempt", attempt, "err", err, "retry_in", wait.Round(time.Millisecond))
		}
		if !p.hold(ctx, wait, held) {
			return ctx.Err()
		}
	}
	p.mu.Lock()
	if p.lastErr != nil {
		p.log.Info("publishing to the AMQP bus again", "seq", seq, "held_for", time.Since(p.heldSince).Round(time.Millisecond))
	}
	p.lastErr = nil
	p.mu.Unlock()
	p.published.Add(1)
	p.log.Debug("published", "seq", seq, "id", msg.ID, "schema", msg.Schema, "topic", msg.RoutingKey(p.cfg.TopicPrefix))
	p.ack(m, seq)
	return nil
}

func (p *Publisher) ack(m jetstream.Msg, seq uint64) {
	if err := m.Ack(); err != nil {
		// NATS delivers it again; the message id says it is the same.
		p.log.Warn("acknowledging a rule event failed; it will be delivered again", "seq", seq, "err", err)
	}
}

// hold waits d, keeping the held events in progress so that NATS does not
// deliver them again meanwhile; false if ctx ended.
func (p *Publisher) hold(ctx context.Context, d time.Duration, held []jetstream.Msg) bool {
	tick := p.cfg.AckWait / 3
	deadline := time.Now().Add(d)
	for {
		for _, m := range held {
			_ = m.InProgress()
		}
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		if !streams.Sleep(ctx, min(left, tick)) {
			return false
		}
	}
}

// build returns the message of a rule event, or nil and why the event
// has none. Its error is a failure to read the stream, worth retrying.
func (p *Publisher) build(ctx context.Context, m jetstream.Msg, md *jetstream.MsgMetadata) (*Message, string, error) {
	seq := md.Sequence.Stream
	ev, err := rulelog.DecodeEvent(m.Subject(), m.Headers(), m.Data())
	if err != nil {
		// The projector skips it too: a newer writer's event, or one that
		// is not a rule change.
		return nil, err.Error(), nil
	}
	msg := &Message{ID: MessageID(p.cfg.Stream, seq), SentAt: ev.Time}
	if msg.SentAt.IsZero() {
		msg.SentAt = md.Timestamp
	}
	ruleID := ev.RuleID
	switch ev.Type {
	case rulelog.EventRuleCreated:
		if ev.RuleID != 0 {
			// FMN announced the rule when it was made; the import moves it.
			return nil, "an imported rule", nil
		}
		ruleID = int64(seq)
		msg.Schema, msg.Topic = SchemaCreate, TopicCreate
	case rulelog.EventRuleUpdated, rulelog.EventRuleDisabled, rulelog.EventRuleEnabled:
		// FMN publishes an admin's switch as an update, too.
		msg.Schema, msg.Topic = SchemaUpdate, TopicUpdate
	case rulelog.EventRuleDeleted:
		msg.Schema, msg.Topic = SchemaDelete, TopicDelete
	default:
		return nil, ev.Type + " is not a rule change", nil
	}
	st, err := p.stateAt(ctx, ev.User, ruleID, seq)
	if err != nil {
		return nil, "", err
	}
	// FMN's delete message carries the rule as it was.
	r := st.after
	if ev.Type == rulelog.EventRuleDeleted {
		r = st.before
	}
	if r == nil {
		p.log.Warn("no message for a change of a rule the stream does not hold", "seq", seq, "type", ev.Type,
			"user", ev.User, "rule_id", ruleID)
		return nil, "no such rule", nil
	}
	msg.Body, err = Body(*r, User{ID: st.userID, Name: ev.User})
	if err != nil {
		return nil, "", err
	}
	return msg, "", nil
}

// ruleState is a rule before and after one event, and its owner's id.
type ruleState struct {
	userID        *int64
	before, after *rules.Rule
}

// stateAt reads user's history up to the event at seq: the rule ruleID
// before and after it, and the user's id (the sequence of the first event
// that recorded them, as the projection has it). Reading the history,
// rather than keeping state, makes the message of an event the same
// whenever and however often it is published.
func (p *Publisher) stateAt(ctx context.Context, user string, ruleID int64, seq uint64) (ruleState, error) {
	var st ruleState
	err := p.history.Events(ctx, user, 0, time.Time{}, func(e replay.HistoryEntry) error {
		if e.Seq > seq {
			return streams.ErrStopScan
		}
		if st.userID == nil && (e.Event.Type == rulelog.EventRuleCreated || e.Event.Type == rulelog.EventUserCreated) {
			id := int64(e.Seq)
			st.userID = &id
		}
		if e.Seq == seq {
			st.after = e.Rule
			return streams.ErrStopScan
		}
		if e.RuleID == ruleID {
			st.before = e.Rule
		}
		return nil
	})
	return st, err
}

var errRefused = errors.New("the broker refused the credentials")

// publish sends msg and waits for the broker's confirm. Any failure drops
// the connection, so that the next attempt starts on a fresh one.
func (p *Publisher) publish(ctx context.Context, msg *Message) error {
	ch, err := p.channel()
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, p.cfg.ConfirmTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(pctx, p.cfg.Exchange, msg.RoutingKey(p.cfg.TopicPrefix), false, false,
		amqp.Publishing{
			Headers:         amqp.Table(msg.Headers()),
			ContentType:     "application/json",
			ContentEncoding: "utf-8",
			DeliveryMode:    amqp.Persistent,
			MessageId:       msg.ID,
			Body:            msg.Body,
		})
	if err != nil {
		p.disconnect()
		return fmt.Errorf("publish: %w", p.scrub(err))
	}
	ok, err := dc.WaitContext(pctx)
	if err != nil {
		p.disconnect()
		return fmt.Errorf("no confirm from the broker within %s", p.cfg.ConfirmTimeout)
	}
	if !ok {
		p.disconnect()
		return errors.New("the broker did not take the message (nack, or the channel closed)")
	}
	return nil
}

// channel returns the open confirm-mode channel, connecting when there is
// none.
func (p *Publisher) channel() (*amqp.Channel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ch != nil && !p.ch.IsClosed() {
		return p.ch, nil
	}
	p.closeLocked()
	conn, err := amqp.DialConfig(p.cfg.URL, amqp.Config{
		Heartbeat:  10 * time.Second,
		Properties: amqp.Table{"connection_name": "fmn amqp-publisher"},
		Dial:       amqp.DefaultDial(10 * time.Second),
	})
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.AccessRefused {
			return nil, fmt.Errorf("%w at %s: %v", errRefused, redact.URL(p.cfg.URL), p.scrub(err))
		}
		return nil, fmt.Errorf("connect to %s: %w", redact.URL(p.cfg.URL), p.scrub(err))
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err == nil {
		if strings.HasPrefix(p.cfg.Exchange, "amq.") {
			err = ch.ExchangeDeclarePassive(p.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
		} else {
			err = ch.ExchangeDeclare(p.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
		}
		if err != nil {
			err = fmt.Errorf("exchange %s: %w", p.cfg.Exchange, err)
		}
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("set up publishing on %s: %w", redact.URL(p.cfg.URL), p.scrub(err))
	}
	p.conn, p.ch = conn, ch
	p.log.Info("connected to the AMQP bus", "broker", redact.URL(p.cfg.URL), "exchange", p.cfg.Exchange)
	return ch, nil
}

func (p *Publisher) disconnect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
}

func (p *Publisher) closeLocked() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	p.conn, p.ch = nil, nil
}

// scrub removes the broker URL's password from err's text.
func (p *Publisher) scrub(err error) error { return redact.Error(err, p.secrets...) }
