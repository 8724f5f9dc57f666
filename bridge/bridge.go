// Package bridge copies the messages of an AMQP bus (RabbitMQ, as
// fedora-messaging uses it) into the JetStream stream BUS, for
// `fmn bridge amqp`.
//
// Each delivery becomes a bus message (routing key = topic, message_id =
// id, AMQP headers stringified, body unchanged) published with Nats-Msg-Id
// = id, and is acknowledged to RabbitMQ only after JetStream's PubAck: a
// crash or a broker restart loses nothing, and a redelivery is absorbed by
// the stream's deduplication. Publishes are pipelined (asynchronous, at
// most Prefetch in flight) and acknowledged in delivery order. A delivery
// that is not a valid bus message goes to the dead-letter subject with the
// reason, then is acknowledged; a failed publish is nacked back to the
// queue.
package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

// A dead-lettered delivery carries the wire.HeaderAMQP* headers besides
// wire.HeaderReason.
const (
	maxDeadHeaderValue = 8 << 10  // bytes of AMQP headers kept on a dead letter
	payloadHeadroom    = 64 << 10 // room left for headers under the NATS max payload
)

// Run bridges until ctx is cancelled, then returns nil. It reconnects with
// backoff after a connection loss or a broker restart. It returns an error
// for an invalid configuration or when the broker refuses the credentials
// on the first connection (bad configuration fails at start).
//
// On return nothing is half-done: every delivery whose publish got its
// PubAck is acknowledged; the others are left unacknowledged (or nacked),
// so that RabbitMQ delivers them again.
func Run(ctx context.Context, cfg Config, js jetstream.JetStream, log *slog.Logger) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &bridge{cfg: cfg, js: js, log: log.With("component", "bridge"), secrets: redact.URLSecrets(cfg.URL)}
	b.maxPayload = int(js.Conn().MaxPayload())
	b.checkStreams(ctx)

	backoff := cfg.ReconnectMin
	for {
		start := time.Now()
		connected, err := b.session(ctx)
		if ctx.Err() != nil {
			b.log.Info("bridge stopped", "published", b.published.Load(), "duplicates", b.duplicates.Load(), "dead", b.dead.Load())
			return nil
		}
		if !connected && !b.everConnected.Load() && errors.Is(err, errRefused) {
			return err
		}
		if connected && time.Since(start) > time.Minute {
			backoff = cfg.ReconnectMin
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		b.log.Warn("AMQP connection lost, reconnecting", "broker", redact.URL(cfg.URL), "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, cfg.ReconnectMax)
	}
}

var errRefused = errors.New("the broker refused the credentials")

// checkStreams warns when no stream stores bus messages or dead letters:
// every publish would then fail and go back to the queue. It is not fatal,
// since the streams may be created after the bridge starts.
func (b *bridge) checkStreams(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, subj := range []string{wire.BusSubject("fmn.check"), b.cfg.DeadLetterSubject} {
		if _, err := b.js.StreamNameBySubject(ctx, subj); err != nil {
			b.log.Warn("no JetStream stream stores this subject yet; publishes will fail until one does", "subject", subj, "err", err)
		}
	}
}

// scrub removes the broker URL's password from err's text: the AMQP
// client and net/url quote the URL they were given in some errors. The
// result does not wrap err: test what the error is before scrubbing it.
func (b *bridge) scrub(err error) error { return redact.Error(err, b.secrets...) }

type bridge struct {
	cfg        Config
	js         jetstream.JetStream
	log        *slog.Logger
	secrets    []string // the forms of the broker URL's password
	maxPayload int

	everConnected atomic.Bool
	// pauseUntil (unix nanoseconds) holds back publishing after a failed
	// publish, so that a JetStream outage does not spin through the queue.
	pauseUntil atomic.Int64
	pubBackoff atomic.Int64

	published, duplicates, dead, failed atomic.Int64
}

// session runs one connection: declare, consume, bridge until the
// connection drops or ctx ends. connected reports whether it got as far
// as consuming.
func (b *bridge) session(ctx context.Context) (connected bool, err error) {
	conn, err := amqp.DialConfig(b.cfg.URL, amqp.Config{
		Heartbeat:  10 * time.Second,
		Properties: amqp.Table{"connection_name": "fmn bridge"},
		Dial:       amqp.DefaultDial(10 * time.Second),
	})
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.AccessRefused {
			return false, fmt.Errorf("%w at %s: %v", errRefused, redact.URL(b.cfg.URL), b.scrub(err))
		}
		return false, fmt.Errorf("connect to %s: %w", redact.URL(b.cfg.URL), b.scrub(err))
	}
	defer conn.Close()
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", b.scrub(err))
	}
	if err := b.declare(ch); err != nil {
		return false, err
	}
	if err := ch.Qos(b.cfg.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("set prefetch: %w", b.scrub(err))
	}
	deliveries, err := ch.Consume(b.cfg.Queue, "", false, false, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", b.cfg.Queue, b.scrub(err))
	}
	b.everConnected.Store(true)
	b.log.Info("bridging", "broker", redact.URL(b.cfg.URL), "exchange", b.cfg.Exchange, "queue", b.cfg.Queue, "keys", b.cfg.BindingKeys)
	return true, b.pump(ctx, ch, deliveries, connClosed)
}

func (b *bridge) declare(ch *amqp.Channel) error {
	var err error
	if strings.HasPrefix(b.cfg.Exchange, "amq.") {
		err = ch.ExchangeDeclarePassive(b.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	} else {
		err = ch.ExchangeDeclare(b.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	}
	if err != nil {
		return fmt.Errorf("declare exchange %s: %w", b.cfg.Exchange, b.scrub(err))
	}
	if _, err := ch.QueueDeclare(b.cfg.Queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", b.cfg.Queue, b.scrub(err))
	}
	for _, k := range b.cfg.BindingKeys {
		if err := ch.QueueBind(b.cfg.Queue, k, b.cfg.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind %s to %s with %q: %w", b.cfg.Queue, b.cfg.Exchange, k, b.scrub(err))
		}
	}
	return nil
}

// inflight is a delivery whose publish awaits its PubAck.
type inflight struct {
	tag  uint64
	f    jetstream.PubAckFuture // nil when the publish failed at once
	err  error
	dead bool
	id   string
	sent time.Time
}

// pump publishes deliveries in order while an acker goroutine settles them
// in the same order.
func (b *bridge) pump(ctx context.Context, ch *amqp.Channel, deliveries <-chan amqp.Delivery, connClosed <-chan *amqp.Error) error {
	window := make(chan inflight, b.cfg.Prefetch)
	ackerDone := make(chan struct{})
	go b.acker(ch, window, ackerDone)
	defer func() {
		close(window)
		<-ackerDone // every publish in flight is settled: acked or nacked
		_ = ch.Close()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-connClosed:
			if !ok || e == nil {
				return errors.New("connection closed")
			}
			return b.scrub(e)
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("delivery channel closed")
			}
			if !b.waitPause(ctx) {
				// Not published: closing the channel hands it back to the queue.
				return ctx.Err()
			}
			window <- b.publish(d)
		}
	}
}

// waitPause sleeps while publishing is held back; false if ctx ended.
func (b *bridge) waitPause(ctx context.Context) bool {
	until := b.pauseUntil.Load()
	d := time.Until(time.Unix(0, until))
	if until == 0 || d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// acker settles deliveries in order: ack after the PubAck (several at once
// with multiple=true), nack with requeue after a failed publish.
func (b *bridge) acker(ch *amqp.Channel, window <-chan inflight, done chan<- struct{}) {
	defer close(done)
	var last uint64 // highest tag to ack
	pending := 0
	flush := func() {
		if pending == 0 {
			return
		}
		if err := ch.Ack(last, true); err != nil {
			// The channel is gone: RabbitMQ redelivers, JetStream deduplicates.
			b.log.Debug("ack failed", "err", b.scrub(err))
		}
		pending = 0
	}
	for in := range window {
		if b.settle(in) {
			last = in.tag
			pending++
		} else {
			flush()
			if err := ch.Nack(in.tag, false, true); err != nil {
				b.log.Debug("nack failed", "err", b.scrub(err))
			}
		}
		if len(window) == 0 || pending >= b.cfg.Prefetch/4+1 {
			flush()
		}
	}
	flush()
}

// settle waits for the PubAck of one publish and reports success.
func (b *bridge) settle(in inflight) bool {
	if in.err != nil {
		b.publishFailed(in, in.err)
		return false
	}
	t := time.NewTimer(max(b.cfg.PublishTimeout-time.Since(in.sent), time.Millisecond))
	defer t.Stop()
	select {
	case ack := <-in.f.Ok():
		switch {
		case in.dead:
			b.dead.Add(1)
		case ack.Duplicate:
			b.duplicates.Add(1)
		default:
			b.published.Add(1)
		}
		b.pubBackoff.Store(0)
		return true
	case err := <-in.f.Err():
		b.publishFailed(in, err)
	case <-t.C:
		b.publishFailed(in, fmt.Errorf("no PubAck within %s", b.cfg.PublishTimeout))
	}
	return false
}

func (b *bridge) publishFailed(in inflight, err error) {
	b.failed.Add(1)
	back := time.Duration(b.pubBackoff.Load())
	back = min(max(2*back, 100*time.Millisecond), 5*time.Second)
	b.pubBackoff.Store(int64(back))
	b.pauseUntil.Store(time.Now().Add(back).UnixNano())
	b.log.Warn("JetStream publish failed; the delivery goes back to the queue", "id", in.id, "err", err, "pause", back)
}

// publish converts a delivery and publishes it asynchronously: to BUS when
// it is a valid bus message, else to the dead-letter subject.
func (b *bridge) publish(d amqp.Delivery) inflight {
	in := inflight{tag: d.DeliveryTag, id: d.MessageId, sent: time.Now()}
	nm, err := b.convert(d)
	if err != nil {
		nm = b.deadLetter(d, bus.Reason(err))
		in.dead = true
		b.log.Warn("dead-lettering a delivery", "topic", d.RoutingKey, "id", d.MessageId, "reason", bus.Reason(err))
	}
	in.f, in.err = b.js.PublishMsgAsync(nm)
	return in
}

// convert turns a delivery into its BUS message.
func (b *bridge) convert(d amqp.Delivery) (*nats.Msg, error) {
	if d.MessageId == "" {
		return nil, &bus.InvalidError{Reason: "no message id (AMQP property message_id)"}
	}
	if len(d.Body) > b.cfg.Limits.MaxBody {
		return nil, &bus.InvalidError{Reason: fmt.Sprintf("body of %d bytes exceeds the limit of %d bytes", len(d.Body), b.cfg.Limits.MaxBody)}
	}
	if !json.Valid(d.Body) {
		return nil, &bus.InvalidError{Reason: "body is not valid JSON"}
	}
	m := &bus.Message{ID: d.MessageId, Topic: d.RoutingKey, Body: d.Body, Headers: make(map[string]json.RawMessage, len(d.Headers))}
	for k, v := range d.Headers {
		if raw, ok := headerJSON(v); ok {
			m.Headers[k] = raw
		}
	}
	if d.Priority > 0 {
		p := int(d.Priority)
		m.Priority = &p
	}
	nm, err := m.NATSMsgLimits(b.cfg.Limits)
	if err != nil {
		return nil, err
	}
	if size := msgSize(nm); size > b.maxPayload {
		return nil, &bus.InvalidError{Reason: fmt.Sprintf("message of %d bytes exceeds the NATS max payload of %d bytes", size, b.maxPayload)}
	}
	return nm, nil
}

func msgSize(m *nats.Msg) int {
	n := len(m.Data) + 16
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// deadLetter builds the dead-letter message of a delivery: the original
// bytes when they fit, else their beginning with a note, the reason and
// what is known of the delivery.
func (b *bridge) deadLetter(d amqp.Delivery, reason string) *nats.Msg {
	body := d.Body
	limit := max(min(b.cfg.Limits.MaxBody, b.maxPayload-payloadHeadroom), 1024)
	h := nats.Header{}
	if len(body) > limit {
		h.Set(wire.HeaderAMQPTruncated, strconv.Itoa(len(body)))
		reason += fmt.Sprintf(" (body truncated from %d to %d bytes)", len(body), limit)
		body = body[:limit]
	}
	h.Set(wire.HeaderReason, headerSafe(reason, 1000))
	h.Set(wire.HeaderAMQPSource, "amqp")
	h.Set(wire.HeaderAMQPTopic, headerSafe(d.RoutingKey, 1000))
	if d.MessageId != "" {
		h.Set(wire.HeaderAMQPMessageID, headerSafe(d.MessageId, 1000))
	}
	if d.ContentType != "" {
		h.Set(wire.HeaderAMQPContentType, headerSafe(d.ContentType, 255))
	}
	if len(d.Headers) > 0 {
		conv := make(map[string]json.RawMessage, len(d.Headers))
		for k, v := range d.Headers {
			if raw, ok := headerJSON(v); ok {
				conv[k] = raw
			}
		}
		if js, err := json.Marshal(conv); err == nil && len(js) <= maxDeadHeaderValue {
			h.Set(wire.HeaderAMQPHeaders, string(js))
		}
	}
	// The same delivery redelivered gets the same id, so the DLQ keeps it
	// once.
	sum := sha256.New()
	sum.Write([]byte(d.RoutingKey))
	sum.Write([]byte{0})
	sum.Write([]byte(d.MessageId))
	sum.Write([]byte{0})
	sum.Write(d.Body)
	h.Set(wire.HeaderMsgID, "amqp-dead-"+hex.EncodeToString(sum.Sum(nil)[:16]))
	return &nats.Msg{Subject: b.cfg.DeadLetterSubject, Header: h, Data: body}
}

// headerSafe makes s a single-line header value of at most n bytes.
func headerSafe(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strconv.QuoteToASCII(s)
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// headerJSON renders an AMQP table value as JSON the way fedora-messaging
// would have written it: strings, numbers and booleans as themselves,
// timestamps as ISO 8601 strings, byte strings as text, nested arrays and
// tables as JSON. ok is false for a void (nil) value.
func headerJSON(v any) (json.RawMessage, bool) {
	val, ok := plainValue(v)
	if !ok {
		return nil, false
	}
	raw, err := json.Marshal(val)
	if err != nil {
		raw, _ = json.Marshal(fmt.Sprint(v))
	}
	return raw, true
}

func plainValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string, bool, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return x, true
	case float32:
		return plainFloat(float64(x)), true
	case float64:
		return plainFloat(x), true
	case amqp.Decimal:
		return json.Number(decimalText(x)), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case []byte:
		if utf8.Valid(x) {
			return string(x), true
		}
		return x, true // base64, as encoding/json writes bytes
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if pv, ok := plainValue(e); ok {
				out = append(out, pv)
			} else {
				out = append(out, nil)
			}
		}
		return out, true
	case amqp.Table:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if pv, ok := plainValue(e); ok {
				out[k] = pv
			} else {
				out[k] = nil
			}
		}
		return out, true
	}
	return fmt.Sprint(v), true
}

// plainFloat keeps NaN and infinities, which JSON cannot hold, as text.
func plainFloat(f float64) any {
	if f != f || f > 1e308 || f < -1e308 {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

func decimalText(d amqp.Decimal) string {
	s := strconv.FormatInt(int64(d.Value), 10)
	if d.Scale == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for len(s) <= int(d.Scale) {
		s = "0" + s
	}
	s = s[:len(s)-int(d.Scale)] + "." + s[len(s)-int(d.Scale):]
	if neg {
		s = "-" + s
	}
	return s
}
