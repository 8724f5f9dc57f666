package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config of the consumer role.
type Config struct {
	// Durable is the consumer name all instances share (default "matcher").
	Durable string
	// MaxAckPending bounds unacked messages across all instances
	// (default 20000; JetStream's own default of 1000 starves the pipeline).
	MaxAckPending int
	// InFlight bounds messages between fetch and ack in this instance
	// (default 4096).
	InFlight int
	// AckWait is how long a message may stay unacked before redelivery
	// (default 30s).
	AckWait time.Duration
	// Limits applies to parsing (sizes of bodies and headers).
	Limits bus.Limits
	// PullExpiry is how long each pull request waits on the server
	// (default JetStream's 30s); heartbeats come every half of it, and two
	// missed ones are reported (and survived).
	PullExpiry time.Duration
	// Workers is how many messages of the in-flight window are parsed,
	// matched and published at once (default GOMAXPROCS). A message that
	// changes access (see changesAccess) waits for every earlier one and
	// is handled alone, so that no later message is matched before it is
	// applied; acks stay in delivery order.
	Workers int
}

func (c *Config) defaults() {
	if c.Durable == "" {
		c.Durable = "matcher"
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 20000
	}
	if c.InFlight <= 0 {
		c.InFlight = 4096
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
}

// Stats counts what one consumer instance did.
type Stats struct {
	Messages, Acked, Notifications, DeadLetters, Retries atomic.Int64
	// Deprecated counts messages of deprecated schemas: matched by no rule
	// (the app sends the event with a newer schema too) but counted.
	Deprecated atomic.Int64
}

// Consumer runs the matcher on the BUS stream.
type Consumer struct {
	cfg     Config
	streams streams.Config
	nc      *nats.Conn
	m       *Matcher
	log     *slog.Logger
	parser  bus.Parser
	Stats   Stats
}

// New returns a consumer. nc is used for a JetStream context of its own,
// tuned for pipelined publishing.
func New(nc *nats.Conn, sc streams.Config, m *Matcher, cfg Config, log *slog.Logger) *Consumer {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Consumer{cfg: cfg, streams: sc, nc: nc, m: m, log: log, parser: bus.Parser{Limits: cfg.Limits, Lazy: true}}
}

// ConsumerConfig is the durable consumer's configuration.
func (c *Consumer) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "fmn matcher: bus messages to notifications",
		FilterSubject: wire.BusAll,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxAckPending: c.cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

type pending struct {
	msg jetstream.Msg
	// acks is the PubAcks of the message's publishes (nil: none).
	acks *ackGroup
	err  error
	// outs are the notifications' NATS messages and encodings: reused once
	// every publish is acknowledged (see acker).
	outs []*outMsg
}

// outMsg is one notification as published: the NATS message, its header
// (the Nats-Msg-Id alone) and the buffer it is encoded into. Recycled, they
// are no longer most of what the matcher allocates per notification, and
// so of its GC work.
type outMsg struct {
	msg nats.Msg
	id  []string // the header's Nats-Msg-Id value
	buf []byte
}

var outPool sync.Pool

// maxPooled is the largest buffer kept for reuse.
const maxPooled = 64 << 10

// newOut returns a message to publish a notification on subject; the
// caller encodes it into buf and sets its Nats-Msg-Id (id[0]).
func newOut(subject string) *outMsg {
	o, ok := outPool.Get().(*outMsg)
	if !ok {
		o = &outMsg{id: make([]string, 1), buf: make([]byte, 0, 4096)}
		o.msg.Header = nats.Header{wire.HeaderMsgID: o.id}
	}
	o.msg.Subject = subject
	return o
}

// release gives the messages back once no publish can read them again: a
// publish that failed or timed out may still be retried by the client, so
// only fully acknowledged ones are reused.
func (p *pending) release() {
	for _, o := range p.outs {
		if cap(o.buf) <= maxPooled {
			o.buf = o.buf[:0]
			o.msg.Data = nil
			outPool.Put(o)
		}
	}
	p.outs = nil
}

// Run consumes until ctx ends. Every message is acked only after all its
// notifications (or its dead letter) are stored; on shutdown the messages
// not yet processed stay unacked and are redelivered.
//
// Transient NATS trouble does not end it: setting up the durable consumer
// is retried with backoff (a cluster electing leaders), and missing
// heartbeats (a stalled node), disconnections and busy servers are logged
// while pulling goes on. It returns an error for what does not heal by
// itself (streams.IsGone): a consumer deleted under it, a closed
// connection; or when the consumer's configuration is refused.
func (c *Consumer) Run(ctx context.Context) error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	pub, err := newPublisher(c.nc, c.cfg.InFlight, publishTimeout, publishStall)
	if err != nil {
		return err
	}
	defer pub.close() // after the acker: the sweep fails what gets no PubAck
	cons, err := streams.EnsureConsumer(ctx, js, c.streams.Bus, c.ConsumerConfig(), c.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if !c.m.Loaded() {
		if err := c.m.Sync(ctx); err != nil {
			return err
		}
	}
	acks := make(chan *slot, c.cfg.InFlight)
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		c.acker(acks)
	}()
	d := c.newDispatcher(pub, acks)
	runErr := c.consume(ctx, cons, d)
	d.close()
	close(acks)
	<-ackerDone
	if ctx.Err() != nil {
		return nil
	}
	return runErr
}

// consume pulls and handles messages until ctx ends or a lasting error.
func (c *Consumer) consume(ctx context.Context, cons jetstream.Consumer, d *dispatcher) error {
	var opts []jetstream.PullMessagesOpt
	opts = append(opts, jetstream.PullMaxMessages(min(1000, c.cfg.InFlight)))
	if c.cfg.PullExpiry > 0 {
		opts = append(opts, jetstream.PullExpiry(c.cfg.PullExpiry))
	}
	failures := 0
	for ctx.Err() == nil {
		it, err := cons.Messages(opts...)
		if err != nil {
			if streams.IsGone(err) {
				return fmt.Errorf("consumer %s on %s: %w", c.cfg.Durable, c.streams.Bus, err)
			}
			failures++
			wait := streams.DefaultBackoff.Delay(failures)
			c.log.Warn("pulling bus messages failed; retrying", "err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
			streams.Sleep(ctx, wait)
			continue
		}
		stop := context.AfterFunc(ctx, it.Drain)
		for {
			msg, err := it.Next()
			if err == nil {
				failures = 0
				d.dispatch(msg)
				continue
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			if streams.IsGone(err) {
				stop()
				it.Stop()
				return fmt.Errorf("consumer %s on %s: %w", c.cfg.Durable, c.streams.Bus, err)
			}
			failures++
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				// A stalled node or a lost pull request: the iterator
				// pulls again by itself.
				c.log.Warn("no heartbeat from NATS; pulling again", "err", err, "failures", failures)
				continue
			}
			wait := streams.DefaultBackoff.Delay(failures)
			c.log.Warn("pulling bus messages failed; retrying", "err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
			streams.Sleep(ctx, wait)
		}
		stop()
		it.Stop()
		if ctx.Err() == nil {
			// Closed under us (the connection was closed or the
			// subscription dropped): start pulling again; a connection
			// closed for good fails in Messages.
			failures++
			c.log.Warn("bus message iterator closed; pulling again", "failures", failures)
			streams.Sleep(ctx, streams.DefaultBackoff.Delay(failures))
		}
	}
	return nil
}

// handle parses, matches and publishes one message without waiting for
// the publish acknowledgements.
func (c *Consumer) handle(pub *publisher, msg jetstream.Msg) pending {
	c.Stats.Messages.Add(1)
	p, err := c.parser.Parse(msg)
	if err != nil {
		if bus.IsInvalid(err) {
			return c.deadLetter(pub, msg, err)
		}
		return pending{msg: msg, err: err}
	}
	// Nothing keeps p past this message: the notifications are encoded
	// below, before it is reused.
	defer p.Release()
	// An access change re-indexes ownership rules before this message and
	// the next are matched (see Matcher.Observe).
	if err := c.m.Observe(context.Background(), p); err != nil {
		return pending{msg: msg, err: err}
	}
	if p.Deprecated {
		c.Stats.Deprecated.Add(1)
		return pending{msg: msg}
	}
	now := time.Now().UTC()
	var matchBuf [4]rules.Match
	pr, matches, err := c.m.Matches(context.Background(), matchBuf[:0], p, now)
	pd := pending{msg: msg, err: err}
	if err != nil || len(matches) == 0 {
		return pd
	}
	defer pr.Release() // the notifications are encoded into buffers of their own
	pd.acks = newAckGroup()
	defer pd.acks.seal()
	pd.outs = make([]*outMsg, 0, len(matches))
	for _, g := range matches {
		o := newOut(notifySubject(g.Destination.Protocol, g.User))
		id, data, err := pr.AppendJSON(o.buf[:0], g.User, g.Destination, g.RuleIDs)
		if err != nil {
			pd.err = err
			return pd
		}
		o.id[0], o.buf, o.msg.Data = id, data, data
		err = pub.publish(&o.msg, pd.acks)
		if errors.Is(err, nats.ErrMaxPayload) {
			// No retry makes it fit: dead-letter the message rather than
			// redeliver it forever, once the notifications already sent
			// are stored.
			c.Stats.Notifications.Add(int64(len(pd.outs)))
			return c.deadLetterTo(pub, pd.acks, msg, fmt.Errorf("notification %s to %s %s: %d bytes exceed the NATS max payload of %d bytes",
				id, g.Destination.Protocol, g.Destination.Address, len(data), c.nc.MaxPayload()))
		}
		if err != nil {
			pd.err = err
			return pd
		}
		pd.outs = append(pd.outs, o)
	}
	c.Stats.Notifications.Add(int64(len(matches)))
	return pd
}

// deadLetter stores an unusable bus message in DLQ with the reason. Its
// Nats-Msg-Id is derived from the BUS sequence, so a redelivery stores it
// once.
func (c *Consumer) deadLetter(pub *publisher, msg jetstream.Msg, reason error) pending {
	g := newAckGroup()
	defer g.seal()
	return c.deadLetterTo(pub, g, msg, reason)
}

// deadLetterTo is deadLetter adding its publish to g, which the caller
// seals.
func (c *Consumer) deadLetterTo(pub *publisher, g *ackGroup, msg jetstream.Msg, reason error) pending {
	c.Stats.DeadLetters.Add(1)
	out := nats.NewMsg(wire.DLQBus)
	for k, v := range msg.Headers() {
		// Nats-* headers steer JetStream (Nats-Msg-Id, Nats-Expected-Stream,
		// Nats-Rollup, ...): copied, they would make DLQ refuse the dead
		// letter, and the message would be redelivered forever.
		if len(k) >= 5 && strings.EqualFold(k[:5], wire.NatsHeaderPrefix) {
			continue
		}
		out.Header[k] = v
	}
	id := "bus-" + msg.Subject()
	if md, err := msg.Metadata(); err == nil {
		id = "bus-" + strconv.FormatUint(md.Sequence.Stream, 10)
		out.Header.Set(wire.HeaderSourceSq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	out.Header.Set(wire.HeaderMsgID, id)
	out.Header.Set(wire.HeaderSource, msg.Subject())
	if id := msg.Headers().Get(wire.HeaderMsgID); id != "" {
		// Kept so that `fmn dlq retry` republishes under the original id.
		out.Header.Set(wire.HeaderSourceMsgID, id)
	}
	out.Header.Set(wire.HeaderReason, reason.Error())
	out.Data = msg.Data()
	if left := fitDeadLetter(out, c.nc.MaxPayload()); left != "" {
		out.Header.Set(wire.HeaderReason, fmt.Sprintf("%s (%s left out: too large for a dead letter)", reason, left))
	}
	c.log.Warn("bus message dead-lettered", "subject", msg.Subject(), "reason", reason.Error())
	if err := pub.publish(out, g); err != nil {
		return pending{msg: msg, acks: g, err: err}
	}
	return pending{msg: msg, acks: g}
}

// acker acknowledges each message once its publishes are stored. A failed
// publish is retried through redelivery; Nats-Msg-Id makes the retry
// publish nothing twice.
func (c *Consumer) acker(in <-chan *slot) {
	for s := range in {
		p := s.wait()
		err := p.err
		if p.acks != nil {
			if e := p.acks.wait(); err == nil {
				err = e
			}
		}
		if err != nil {
			c.Stats.Retries.Add(1)
			c.log.Warn("publishing notifications failed; message will be redelivered", "subject", p.msg.Subject(), "err", err)
			_ = p.msg.NakWithDelay(time.Second)
			continue
		}
		p.release()
		_ = p.msg.Ack()
		c.Stats.Acked.Add(1)
	}
}

// fitDeadLetter makes a dead letter storable when the bus message only just
// fit in BUS and does not with fmn's headers added: it leaves out the
// copied headers when the header block would exceed JetStream's 64 KiB, and
// the body when the whole would exceed maxPayload. It says what it left out.
func fitDeadLetter(out *nats.Msg, maxPayload int64) string {
	const slack = 256 // room for the note added to the reason
	var left []string
	if headerSize(out.Header)+slack > math.MaxUint16 {
		n := 0
		for k := range out.Header {
			switch k {
			case wire.HeaderMsgID, wire.HeaderSource, wire.HeaderSourceSq, wire.HeaderReason, wire.HeaderSourceMsgID:
			default:
				delete(out.Header, k)
				n++
			}
		}
		left = append(left, fmt.Sprintf("%d headers", n))
	}
	if maxPayload > 0 && headerSize(out.Header)+int64(len(out.Data))+slack > maxPayload {
		left = append(left, fmt.Sprintf("body of %d bytes", len(out.Data)))
		out.Data = nil
	}
	return strings.Join(left, " and ")
}

// headerSize is the size of h encoded as a NATS header block.
func headerSize(h nats.Header) int64 {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return int64(n)
}
