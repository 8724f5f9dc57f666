// Package digest holds notifications for destinations whose user asked for
// digests, and sends each destination's held notifications as one.
//
// A sender holds a notification by storing it on the DIGEST stream, subject
// digest.<channel>.<user>.<address> (Hold), before it acks it on NOTIFY:
// what is held survives any restart. A Flusher per channel, run by one
// sender instance at a time under a lease, looks at every destination
// subject every few seconds and sends a digest when the oldest held
// notification is max_age old or max_count are held (the settings of the
// moment, from a delivery.Source). The deadline is the stored time of the
// oldest message, so a digest whose deadline passed while no flusher ran is
// sent by the next one at once.
//
// A digest is exactly the held messages of one subject from its first
// sequence F to a last one L. Once the peer accepted it, it is marked sent
// (key F in the sent log, value the digest id naming L), its outcome
// stored, and the subject purged up to L. A flusher that finds the mark of
// the subject's first message (the process died between the send and the
// purge) purges without sending again.
package digest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
)

// Hold stores n, whose NOTIFY message data is data, on the DIGEST stream
// of sc for its destination, and returns once the stream has it. The
// notification id is the Nats-Msg-Id, so holding it again (a redelivery
// after a lost ack) stores it once.
func Hold(ctx context.Context, js jetstream.JetStream, sc streams.Config, channel string, n *notification.Notification, data []byte) error {
	m := nats.NewMsg(wire.DigestSubject(channel, n.User, n.Address))
	m.Data = data
	if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(n.ID), jetstream.WithExpectStream(sc.Digest)); err != nil {
		return fmt.Errorf("holding notification %s for a digest: %w", n.ID, err)
	}
	return nil
}

// Holder is Hold as a senders.Options.Hold.
func Holder(js jetstream.JetStream, sc streams.Config) func(context.Context, string, *notification.Notification, []byte) error {
	return func(ctx context.Context, channel string, n *notification.Notification, data []byte) error {
		return Hold(ctx, js, sc, channel, n, data)
	}
}

// Alongside returns a senders.Options.Alongside that flushes the digests
// of the sender's channel, with its outcome hooks, while this process
// holds the lease LeaseKey(channel) (lc's other fields apply): one
// process per channel flushes, another takes over within seconds when it
// dies.
func Alongside(js jetstream.JetStream, sc streams.Config, src delivery.Source, marks Marks, site notification.Site,
	opts Options, lc lease.Config, logger *slog.Logger) func(context.Context, senders.Sender, senders.Options) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, s senders.Sender, so senders.Options) error {
		opts := opts
		opts.StoreOutcome, opts.OnOutcome = so.StoreOutcome, so.OnOutcome
		lc := lc
		lc.Key = LeaseKey(s.Channel())
		log := logger.With("role", "digest-"+s.Channel())
		return lease.Run(ctx, js, lc, log, func(ctx context.Context) error {
			return New(js, sc, s, src, marks, site, opts, log).Run(ctx)
		})
	}
}

// Marks remembers which digests were sent: senders.KVSentLog is one.
type Marks interface {
	MarkSent(ctx context.Context, channel string, seq uint64, id string) error
	// SentID is the id marked at (channel, seq), "" for none.
	SentID(ctx context.Context, channel string, seq uint64) (string, error)
}

// drainTimeout is how long a send may go on once the flusher is stopped.
const drainTimeout = 10 * time.Second

// Options tunes a Flusher; zero fields take the defaults named.
type Options struct {
	// Every is how often the held notifications are looked at (default
	// 10s): a digest goes out at most this late.
	Every time.Duration
	// Batch bounds the destinations whose notifications are read at once
	// (default 200), and so the memory of a flush.
	Batch int
	// BackOff is the wait before a digest whose send failed is tried
	// again (default senders.DefaultBackOff, its last entry repeating).
	BackOff []time.Duration
	// StoreOutcome and OnOutcome are as in senders.Options: a digest sent
	// or dead-lettered is one outcome; each notification dropped because
	// its destination is paused is one (result wire.Paused).
	StoreOutcome func(context.Context, senders.Outcome) error
	OnOutcome    func(senders.Outcome)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Every <= 0 {
		o.Every = 10 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if len(o.BackOff) == 0 {
		o.BackOff = senders.DefaultBackOff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Flusher sends the digests of one channel. It is not safe for concurrent
// use: run one per channel, under a lease (see Run).
type Flusher struct {
	js      jetstream.JetStream
	sc      streams.Config
	s       senders.Sender
	channel string
	src     delivery.Source
	marks   Marks
	site    notification.Site
	opts    Options
	log     *slog.Logger

	oldest  map[string]heldAt   // subject → its first held message
	failing map[string]failures // subject → failed sends of its digest
	// beforePurge, when set (tests), runs between the mark and the purge;
	// an error stops the flush there, as a crash would.
	beforePurge func() error
}

type heldAt struct {
	seq uint64
	at  time.Time
}

type failures struct {
	n    int
	next time.Time
}

// New returns the flusher of s's channel. Digests go out through s, with
// the settings of src, marked sent in marks.
func New(js jetstream.JetStream, sc streams.Config, s senders.Sender, src delivery.Source, marks Marks,
	site notification.Site, opts Options, logger *slog.Logger) *Flusher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Flusher{
		js: js, sc: sc, s: s, channel: s.Channel(), src: src, marks: marks, site: site,
		opts: opts.withDefaults(), log: logger.With("channel", s.Channel(), "stream", sc.Digest),
		oldest: map[string]heldAt{}, failing: map[string]failures{},
	}
}

// LeaseKey is the lease under which one process flushes a channel's
// digests.
func LeaseKey(channel string) string { return "digest-" + channel }

// markChannel is the sent log's channel of the channel's digests.
func (f *Flusher) markChannel() string { return "digest-" + f.channel }

// Run flushes every Options.Every until ctx ends. A failed round is
// logged and the next one tries again.
func (f *Flusher) Run(ctx context.Context) error {
	t := time.NewTicker(f.opts.Every)
	defer t.Stop()
	failed := false
	for {
		r, err := f.Flush(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failed:
			f.log.Warn("flushing digests failed, will retry", "err", err)
		case err == nil && failed:
			f.log.Info("flushing digests works again")
		}
		failed = err != nil
		if r.Digests+r.Dropped+r.Recovered > 0 {
			f.log.Info("digests flushed", "digests", r.Digests, "notifications", r.Notifications,
				"dropped", r.Dropped, "recovered", r.Recovered, "waiting", r.Waiting)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round says what one Flush did.
type Round struct {
	// Digests were sent, holding Notifications.
	Digests, Notifications int
	// Dropped notifications were held for a destination now paused.
	Dropped int
	// Recovered digests had been sent by an earlier flush that stopped
	// before purging them: purged now, not sent again.
	Recovered int
	// Waiting destinations hold notifications whose digest is not due.
	Waiting int
	// Failed digests were not sent; they are tried again later.
	Failed int
}

// Flush sends every digest that is due now, drops what paused
// destinations hold, and reports what it did. A destination whose digest
// setting was turned off is due at once.
func (f *Flusher) Flush(ctx context.Context) (Round, error) {
	var r Round
	st, err := f.js.Stream(ctx, f.sc.Digest)
	if err != nil {
		return r, fmt.Errorf("stream %s: %w", f.sc.Digest, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(wire.DigestChannelAll(f.channel)))
	if err != nil {
		return r, fmt.Errorf("held notifications of %s: %w", f.channel, err)
	}
	for subj := range f.oldest {
		if _, ok := info.State.Subjects[subj]; !ok {
			delete(f.oldest, subj)
		}
	}
	now := f.opts.Now()
	settings := map[string]delivery.Setting{}
	var due []string
	var errs []error
	for subj, count := range info.State.Subjects {
		if fl, ok := f.failing[subj]; ok && now.Before(fl.next) {
			r.Waiting++
			continue
		}
		isDue, set, err := f.due(ctx, st, subj, count, info.State.FirstSeq, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !isDue {
			r.Waiting++
			continue
		}
		settings[subj] = set
		due = append(due, subj)
	}
	slices.Sort(due)
	for batch := range slices.Chunk(due, f.opts.Batch) {
		if err := f.flushBatch(ctx, st, batch, info.State.LastSeq, settings, &r); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return r, errors.Join(errs...)
}

// due reports whether subj's digest is due, with the setting it goes by.
func (f *Flusher) due(ctx context.Context, st jetstream.Stream, subj string, count, firstSeq uint64, now time.Time) (bool, delivery.Setting, error) {
	channel, user, address, err := wire.ParseDigestSubject(subj)
	if err != nil || channel != f.channel {
		return false, delivery.Setting{}, fmt.Errorf("held notifications on %s: not a digest subject of %s", subj, f.channel)
	}
	set, err := f.src.Lookup(ctx, user, channel, address)
	if err != nil {
		return false, set, fmt.Errorf("delivery setting of %s: %w", subj, err)
	}
	d := set.Digest
	if set.Paused || d == nil || d.MaxCount != nil && count >= uint64(*d.MaxCount) {
		return true, set, nil
	}
	h, ok := f.oldest[subj]
	if !ok {
		m, err := st.GetMsg(ctx, firstSeq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, set, nil // purged meanwhile
		}
		if err != nil {
			return false, set, fmt.Errorf("oldest notification held on %s: %w", subj, err)
		}
		h = heldAt{seq: m.Sequence, at: m.Time}
		f.oldest[subj] = h
	}
	return now.Sub(h.at) >= time.Duration(d.MaxAge)*time.Second, set, nil
}

// held is one notification held on DIGEST.
type held struct {
	seq  uint64
	data []byte
	hdr  nats.Header
}

// flushBatch reads the messages of the subjects up to last and delivers
// each subject's digest.
func (f *Flusher) flushBatch(ctx context.Context, st jetstream.Stream, subjects []string, last uint64,
	settings map[string]delivery.Setting, r *Round) error {
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return fmt.Errorf("reading held notifications: %w", err)
	}
	bySubject := make(map[string][]held, len(subjects))
	// Read until the last message stored before the round began, or
	// until nothing is left; a fetch is left as soon as that is reached
	// rather than waiting for its batch to fill (the ordered consumer is
	// ephemeral and is dropped).
	for done := false; !done; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("reading held notifications: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if md.Sequence.Stream > last {
				done = true
				break
			}
			bySubject[m.Subject()] = append(bySubject[m.Subject()], held{seq: md.Sequence.Stream, data: m.Data(), hdr: m.Headers()})
			if md.NumPending == 0 || md.Sequence.Stream == last {
				done = true
				break
			}
		}
		if done {
			break
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("reading held notifications: %w", err)
		}
		if got == 0 {
			done = true
		}
	}
	var errs []error
	for _, subj := range subjects {
		if hs := bySubject[subj]; len(hs) > 0 {
			if err := f.deliver(ctx, st, subj, hs, settings[subj], r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ID is the id of the digest of subject's held messages first to last.
func ID(subject string, first, last uint64) string {
	h := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(h[:8]) + "-" + strconv.FormatUint(first, 10) + "-" + strconv.FormatUint(last, 10)
}

// sentUpTo is the last sequence of the digest id if it is a digest of
// subject starting at first.
func sentUpTo(id, subject string, first uint64) (uint64, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return 0, false
	}
	last, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || ID(subject, first, last) != id {
		return 0, false
	}
	return last, true
}

// deliver sends (or drops) the digest of hs, the held messages of subj.
func (f *Flusher) deliver(ctx context.Context, st jetstream.Stream, subj string, hs []held, set delivery.Setting, r *Round) error {
	first, last := hs[0].seq, hs[len(hs)-1].seq
	if id, err := f.marks.SentID(ctx, f.markChannel(), first); err != nil {
		// Sending could send it twice; wait for the mark to answer.
		return fmt.Errorf("digest of %s: %w", subj, err)
	} else if sent, ok := sentUpTo(id, subj, first); ok {
		if err := f.purge(ctx, st, subj, sent); err != nil {
			return err
		}
		r.Recovered++
		f.log.Info("digest sent before a restart purged, not sent again", "id", id, "subject", subj)
		return nil
	}

	ns := make([]*notification.Notification, 0, len(hs))
	seqs := make([]uint64, 0, len(hs))
	var bad []held
	for _, h := range hs {
		n := new(notification.Notification)
		if err := json.Unmarshal(h.data, n); err != nil {
			bad = append(bad, h)
			continue
		}
		ns, seqs = append(ns, n), append(seqs, h.seq)
	}
	if len(bad) > 0 {
		if err := f.deadLetter(ctx, subj, bad, "undecodable notification held for a digest"); err != nil {
			return err
		}
	}
	now := f.opts.Now()
	if set.Paused || len(ns) == 0 {
		for i, n := range ns {
			f.store(ctx, senders.Outcome{Channel: f.channel, Result: wire.Paused, Notification: n,
				StreamSeq: seqs[i], DigestLastSeq: seqs[i], Digest: 1, Delivery: 1,
				Reason: "destination paused"})
		}
		r.Dropped += len(ns)
		return f.purge(ctx, st, subj, last)
	}

	id := ID(subj, first, last)
	d := notification.Digest(id, ns, f.site, now)
	o := senders.Outcome{Channel: f.channel, Notification: d, StreamSeq: first, DigestLastSeq: last,
		Digest: len(ns), Delivery: uint64(f.failing[subj].n + 1)}
	// A send under way when ctx ends gets a moment to finish: cut off,
	// it would be sent again.
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		select {
		case <-sendCtx.Done():
		case <-time.After(drainTimeout):
			cancel()
		}
	})
	start := time.Now()
	err := f.s.Send(sendCtx, d)
	stop()
	cancel()
	ctx = context.WithoutCancel(ctx) // what follows settles what was sent
	o.Duration = time.Since(start)
	switch {
	case err == nil:
	case senders.IsPermanent(err):
		if err := f.deadLetter(ctx, subj, hs, "digest not sent, permanent failure: "+err.Error()); err != nil {
			return err
		}
		o.Result, o.Reason = wire.Dead, err.Error()
		f.store(ctx, o)
		delete(f.failing, subj)
		return f.purge(ctx, st, subj, last)
	default:
		fl := f.failing[subj]
		fl.n++
		wait := f.opts.BackOff[min(fl.n, len(f.opts.BackOff))-1]
		fl.next = now.Add(wait)
		f.failing[subj] = fl
		o.Result, o.Reason, o.RetryIn = wire.Retry, err.Error(), wait
		f.store(ctx, o)
		r.Failed++
		f.log.Warn("digest not sent, will retry", "id", id, "subject", subj, "notifications", len(ns), "retry_in", wait, "err", err)
		return nil
	}
	delete(f.failing, subj)
	if err := f.marks.MarkSent(ctx, f.markChannel(), first, id); err != nil {
		f.log.Warn("sent digest not marked; a crash before its purge would send it again", "id", id, "err", err)
	}
	o.Result = wire.Sent
	f.store(ctx, o)
	r.Digests++
	r.Notifications += len(ns)
	if f.beforePurge != nil {
		if err := f.beforePurge(); err != nil {
			return err
		}
	}
	return f.purge(ctx, st, subj, last)
}

// purge removes subj's held messages up to last.
func (f *Flusher) purge(ctx context.Context, st jetstream.Stream, subj string, last uint64) error {
	delete(f.oldest, subj)
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(last+1)); err != nil {
		return fmt.Errorf("purging the digest of %s up to %d: %w", subj, last, err)
	}
	return nil
}

// deadLetter stores held messages on the channel's dead-letter subject, as
// senders.Run stores a notification it gives up on.
func (f *Flusher) deadLetter(ctx context.Context, subj string, hs []held, reason string) error {
	for _, h := range hs {
		m := nats.NewMsg(wire.DLQNotifySubject(f.channel))
		m.Data = h.data
		m.Header.Set(wire.HeaderReason, reason)
		m.Header.Set(wire.HeaderSource, subj)
		m.Header.Set(wire.HeaderSourceSq, strconv.FormatUint(h.seq, 10))
		if id := h.hdr.Get(wire.HeaderMsgID); id != "" {
			m.Header.Set(wire.HeaderSourceMsgID, id)
		}
		id := fmt.Sprintf("%s:%d", f.sc.Digest, h.seq)
		if _, err := f.js.PublishMsg(ctx, m, jetstream.WithMsgID(id), jetstream.WithExpectStream(f.sc.DLQ)); err != nil {
			return fmt.Errorf("dead-lettering a notification held on %s: %w", subj, err)
		}
	}
	f.log.Error("held notifications dead-lettered", "subject", subj, "count", len(hs), "reason", reason)
	return nil
}

// store hands o to the outcome hooks.
func (f *Flusher) store(ctx context.Context, o senders.Outcome) {
	if f.opts.StoreOutcome != nil {
		if err := f.opts.StoreOutcome(ctx, o); err != nil {
			f.log.Warn("digest outcome not stored; statistics will miss it", "result", o.Result, "err", err)
		}
	}
	if f.opts.OnOutcome != nil {
		f.opts.OnOutcome(o)
	}
}
