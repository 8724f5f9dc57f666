package senders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
)

// MaxDeliveriesSubjects are the subjects of the advisories the server sends
// when a consumer gives up on a message after its MaxDeliver; the last two
// tokens are the stream and the consumer.
const MaxDeliveriesSubjects = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"

// AdvisoryConsumer is the durable consumer of the advisory stream that
// CaptureAdvisories shares between every sender process.
const AdvisoryConsumer = "dead-letter-advisories"

// maxDeliverType is the advisory's schema type.
const maxDeliverType = "io.nats.jetstream.advisory.v1.max_deliver"

// AdvisoryOptions tunes CaptureAdvisories. The zero value gives the
// defaults named on each field.
type AdvisoryOptions struct {
	// Stream captures the advisories (default ADVISORIES). It must be the
	// only stream on MaxDeliveriesSubjects.
	Stream string
	// MaxAge is how long captured advisories are kept, for operators
	// (default the DLQ stream's max age).
	MaxAge time.Duration
	// RetryIn is the delay before an advisory whose dead letter could not
	// be stored is tried again (default 5s).
	RetryIn time.Duration
	// OnOutcome, when set, is called with a Dead outcome for every
	// notification dead-lettered from an advisory. It must return quickly.
	OnOutcome func(Outcome)
}

// WithDefaults returns o with every unset field at its default.
func (o AdvisoryOptions) WithDefaults(sc streams.Config) AdvisoryOptions {
	if o.Stream == "" {
		o.Stream = "ADVISORIES"
	}
	if o.MaxAge == 0 {
		o.MaxAge = sc.DLQMaxAge
	}
	if o.RetryIn == 0 {
		o.RetryIn = 5 * time.Second
	}
	return o
}

// AdvisoryStreamConfig is the stream CaptureAdvisories keeps the
// MAX_DELIVERIES advisories in. Advisories are core NATS messages, lost
// when nobody listens; stored, they wait for a worker.
func AdvisoryStreamConfig(sc streams.Config, o AdvisoryOptions) jetstream.StreamConfig {
	o = o.WithDefaults(sc)
	return jetstream.StreamConfig{
		Name:        o.Stream,
		Description: "JetStream MAX_DELIVERIES advisories, turned into dead letters",
		Subjects:    []string{MaxDeliveriesSubjects},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.MaxAge,
		Storage:     sc.Storage,
		Replicas:    sc.Replicas,
	}
}

// maxDeliveriesAdvisory is the part of the server's advisory fmn reads.
type maxDeliveriesAdvisory struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// CaptureAdvisories makes sure that a notification a sender consumer gives
// up on is never dropped silently. Run counts deliveries itself and leaves
// the server's MaxDeliver unlimited, but an operator may set one (nats
// consumer edit), and then the server stops delivering a message with
// nothing but an advisory. CaptureAdvisories stores those advisories in a
// stream and, for each one about a sender consumer on NOTIFY, fetches the
// notification by its stream sequence and publishes it to
// dlq.notify.<channel> with the reason "exhausted N deliveries", as Run
// does with its own dead letters. A notification no longer in NOTIFY is
// still recorded, without its body.
//
// It creates or reconciles the stream (never lowering its replicas unless
// sc.AllowDownscale, see streams.EnsureStream) and the durable consumer
// AdvisoryConsumer, retrying transient failures, then works until ctx is
// cancelled; it returns nil then, or an error when the setup is refused or
// the consumer is gone for good. Any number
// of processes may run it: each advisory goes to one of them, and the
// dead letter's Nats-Msg-Id is the one Run would use, so the DLQ drops a
// second copy.
func CaptureAdvisories(ctx context.Context, js jetstream.JetStream, sc streams.Config, opts AdvisoryOptions, logger *slog.Logger) error {
	opts = opts.WithDefaults(sc)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := streams.EnsureStream(ctx, js, AdvisoryStreamConfig(sc, opts), sc.AllowDownscale, logger); err != nil {
		return fmt.Errorf("advisory stream %s on %s (another stream may already capture these subjects): %w", opts.Stream, MaxDeliveriesSubjects, err)
	}
	cons, err := streams.EnsureConsumer(ctx, js, opts.Stream, jetstream.ConsumerConfig{
		Durable:       AdvisoryConsumer,
		Description:   "dead-letters notifications that a sender consumer gave up on",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
	}, logger)
	if err != nil {
		return fmt.Errorf("advisory stream %s: %w", opts.Stream, err)
	}
	logger = logger.With("stream", opts.Stream, "consumer", AdvisoryConsumer)
	w := &advisoryWorker{js: js, sc: sc, opts: opts, log: logger}
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		switch {
		case err == nil:
			w.handle(ctx, msg)
		case ctx.Err() != nil:
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
		case streams.IsGone(err):
			return fmt.Errorf("advisory consumer %s is gone: %w", AdvisoryConsumer, err)
		default:
			logger.Warn("fetching advisories failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

type advisoryWorker struct {
	js   jetstream.JetStream
	sc   streams.Config
	opts AdvisoryOptions
	log  *slog.Logger
}

// handle dead-letters the notification one advisory is about, then acks it.
func (w *advisoryWorker) handle(ctx context.Context, msg jetstream.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data(), &adv); err != nil || adv.Type != maxDeliverType {
		w.log.Warn("ignoring a message that is not a MAX_DELIVERIES advisory", "subject", msg.Subject(), "type", adv.Type, "err", err)
		_ = msg.Ack()
		return
	}
	channel, ok := strings.CutPrefix(adv.Consumer, ConsumerName(""))
	if adv.Stream != w.sc.Notify || !ok || channel == "" {
		// Another consumer's business (the matcher dead-letters bus
		// messages itself); say so, for the operator who set MaxDeliver.
		w.log.Warn("a consumer gave up on a message", "of_stream", adv.Stream, "of_consumer", adv.Consumer,
			"stream_seq", adv.StreamSeq, "deliveries", adv.Deliveries)
		_ = msg.Ack()
		return
	}
	o := Outcome{Channel: channel, Result: wire.Dead, StreamSeq: adv.StreamSeq, Delivery: adv.Deliveries}
	o.Reason = fmt.Sprintf("exhausted %d deliveries: consumer %s reached its MaxDeliver", adv.Deliveries, adv.Consumer)

	pctx, cancel := settleContext(ctx)
	defer cancel()
	dl := nats.NewMsg(wire.DLQNotifySubject(channel))
	dl.Header.Set(wire.HeaderSource, wire.NotifySubject(channel))
	orig, err := w.getMsg(pctx, adv.StreamSeq)
	switch {
	case err == nil:
		dl.Data = orig.Data
		for k, vs := range orig.Header {
			if !strings.HasPrefix(k, wire.NatsHeaderPrefix) {
				dl.Header[k] = vs
			}
		}
		if id := orig.Header.Get(wire.HeaderMsgID); id != "" {
			dl.Header.Set(wire.HeaderSourceMsgID, id)
		}
		dl.Header.Set(wire.HeaderSource, orig.Subject)
		var n notification.Notification
		if json.Unmarshal(orig.Data, &n) == nil {
			o.Notification = &n
		}
	case errors.Is(err, jetstream.ErrMsgNotFound):
		o.Reason += fmt.Sprintf("; the notification is no longer in stream %s", w.sc.Notify)
	default:
		w.log.Warn("reading a notification a consumer gave up on", "seq", adv.StreamSeq, "err", err)
		_ = msg.NakWithDelay(w.opts.RetryIn)
		return
	}
	o.Reason = cleanReason(o.Reason)
	dl.Header.Set(wire.HeaderReason, o.Reason)
	dl.Header.Set(wire.HeaderSourceSq, strconv.FormatUint(adv.StreamSeq, 10))
	dl.Header.Set(wire.HeaderDeliveries, strconv.FormatUint(adv.Deliveries, 10))
	// The id Run gives its dead letters: one notification, one dead letter.
	id := fmt.Sprintf("%s:%d", adv.Stream, adv.StreamSeq)
	if _, err := w.js.PublishMsg(pctx, dl, jetstream.WithMsgID(id), jetstream.WithExpectStream(w.sc.DLQ)); err != nil {
		w.log.Error("storing a dead letter for an advisory failed", "seq", adv.StreamSeq, "reason", o.Reason, "err", err)
		_ = msg.NakWithDelay(w.opts.RetryIn)
		return
	}
	if err := msg.Ack(); err != nil {
		// Redelivered later; the DLQ drops the duplicate.
		w.log.Warn("ack of an advisory failed", "seq", adv.StreamSeq, "err", err)
	}
	w.log.Error("notification dead-lettered", "id", notificationID(o), "channel", channel, "seq", adv.StreamSeq,
		"delivery", adv.Deliveries, "reason", o.Reason)
	if w.opts.OnOutcome != nil {
		w.opts.OnOutcome(o)
	}
}

// getMsg reads one notification from NOTIFY.
func (w *advisoryWorker) getMsg(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	st, err := w.js.Stream(ctx, w.sc.Notify)
	if err != nil {
		return nil, err
	}
	return st.GetMsg(ctx, seq)
}
