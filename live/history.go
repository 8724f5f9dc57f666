package live

import (
	"context"
	"errors"
	"slices"

	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// lastOf is the sequence of user's last notification in NOTIFY, 0 when
// there is none.
func (h *Hub) lastOf(ctx context.Context, st jetstream.Stream, user string) (uint64, error) {
	m, err := st.GetLastMsgForSubject(ctx, wire.NotifySSESubject(user))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

// scan calls fn for user's notifications with sequences from..to, oldest
// first. to must be the sequence of one of them (or beyond the last), so
// that the scan ends.
func (h *Hub) scan(ctx context.Context, st jetstream.Stream, user string, from, to uint64, fn func(Event) error) error {
	if from > to {
		return nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{wire.NotifySSESubject(user)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		if seq > to {
			return nil
		}
		if ev, err := newEvent(seq, m.Subject(), m.Data()); err == nil {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if seq == to || md.NumPending == 0 {
			return nil
		}
	}
}

// Since calls fn for every notification of user stored after sequence
// after, oldest first, up to the last one stored now, and returns the
// sequence it read up to (after, when there was none). A reconnecting
// stream reads what it missed this way before it goes live.
func (h *Hub) Since(ctx context.Context, user string, after uint64, fn func(Event) error) (uint64, error) {
	st, err := h.notifyStream(ctx)
	if err != nil {
		return after, err
	}
	last, err := h.lastOf(ctx, st, user)
	if err != nil || last <= after {
		return after, err
	}
	if h.paused(ctx, user) {
		// What arrived while the feed is paused is dropped, not replayed.
		return last, nil
	}
	return last, h.scan(ctx, st, user, after+1, last, fn)
}

// Recent returns user's last limit notifications, newest first. It reads
// NOTIFY backwards in growing windows of sequences, so the cost follows
// the notifications returned, not the user's whole history.
func (h *Hub) Recent(ctx context.Context, user string, limit int) ([]Event, error) {
	if limit <= 0 {
		return []Event{}, nil
	}
	st, err := h.notifyStream(ctx)
	if err != nil {
		return nil, err
	}
	last, err := h.lastOf(ctx, st, user)
	if err != nil || last == 0 {
		return []Event{}, err
	}
	var got []Event // oldest first
	to, window := last, uint64(limit)*16
	for {
		from := uint64(1)
		if to > window {
			from = to - window + 1
		}
		var part []Event
		if err := h.scan(ctx, st, user, from, to, func(ev Event) error { part = append(part, ev); return nil }); err != nil {
			return nil, err
		}
		got = append(part, got...)
		if len(got) >= limit || from == 1 {
			break
		}
		to, window = from-1, window*4
	}
	if len(got) > limit {
		got = got[len(got)-limit:]
	}
	slices.Reverse(got)
	return got, nil
}
