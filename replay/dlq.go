package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrStillDuplicate: BUS would drop a retried bus message as a duplicate
// of its original, which is still inside the duplicate window.
var ErrStillDuplicate = errors.New("the original is still inside the stream's duplicate window")

// DeadLetter is a message of the DLQ stream with what fmn recorded about it.
type DeadLetter struct {
	Seq     uint64    `json:"seq"`
	Stored  time.Time `json:"stored"`
	Subject string    `json:"subject"`
	// Reason is Fmn-Dead-Reason.
	Reason string `json:"reason"`
	// Source is the subject it was dead-lettered from (notify.<channel> or
	// bus.<topic>), SourceSeq its sequence there.
	Source    string `json:"source"`
	SourceSeq uint64 `json:"source_seq,omitempty"`
	// SourceMsgID is the original's Nats-Msg-Id when known (the
	// notification id of a dead notification).
	SourceMsgID string `json:"source_msg_id,omitempty"`
	// Deliveries is how many times a notification was tried.
	Deliveries int         `json:"deliveries,omitempty"`
	Header     nats.Header `json:"headers,omitempty"`
	Data       []byte      `json:"-"`
}

// Channel is the notification channel of a notification's dead letter, ""
// for a bus message's.
func (d DeadLetter) Channel() string {
	c, _ := strings.CutPrefix(d.Subject, wire.DLQNotifyPfx)
	if c == d.Subject {
		return ""
	}
	return c
}

func deadLetter(seq uint64, stored time.Time, subject string, h nats.Header, data []byte) DeadLetter {
	d := DeadLetter{Seq: seq, Stored: stored, Subject: subject, Header: h, Data: data,
		Reason: h.Get(wire.HeaderReason), Source: h.Get(wire.HeaderSource), SourceMsgID: h.Get(wire.HeaderSourceMsgID)}
	d.SourceSeq, _ = strconv.ParseUint(h.Get(wire.HeaderSourceSq), 10, 64)
	d.Deliveries, _ = strconv.Atoi(h.Get(wire.HeaderDeliveries))
	return d
}

// DLQ works the dead-letter stream.
type DLQ struct {
	JS      jetstream.JetStream
	Streams streams.Config
	// By says who works it, recorded on retried notifications.
	By string
}

// DLQSubject is the DLQ filter subject of a channel ("" for every dead
// letter, "bus" for the bus messages').
func DLQSubject(channel string) string {
	switch channel {
	case "":
		return wire.DLQAll
	case "bus":
		return wire.DLQBus
	}
	return wire.DLQNotifySubject(channel)
}

// List calls fn for the dead letters of the selection, oldest first.
func (q DLQ) List(ctx context.Context, sel Selection, fn func(DeadLetter) error) error {
	if len(sel.Subjects) == 0 {
		sel.Subjects = []string{wire.DLQAll}
	}
	return streams.Scan(ctx, q.JS, q.Streams.DLQ, sel, streams.ScanOptions{}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		return fn(deadLetter(md.Sequence.Stream, md.Timestamp, m.Subject(), m.Headers(), m.Data()))
	})
}

// Get returns one dead letter.
func (q DLQ) Get(ctx context.Context, seq uint64) (DeadLetter, error) {
	st, err := q.JS.Stream(ctx, q.Streams.DLQ)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("stream %s: %w", q.Streams.DLQ, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("no dead letter %d in %s", seq, q.Streams.DLQ)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return deadLetter(m.Sequence, m.Time, m.Subject, m.Header, m.Data), nil
}

// Drop deletes a dead letter.
func (q DLQ) Drop(ctx context.Context, seq uint64) error {
	st, err := q.JS.Stream(ctx, q.Streams.DLQ)
	if err != nil {
		return fmt.Errorf("stream %s: %w", q.Streams.DLQ, err)
	}
	if err := st.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("no dead letter %d in %s", seq, q.Streams.DLQ)
		}
		return fmt.Errorf("drop dead letter %d: %w", seq, err)
	}
	return nil
}

// Retried says where a retried dead letter went.
type Retried struct {
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	Stream  string `json:"stream"`
	// NewSeq is its sequence in Stream.
	NewSeq uint64 `json:"new_seq"`
	// Duplicate: the stream already had it (a retry run twice); the dead
	// letter is deleted all the same.
	Duplicate bool `json:"duplicate,omitempty"`
}

// RetryMsgID is the Nats-Msg-Id of a retried notification: fixed per dead
// letter, so that a retry interrupted between the publish and the delete
// of the dead letter publishes nothing twice when run again.
func RetryMsgID(dlqStream string, seq uint64) string {
	return fmt.Sprintf("dlq-retry:%s:%d", dlqStream, seq)
}

// Retry publishes a dead letter again to the subject it died on —
// notify.<channel> for a notification, bus.<topic> for a bus message — and
// deletes it once the stream has acknowledged it. A notification is
// republished as a resend of run runID (see Resend). A bus message keeps
// its id (Nats-Msg-Id, from the dead letter or from the original still in
// BUS): within BUS's duplicate window the retry would be dropped, so it
// fails with ErrStillDuplicate and the dead letter stays.
func (q DLQ) Retry(ctx context.Context, seq uint64, runID string) (Retried, error) {
	d, err := q.Get(ctx, seq)
	if err != nil {
		return Retried{}, err
	}
	r := Retried{Seq: seq, Subject: d.Source}
	m := nats.NewMsg(d.Source)
	m.Data = d.Data
	for k, v := range d.Header {
		switch {
		case strings.HasPrefix(k, wire.NatsHeaderPrefix), k == wire.HeaderReason, k == wire.HeaderSource,
			k == wire.HeaderSourceSq, k == wire.HeaderDeliveries, k == wire.HeaderSourceMsgID,
			k == wire.HeaderResendRun, k == wire.HeaderResendBy, k == wire.HeaderResendOf:
		default:
			m.Header[k] = v
		}
	}
	m.Header.Set(wire.HeaderResendOf, fmt.Sprintf("%s:%d", q.Streams.DLQ, seq))
	var opts []jetstream.PublishOpt
	switch {
	case strings.HasPrefix(d.Source, wire.NotifyPrefix):
		r.Stream = q.Streams.Notify
		m.Header.Set(wire.HeaderResendRun, runID)
		if q.By != "" {
			m.Header.Set(wire.HeaderResendBy, q.By)
		}
		opts = append(opts, jetstream.WithMsgID(RetryMsgID(q.Streams.DLQ, seq)))
	case strings.HasPrefix(d.Source, wire.BusPrefix):
		r.Stream = q.Streams.Bus
		id := d.SourceMsgID
		if id == "" && d.SourceSeq > 0 {
			id = q.originalID(ctx, d)
		}
		if id == "" {
			return r, fmt.Errorf("dead letter %d: the bus message's id is lost (neither the dead letter nor BUS has it); retried, it would die again for want of an id", seq)
		}
		opts = append(opts, jetstream.WithMsgID(id))
	default:
		return r, fmt.Errorf("dead letter %d: cannot retry to %q: not a notify.* or bus.* subject", seq, d.Source)
	}
	opts = append(opts, jetstream.WithExpectStream(r.Stream))
	ack, err := q.JS.PublishMsg(ctx, m, opts...)
	if err != nil {
		return r, fmt.Errorf("dead letter %d: republish to %s: %w", seq, d.Source, err)
	}
	r.NewSeq, r.Duplicate = ack.Sequence, ack.Duplicate
	if ack.Duplicate && r.Stream == q.Streams.Bus {
		return r, fmt.Errorf("dead letter %d: %w (%s); retry it later", seq, ErrStillDuplicate, q.Streams.Bus)
	}
	if err := q.Drop(ctx, seq); err != nil {
		return r, fmt.Errorf("republished as %s:%d, but: %w", r.Stream, r.NewSeq, err)
	}
	return r, nil
}

// originalID reads the Nats-Msg-Id of a dead bus message's original, when
// BUS still holds it.
func (q DLQ) originalID(ctx context.Context, d DeadLetter) string {
	st, err := q.JS.Stream(ctx, q.Streams.Bus)
	if err != nil {
		return ""
	}
	m, err := st.GetMsg(ctx, d.SourceSeq)
	if err != nil || m.Subject != d.Source {
		return ""
	}
	return m.Header.Get(wire.HeaderMsgID)
}
