package senders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
)

// Outcome describes one delivery attempt, for statistics: its Result is
// one of wire's (Sent, Retry, Dead, Skipped, Paused, Held: see
// wire.DeliveryResult), and
// OutcomePublisher stores it on EVENTS as a wire.DeliveryEvent (EventOf).
type Outcome struct {
	Channel string
	Result  wire.DeliveryResult
	// Notification is nil when the message could not be decoded.
	Notification *notification.Notification
	// StreamSeq is the notification's sequence in the NOTIFY stream.
	StreamSeq uint64
	// Delivery is the attempt number, 1 for the first.
	Delivery uint64
	// RetryIn is the delay before the next attempt (Retry only).
	RetryIn time.Duration
	// Reason says why the attempt failed (Retry and Dead). It holds no
	// secrets: it is what the dead letter's Fmn-Dead-Reason says.
	Reason string
	// Duration is the time spent in Sender.Send.
	Duration time.Duration
	// Digest is the number of notifications of a digest (0 for one
	// notification); then Notification is the digest, StreamSeq and
	// DigestLastSeq the DIGEST sequences of its first and last one.
	Digest        int
	DigestLastSeq uint64
}

// DefaultBackOff is the retry schedule when Options.BackOff is empty: with
// the default MaxDeliver it rides out a mail relay outage of about four
// hours before dead-lettering.
var DefaultBackOff = []time.Duration{
	time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute,
	10 * time.Minute, 30 * time.Minute, time.Hour,
}

// Options tunes Run. The zero value gives the defaults named on each field.
type Options struct {
	// MaxDeliver bounds the attempts per notification (default 10). A
	// notification whose last attempt fails transiently is dead-lettered.
	MaxDeliver int
	// BackOff is the delay before attempt n+1 when attempt n failed; its
	// last entry repeats (default DefaultBackOff).
	BackOff []time.Duration
	// AckWait is how long JetStream waits for an outcome before it
	// redelivers (default 30s). Run extends it with InProgress while Send
	// runs, so it only matters when a process dies in the middle of a send.
	AckWait time.Duration
	// MaxAckPending bounds the notifications delivered and not yet
	// settled, across every instance, including those waiting for a retry
	// (default 1000). When it is reached the server delivers nothing new,
	// so it must be well above Workers, or one failing recipient holds up
	// everyone behind it.
	MaxAckPending int
	// Workers is how many Send calls run at once (default 1). Each
	// worker fetches, sends and settles one notification at a time, so
	// at-least-once delivery and the outcome-before-ack order hold per
	// notification; notifications are not sent in stream order.
	Workers int
	// DrainTimeout is how long an in-flight Send may go on after the
	// context of Run is cancelled (default 10s).
	DrainTimeout time.Duration
	// StoreOutcome, when set, stores every attempt's outcome before the
	// notification is settled (acked, naked or terminated), so that a
	// process dying in between leaves the notification to be delivered and
	// reported again rather than an attempt nobody recorded. Run waits for
	// it (10s at most); an error is logged and the settlement goes on.
	StoreOutcome func(context.Context, Outcome) error
	// OnOutcome, when set, is called after every attempt from the worker
	// that made it, once the notification is settled. It must return
	// quickly.
	OnOutcome func(Outcome)
	// SentLog, when set, is told of every sent notification before it is
	// acked, and asked about every redelivery: one that was sent already
	// is acked without sending it again (result Skipped).
	SentLog SentLog
	// Breaker is the circuit breaker on the peer (default: a new one with
	// the default BreakerConfig). Pass one to read its Status.
	Breaker *Breaker
	// Settings, when set, is asked for the delivery setting of each
	// notification's destination before it is sent: a paused destination's
	// notification is acknowledged without sending (result Paused). A
	// lookup that fails is a transient failure: the notification is retried.
	// A destination with a digest has its notification handed to Hold
	// (result Held) and acked once Hold returns; without Hold it is sent
	// at once. Nil: every destination has the defaults.
	Settings delivery.Source
	// Hold keeps a notification of channel, whose NOTIFY message data is
	// data, for its destination's digest, and returns once it is stored
	// (see package digest).
	Hold func(ctx context.Context, channel string, n *notification.Notification, data []byte) error
	// Alongside, when set, runs next to the delivery with the same
	// sender and these options, from when Run has set up its consumer
	// until it returns: the digest flusher (see package digest). It must
	// return when ctx ends; an error it returns is logged.
	Alongside func(ctx context.Context, s Sender, o Options) error
	// LogEvery is how often a failure that goes on is logged again
	// (default 30s): failed attempts, fetch errors and an open circuit
	// each log one line when they start, a reminder with counts at most
	// every LogEvery, and one line when they end.
	LogEvery time.Duration
}

// WithDefaults returns o with every unset field at its default.
func (o Options) WithDefaults() Options {
	if o.MaxDeliver == 0 {
		o.MaxDeliver = 10
	}
	if len(o.BackOff) == 0 {
		o.BackOff = DefaultBackOff
	}
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Workers == 0 {
		o.Workers = 1
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = 1000
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.LogEvery == 0 {
		o.LogEvery = 30 * time.Second
	}
	return o
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	var errs []error
	if o.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("sender max deliver must be at least 1, got %d", o.MaxDeliver))
	}
	for _, d := range o.BackOff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("sender backoff must be positive, got %s", d))
			break
		}
	}
	if o.AckWait < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("sender ack wait must be at least 10ms, got %s", o.AckWait))
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("sender workers must be at least 1, got %d", o.Workers))
	}
	if o.MaxAckPending < o.Workers {
		errs = append(errs, fmt.Errorf("sender max ack pending (%d) must be at least the workers (%d)", o.MaxAckPending, o.Workers))
	}
	if o.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("sender drain timeout must not be negative, got %s", o.DrainTimeout))
	}
	if o.LogEvery < 0 {
		errs = append(errs, fmt.Errorf("sender log interval must not be negative, got %s", o.LogEvery))
	}
	return errors.Join(errs...)
}

// retryDelay is the delay after the given (1-based) failed attempt.
func (o Options) retryDelay(attempt uint64) time.Duration {
	i := int(min(attempt, uint64(len(o.BackOff)))) - 1
	return o.BackOff[max(i, 0)]
}

// ConsumerName is the durable consumer of a channel on NOTIFY.
func ConsumerName(channel string) string { return "sender-" + channel }

// ConsumerConfig is the durable consumer Run creates for a channel.
//
// The server's MaxDeliver is left unlimited on purpose: at its limit the
// server drops a message with nothing but an advisory, while Run counts the
// deliveries itself and dead-letters the notification. Consumer BackOff is
// not used either: it replaces AckWait, so a send slower than its first step
// would be redelivered while still running. Run sets the delay with
// NakWithDelay instead.
func ConsumerConfig(channel string, o Options) jetstream.ConsumerConfig {
	o = o.WithDefaults()
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(channel),
		Description:   "delivers notify." + channel,
		FilterSubject: wire.NotifySubject(channel),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: o.MaxAckPending,
	}
}

// Run delivers the notifications of s's channel until ctx is cancelled. It
// creates or updates the durable consumer ConsumerName(channel) on the NOTIFY
// stream, then runs opts.Workers workers that each fetch one notification at
// a time and send it.
//
// A sent notification is acknowledged. A transient failure is retried after
// the backoff delay, until opts.MaxDeliver attempts; then, or at once for a
// permanent failure or an undecodable message, the original message is
// published to dlq.notify.<channel> with the reason in Fmn-Dead-Reason, and
// only once the DLQ stream has stored it is the original terminated.
//
// Attempts that fail because the peer is unavailable (see Unavailable) feed
// the circuit breaker (Options.Breaker): once it opens, the workers stop
// fetching and hold what they fetched until a probe finds the peer back.
// Failed attempts are logged as episodes, not one line each (see
// Options.LogEvery).
//
// When ctx is cancelled Run stops fetching, lets in-flight sends finish
// (for at most opts.DrainTimeout), settles them and returns nil. Setting up
// the consumer is retried while NATS answers with transient errors, and
// fetch errors are logged and retried; Run returns an error when the setup
// is refused, or when the consumer or the connection is gone for good
// (streams.IsGone). Run does not close s.
func Run(ctx context.Context, js jetstream.JetStream, sc streams.Config, s Sender, opts Options, logger *slog.Logger) error {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	channel := s.Channel()
	if channel == "" || wire.EncodeToken(channel) != channel {
		return fmt.Errorf("sender channel %q is not a valid subject token", channel)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("channel", channel, "consumer", ConsumerName(channel))

	cons, err := streams.EnsureConsumer(ctx, js, sc.Notify, ConsumerConfig(channel, opts), logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sender %s: %w", channel, err)
	}
	br := opts.Breaker
	if br == nil {
		br = NewBreaker(BreakerConfig{})
	}
	d := &deliverer{js: js, sc: sc, s: s, channel: channel, opts: opts, log: logger, breaker: br,
		failing: newEpisode(logger, opts.LogEvery, "notifications not sent, will retry",
			"notifications still not sent, will retry", "notifications sent again"),
		fetching: newEpisode(logger, opts.LogEvery, "fetching notifications fails, will retry",
			"fetching notifications still fails", "fetching notifications works again"),
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	prober, _ := s.(Prober)
	wg.Go(func() { br.run(ctx, prober, logger, opts.LogEvery) })
	if opts.Alongside != nil {
		wg.Go(func() {
			if err := opts.Alongside(ctx, s, opts); err != nil && ctx.Err() == nil {
				logger.Error("running next to the sender failed", "err", err)
			}
		})
	}
	for range opts.Workers {
		wg.Go(func() {
			if err := d.work(ctx, cons); err != nil {
				cancel(err)
			}
		})
	}
	// The breaker's goroutine ends with ctx; the workers end on their
	// own when ctx ends or one of them fails.
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// deliverer holds what every worker of one Run shares.
type deliverer struct {
	js       jetstream.JetStream
	sc       streams.Config
	s        Sender
	channel  string
	opts     Options
	log      *slog.Logger
	breaker  *Breaker
	failing  *episode // failed attempts
	fetching *episode // fetch errors
}

// work fetches and handles notifications one at a time until ctx ends.
func (d *deliverer) work(ctx context.Context, cons jetstream.Consumer) error {
	for ctx.Err() == nil {
		// While the circuit is open nothing is fetched: the notifications
		// wait in the stream, using up none of their attempts.
		if !d.breaker.waitFetch(ctx) {
			return nil
		}
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		switch {
		case err == nil:
			d.fetching.ok()
			trial, ok := d.breaker.admit(ctx, d.holdEvery(), func() { _ = msg.InProgress() })
			if !ok {
				// Stopping while the circuit is open: give it back at once
				// rather than after AckWait (nothing was attempted).
				_ = msg.Nak()
				return nil
			}
			attempted, err := d.handle(ctx, msg)
			d.breaker.done(d.log, trial, attempted, err)
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
			d.fetching.ok()
		case streams.IsGone(err):
			return fmt.Errorf("sender %s: consumer %s is gone: %w", d.channel, ConsumerName(d.channel), err)
		default:
			// Disconnected, no heartbeat (a stalled node), or the server
			// is busy: the client reconnects by itself, so wait a little
			// rather than spin (logged as an episode, not once a second).
			d.fetching.fail(err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// holdEvery is how often a notification held by an open circuit is marked
// in progress.
func (d *deliverer) holdEvery() time.Duration { return max(d.opts.AckWait/3, time.Millisecond) }

// handle makes one delivery attempt and settles the message. It reports
// whether the sender was called, and what it returned.
func (d *deliverer) handle(ctx context.Context, msg jetstream.Msg) (attempted bool, sendErr error) {
	md, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to settle.
		d.log.Error("notification without metadata", "subject", msg.Subject(), "err", err)
		return false, nil
	}
	o := Outcome{Channel: d.channel, StreamSeq: md.Sequence.Stream, Delivery: md.NumDelivered}

	var n notification.Notification
	if err := json.Unmarshal(msg.Data(), &n); err != nil {
		d.deadLetter(ctx, msg, md, o, "undecodable notification: "+err.Error())
		return false, nil
	}
	o.Notification = &n
	if n.Protocol != "" && n.Protocol != d.channel {
		d.deadLetter(ctx, msg, md, o, fmt.Sprintf("notification for protocol %q published on channel %q", n.Protocol, d.channel))
		return false, nil
	}
	if md.NumDelivered > 1 && d.alreadySent(ctx, msg, o) {
		return false, nil
	}
	if md.NumDelivered > uint64(d.opts.MaxDeliver) {
		// Only a process that died during the last attempt leads here.
		d.deadLetter(ctx, msg, md, o, fmt.Sprintf("gave up after %d attempts, the last one ended without an outcome", d.opts.MaxDeliver))
		return false, nil
	}

	if d.opts.Settings != nil {
		set, err := d.opts.Settings.Lookup(ctx, n.User, d.channel, n.Address)
		if err != nil {
			// Never dropped on a guess: tried again after the backoff.
			d.retry(msg, o, "delivery settings unavailable: "+err.Error())
			return false, nil
		}
		if set.Paused {
			d.paused(ctx, msg, o)
			return false, nil
		}
		if set.Digest != nil && d.opts.Hold != nil {
			d.hold(ctx, msg, o)
			return false, nil
		}
	}

	start := time.Now()
	err = d.send(ctx, msg, &n)
	o.Duration = time.Since(start)
	switch {
	case err == nil:
		d.failing.ok()
		o.Result = wire.Sent
		actx, cancel := settleContext(ctx)
		defer cancel()
		// The mark and the outcome are stored side by side, both before
		// the ack.
		var marked chan struct{}
		if d.opts.SentLog != nil {
			marked = make(chan struct{})
			go func() {
				defer close(marked)
				if err := d.opts.SentLog.MarkSent(actx, d.channel, o.StreamSeq, n.ID); err != nil {
					d.log.Warn("sent notification not marked; a redelivery would send it again", "id", n.ID, "seq", o.StreamSeq, "err", err)
				}
			}()
		}
		d.store(actx, o)
		if marked != nil {
			<-marked
		}
		if err := msg.DoubleAck(actx); err != nil {
			// The server will redeliver it; the mark keeps it from being
			// sent twice.
			d.log.Warn("ack of a sent notification failed", "id", n.ID, "seq", o.StreamSeq, "err", err)
		}
		d.log.Debug("notification sent", "id", n.ID, "seq", o.StreamSeq, "delivery", o.Delivery, "took", o.Duration)
		d.report(o)
	case IsPermanent(err):
		d.failing.ok()
		d.deadLetter(ctx, msg, md, o, "permanent failure: "+err.Error())
	case md.NumDelivered >= uint64(d.opts.MaxDeliver):
		d.deadLetter(ctx, msg, md, o, fmt.Sprintf("gave up after %d attempts: %v", md.NumDelivered, err))
	default:
		var hint RetryHinter
		if errors.As(err, &hint) && hint.RetryHint() > 0 {
			o.RetryIn = hint.RetryHint()
		}
		d.retry(msg, o, err.Error())
	}
	return true, err
}

// hold settles a notification for a destination with a digest: stored
// on DIGEST (Hold), its outcome stored, then acked. A failed hold is
// retried like a failed send.
func (d *deliverer) hold(ctx context.Context, msg jetstream.Msg, o Outcome) {
	n := o.Notification
	actx, cancel := settleContext(ctx)
	defer cancel()
	if err := d.opts.Hold(actx, d.channel, n, msg.Data()); err != nil {
		d.retry(msg, o, err.Error())
		return
	}
	o.Result = wire.Held
	d.store(actx, o)
	if err := msg.DoubleAck(actx); err != nil {
		// Redelivered, it is held again: the hold's Nats-Msg-Id keeps it once.
		d.log.Warn("ack of a held notification failed", "id", n.ID, "seq", o.StreamSeq, "err", err)
	}
	d.log.Debug("notification held for a digest", "id", n.ID, "seq", o.StreamSeq)
	d.report(o)
}

// alreadySent settles a redelivery whose notification an earlier delivery
// sent (its ack was lost): acked, not sent again. When the sent log cannot
// tell, the notification is sent: a duplicate rather than a loss.
func (d *deliverer) alreadySent(ctx context.Context, msg jetstream.Msg, o Outcome) bool {
	if d.opts.SentLog == nil {
		return false
	}
	n := o.Notification
	lctx, cancel := settleContext(ctx)
	defer cancel()
	sent, err := d.opts.SentLog.WasSent(lctx, d.channel, o.StreamSeq, n.ID)
	if err != nil {
		d.log.Warn("cannot tell whether a redelivered notification was sent; sending it", "id", n.ID, "seq", o.StreamSeq, "err", err)
		return false
	}
	if !sent {
		return false
	}
	if err := msg.DoubleAck(lctx); err != nil {
		d.log.Warn("ack of a notification sent earlier failed", "id", n.ID, "seq", o.StreamSeq, "err", err)
	}
	d.log.Info("redelivered notification was sent already; acked without sending again",
		"id", n.ID, "seq", o.StreamSeq, "delivery", o.Delivery)
	o.Result = wire.Skipped
	d.report(o)
	return true
}

// paused settles a notification for a paused destination: its outcome is
// stored (the statistics count it) and it is acked, not sent.
func (d *deliverer) paused(ctx context.Context, msg jetstream.Msg, o Outcome) {
	o.Result = wire.Paused
	actx, cancel := settleContext(ctx)
	defer cancel()
	d.store(actx, o)
	if err := msg.DoubleAck(actx); err != nil {
		// Redelivered, it is dropped again while the pause lasts.
		d.log.Warn("ack of a notification for a paused destination failed", "id", o.Notification.ID, "seq", o.StreamSeq, "err", err)
	}
	d.log.Debug("destination paused: notification dropped", "id", o.Notification.ID, "seq", o.StreamSeq, "user", o.Notification.User)
	d.report(o)
}

// send calls the sender, keeping the message in progress while it runs and
// giving it DrainTimeout to finish once ctx is cancelled.
func (d *deliverer) send(ctx context.Context, msg jetstream.Msg, n *notification.Notification) error {
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(max(d.opts.AckWait/3, time.Millisecond))
		defer tick.Stop()
		stopping := ctx.Done()
		var drained <-chan time.Time
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = msg.InProgress()
			case <-stopping:
				stopping = nil
				drained = time.After(d.opts.DrainTimeout)
			case <-drained:
				cancel()
			}
		}
	}()
	return d.s.Send(sendCtx, n)
}

// RetryHinter is a transient error that knows when a retry may succeed,
// such as a rate limit with a retry-after.
type RetryHinter interface {
	error
	RetryHint() time.Duration
}

// retry asks for a redelivery after the backoff delay.
func (d *deliverer) retry(msg jetstream.Msg, o Outcome, reason string) {
	o.Result = wire.Retry
	o.Reason = cleanReason(reason)
	// The peer's own hint (a rate limit's retry-after) wins when it is
	// longer than the backoff.
	o.RetryIn = max(o.RetryIn, d.opts.retryDelay(o.Delivery))
	sctx, cancel := settleContext(context.Background())
	defer cancel()
	d.store(sctx, o)
	if err := msg.NakWithDelay(o.RetryIn); err != nil {
		// Without the nak the server redelivers after AckWait.
		d.log.Warn("nak failed", "seq", o.StreamSeq, "err", err)
	}
	// One line when failures start, reminders with counts, one when
	// notifications go out again; each attempt at debug level.
	d.failing.fail(o.Reason, "id", notificationID(o), "seq", o.StreamSeq, "delivery", o.Delivery, "retry_in", o.RetryIn)
	d.log.Debug("notification not sent, will retry", "id", notificationID(o), "seq", o.StreamSeq,
		"delivery", o.Delivery, "retry_in", o.RetryIn, "reason", o.Reason)
	d.report(o)
}

// deadLetter stores the message in dlq.notify.<channel> and, once that is
// acknowledged, terminates the original. When the store fails the original
// is retried later instead: a notification is never dropped unrecorded.
func (d *deliverer) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, o Outcome, reason string) {
	reason = cleanReason(reason)
	dl := nats.NewMsg(wire.DLQNotifySubject(d.channel))
	dl.Data = msg.Data()
	for k, vs := range msg.Headers() {
		if !strings.HasPrefix(k, wire.NatsHeaderPrefix) {
			dl.Header[k] = vs
		}
	}
	if id := msg.Headers().Get(wire.HeaderMsgID); id != "" {
		dl.Header.Set(wire.HeaderSourceMsgID, id)
	}
	dl.Header.Set(wire.HeaderReason, reason)
	dl.Header.Set(wire.HeaderSource, msg.Subject())
	dl.Header.Set(wire.HeaderSourceSq, strconv.FormatUint(md.Sequence.Stream, 10))
	dl.Header.Set(wire.HeaderDeliveries, strconv.FormatUint(md.NumDelivered, 10))

	pctx, cancel := settleContext(ctx)
	defer cancel()
	// The id makes a second dead-lettering of the same stored message (the
	// process died before the term below) a duplicate the DLQ drops.
	id := fmt.Sprintf("%s:%d", md.Stream, md.Sequence.Stream)
	if _, err := d.js.PublishMsg(pctx, dl, jetstream.WithMsgID(id), jetstream.WithExpectStream(d.sc.DLQ)); err != nil {
		d.log.Error("storing a dead letter failed", "seq", o.StreamSeq, "reason", reason, "err", err)
		d.retry(msg, o, "dead letter not stored: "+err.Error())
		return
	}
	o.Result = wire.Dead
	o.Reason = reason
	d.store(pctx, o)
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		d.log.Warn("term failed", "seq", o.StreamSeq, "err", err)
	}
	d.log.Error("notification dead-lettered", "id", notificationID(o), "seq", o.StreamSeq, "delivery", o.Delivery, "reason", reason)
	d.report(o)
}

// store hands o to StoreOutcome, if any, before the settlement. A failed
// store is tried again a few times over about three seconds (a stream
// leader being elected; the event's Nats-Msg-Id makes a repeat count
// once), then given up: the delivery is never held up longer by the
// statistics.
func (d *deliverer) store(ctx context.Context, o Outcome) {
	if d.opts.StoreOutcome == nil {
		return
	}
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := d.opts.StoreOutcome(ctx, o)
		if err == nil {
			return
		}
		if attempt >= storeAttempts || ctx.Err() != nil {
			d.log.Warn("delivery outcome not stored; statistics will miss it", "id", notificationID(o), "seq", o.StreamSeq,
				"delivery", o.Delivery, "attempts", attempt, "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// storeAttempts bounds the tries of storing one outcome (waits of 0.1, 0.2,
// 0.4, 0.8 and 1.6 s between them).
const storeAttempts = 6

func (d *deliverer) report(o Outcome) {
	if d.opts.OnOutcome != nil {
		d.opts.OnOutcome(o)
	}
}

// settleContext bounds an ack or a publish that must happen even when the
// worker's context is already cancelled.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// notificationID is the id of the outcome's notification, for logs ("" without one).
func notificationID(o Outcome) string {
	if o.Notification == nil {
		return ""
	}
	return o.Notification.ID
}

// maxReason bounds Fmn-Dead-Reason, a header: the dead letter carries the
// whole notification, the reason needs only to say what went wrong.
const maxReason = 1000

// cleanReason makes an error text a one-line header value.
func cleanReason(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
