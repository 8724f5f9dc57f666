package api

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RecentIndex is the rule preview's index of recent BUS history: for the
// last Window of messages, which ones hold each index key (a username, an
// agent, an artifact), and each one's topic. It follows BUS with an ordered
// consumer, parsing each message once as it arrives (50 a second at
// Fedora's peak), so that a preview over that window fetches only the
// messages its rule can match instead of reading and parsing the whole
// window. Memory is about 60 bytes a message (some 20 MB for two hours at
// 50 messages/s).
type RecentIndex struct {
	js     jetstream.JetStream
	stream string
	window time.Duration
	parser bus.Parser
	log    *slog.Logger

	mu       sync.RWMutex
	entries  []indexEntry // by sequence
	postings map[rules.Key][]uint64
	topics   []string
	topicIDs map[string]uint32
	// from is the start of the time the index covers: every message
	// stored since is in it.
	from  time.Time
	ready atomic.Bool
	// seen is the last stream sequence read, indexed or not (a message
	// that does not parse is not indexed).
	seen atomic.Uint64
}

type indexEntry struct {
	seq   uint64
	at    int64 // stream time, Unix nanoseconds
	topic uint32
}

// NewRecentIndex indexes the last window of stream; call Run.
func NewRecentIndex(js jetstream.JetStream, stream string, window time.Duration, log *slog.Logger) *RecentIndex {
	if log == nil {
		log = slog.Default()
	}
	return &RecentIndex{js: js, stream: stream, window: window, log: log,
		postings: map[rules.Key][]uint64{}, topicIDs: map[string]uint32{}}
}

// Ready reports whether the index has caught up with BUS.
func (x *RecentIndex) Ready() bool { return x.ready.Load() }

// lastSeq is the sequence of the last indexed message.
func (x *RecentIndex) lastSeq() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if n := len(x.entries); n > 0 {
		return x.entries[n-1].seq
	}
	return x.seen.Load()
}

// caughtUp waits (briefly) until the index has seen stream sequence seq.
// The index follows BUS live, usually within milliseconds; a preview must
// not miss a message stored just before it began.
func (x *RecentIndex) caughtUp(ctx context.Context, seq uint64, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for x.lastSeq() < seq && x.seen.Load() < seq {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// IndexStats describe the size of a RecentIndex.
type IndexStats struct {
	// Messages indexed, distinct keys, and postings (message, key pairs).
	Messages, Keys, Postings int
	// Bytes estimates the memory the index holds.
	Bytes int
}

// Stats returns the size of the index.
func (x *RecentIndex) Stats() IndexStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	st := IndexStats{Messages: len(x.entries), Keys: len(x.postings)}
	for k, p := range x.postings {
		st.Postings += len(p)
		st.Bytes += cap(p)*8 + len(k.Value) + 64 // list, name, map slot and headers
	}
	st.Bytes += cap(x.entries) * 24
	return st
}

// Len is the number of indexed messages.
func (x *RecentIndex) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.entries)
}

// Run follows BUS until ctx ends, restarting after errors.
func (x *RecentIndex) Run(ctx context.Context) error {
	for {
		err := x.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		x.log.WarnContext(ctx, "preview index: following BUS failed; previews read BUS meanwhile", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

func (x *RecentIndex) follow(ctx context.Context) error {
	x.mu.Lock()
	x.ready.Store(false)
	start := time.Now().Add(-x.window)
	var opt jetstream.OrderedConsumerConfig
	if n := len(x.entries); n > 0 {
		// Resume after what is indexed already.
		opt = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: x.entries[n-1].seq + 1}
	} else {
		opt = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}
		x.from = start
	}
	x.mu.Unlock()
	opt.InactiveThreshold = 30 * time.Second
	// Give up after a few resets rather than retry forever inside the
	// library, out of reach of ctx; Run starts over.
	opt.MaxResetAttempts = 3
	oc, err := x.js.OrderedConsumer(ctx, x.stream, opt)
	if err != nil {
		return err
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return err
	}
	defer it.Stop()
	if info := oc.CachedInfo(); info != nil && info.NumPending == 0 {
		x.ready.Store(true)
	}
	evict := time.NewTicker(time.Minute)
	defer evict.Stop()
	var keys []rules.Key
	for {
		// A bounded wait, so that eviction runs when BUS is quiet.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := it.Next(jetstream.NextContext(wctx))
		cancel()
		select {
		case <-evict.C:
			x.evict(time.Now().Add(-x.window))
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			continue
		}
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		if pd, err := x.parser.ParseAt(msg.Subject(), msg.Headers(), msg.Data(), md.Timestamp); err == nil {
			keys = rules.AppendMessageKeys(keys[:0], pd)
			x.add(md.Sequence.Stream, md.Timestamp, pd.Topic, keys)
		}
		x.seen.Store(md.Sequence.Stream)
		if md.NumPending == 0 && !x.ready.Load() {
			x.ready.Store(true)
			x.log.InfoContext(ctx, "preview index caught up with BUS", slog.Int("messages", x.Len()), slog.Duration("window", x.window))
		}
	}
}

func (x *RecentIndex) add(seq uint64, at time.Time, topic string, keys []rules.Key) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.entries); n > 0 && seq <= x.entries[n-1].seq {
		return
	}
	id, ok := x.topicIDs[topic]
	if !ok {
		id = uint32(len(x.topics))
		x.topics = append(x.topics, topic)
		x.topicIDs[topic] = id
	}
	x.entries = append(x.entries, indexEntry{seq: seq, at: at.UnixNano(), topic: id})
	for i, k := range keys {
		if slices.Contains(keys[:i], k) {
			continue
		}
		x.postings[k] = append(x.postings[k], seq)
	}
}

// evict drops what is older than cutoff.
func (x *RecentIndex) evict(cutoff time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	c := cutoff.UnixNano()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].at >= c })
	if i == 0 {
		return
	}
	first := uint64(0)
	if i < len(x.entries) {
		first = x.entries[i].seq
	} else {
		first = x.entries[len(x.entries)-1].seq + 1
	}
	x.entries = slices.Clone(x.entries[i:])
	for k, seqs := range x.postings {
		j, _ := slices.BinarySearch(seqs, first)
		switch {
		case j == len(seqs):
			delete(x.postings, k)
		case j > 0:
			x.postings[k] = slices.Clone(seqs[j:])
		}
	}
	if cutoff.After(x.from) {
		x.from = cutoff
	}
	// Topics are few (hundreds); they are kept.
}

// lookup returns the sequences of the messages stored since since that
// hold one of keys and whose topic passes topicOK, in order, and the number
// of messages the index holds since then; ok is false when the index does
// not cover since (not caught up, or since is older than its window).
func (x *RecentIndex) lookup(keys []rules.Key, since time.Time, topicOK func(string) bool) (seqs []uint64, window int, ok bool) {
	if !x.ready.Load() {
		return nil, 0, false
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if since.Before(x.from) {
		return nil, 0, false
	}
	s := since.UnixNano()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].at >= s })
	window = len(x.entries) - i
	if window == 0 {
		return nil, 0, true
	}
	first := x.entries[i].seq
	seen := map[uint64]bool{}
	for _, k := range keys {
		list := x.postings[k]
		j, _ := slices.BinarySearch(list, first)
		for _, seq := range list[j:] {
			if seen[seq] {
				continue
			}
			seen[seq] = true
			if topicOK != nil {
				e, found := slices.BinarySearchFunc(x.entries[i:], seq, func(e indexEntry, t uint64) int {
					switch {
					case e.seq < t:
						return -1
					case e.seq > t:
						return 1
					}
					return 0
				})
				if !found || !topicOK(x.topics[x.entries[i+e].topic]) {
					continue
				}
			}
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, window, true
}
