package preview

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RecentIndex is the rule preview's index of recent BUS history: for the
// last Window of messages, which ones hold each index key (a username, an
// agent, an artifact), and for each message what matching reads of it (its
// keys, topic, application and severity). It follows BUS with an ordered
// consumer, parsing each message once as it arrives (50 a second at
// Fedora's peak), so that a preview over that window matches the rule
// against what the index keeps of the messages holding its keys, and
// fetches only the messages of the notifications it shows. Memory is about
// 100 bytes a message with 3 keys (some 36 MB for two hours at 50
// messages/s; see Stats and BenchmarkRecentIndexMemory).
type RecentIndex struct {
	js     jetstream.JetStream
	stream string
	window time.Duration
	parser bus.Parser
	log    *slog.Logger

	mu      sync.RWMutex
	entries []indexEntry // by sequence
	// fwd holds the key ids of the entries: entry i's from
	// entries[i].keys up to entries[i+1].keys (or the end).
	fwd []uint32
	// keys is by key id; keyIDs finds the id of a key; freeKeys are ids
	// of keys no indexed message holds any more, for reuse.
	keys     []keySlot
	keyIDs   map[rules.Key]uint32
	freeKeys []uint32
	// names interns topics and applications (a few hundred); they are
	// kept.
	names   []string
	nameIDs map[string]uint32
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
	at    int64  // stream time, Unix nanoseconds
	topic uint32 // in names
	app   uint32 // in names
	keys  uint32 // first in fwd
	sev   int8   // bus severity, clamped to int8
}

// keySlot is a key and the sequences of the messages that hold it, in
// order; seqs is nil for a free slot.
type keySlot struct {
	key  rules.Key
	seqs []uint64
}

// NewRecentIndex indexes the last window of stream; call Run.
func NewRecentIndex(js jetstream.JetStream, stream string, window time.Duration, log *slog.Logger) *RecentIndex {
	if log == nil {
		log = slog.Default()
	}
	return &RecentIndex{js: js, stream: stream, window: window, log: log, parser: bus.Parser{Lazy: true},
		keyIDs: map[rules.Key]uint32{}, nameIDs: map[string]uint32{}}
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
	st := IndexStats{Messages: len(x.entries), Keys: len(x.keyIDs)}
	for _, k := range x.keys {
		st.Postings += len(k.seqs)
		if k.seqs != nil {
			// List and name, and the key's entry in keyIDs (key, id and
			// the map's own overhead).
			st.Bytes += cap(k.seqs)*8 + len(k.key.Value) + 48
		}
	}
	st.Bytes += cap(x.keys)*int(unsafe.Sizeof(keySlot{})) + cap(x.freeKeys)*4
	st.Bytes += cap(x.entries)*int(unsafe.Sizeof(indexEntry{})) + cap(x.fwd)*4
	for _, n := range x.names {
		st.Bytes += len(n) + 16 + 48
	}
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
			x.add(md.Sequence.Stream, md.Timestamp, pd, keys)
		}
		x.seen.Store(md.Sequence.Stream)
		if md.NumPending == 0 && !x.ready.Load() {
			x.ready.Store(true)
			x.log.InfoContext(ctx, "preview index caught up with BUS", slog.Int("messages", x.Len()), slog.Duration("window", x.window))
		}
	}
}

// add indexes message seq, parsed as pd, whose index keys are keys.
func (x *RecentIndex) add(seq uint64, at time.Time, pd *bus.Parsed, keys []rules.Key) {
	if pd.Deprecated {
		return // matched by no rule (see rules.(*Compiled).AppendMatch)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.entries); n > 0 && seq <= x.entries[n-1].seq {
		return
	}
	x.entries = append(x.entries, indexEntry{seq: seq, at: at.UnixNano(), topic: x.name(pd.Topic), app: x.name(pd.App),
		keys: uint32(len(x.fwd)), sev: int8(min(max(pd.Severity, math.MinInt8), math.MaxInt8))})
	for _, k := range keys {
		id, ok := x.keyIDs[k]
		if !ok {
			if n := len(x.freeKeys); n > 0 {
				id = x.freeKeys[n-1]
				x.freeKeys = x.freeKeys[:n-1]
			} else {
				id = uint32(len(x.keys))
				x.keys = append(x.keys, keySlot{})
			}
			// A copy: a parsed name may share the message's memory.
			k.Value = strings.Clone(k.Value)
			x.keys[id].key = k
			x.keyIDs[k] = id
		}
		s := &x.keys[id]
		if n := len(s.seqs); n > 0 && s.seqs[n-1] == seq {
			continue // a repeated key counts once
		}
		s.seqs = append(s.seqs, seq)
		x.fwd = append(x.fwd, id)
	}
}

func (x *RecentIndex) name(s string) uint32 {
	id, ok := x.nameIDs[s]
	if !ok {
		s = strings.Clone(s)
		id = uint32(len(x.names))
		x.names = append(x.names, s)
		x.nameIDs[s] = id
	}
	return id
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
	if cutoff.After(x.from) {
		x.from = cutoff
	}
	first, cut := x.entries[len(x.entries)-1].seq+1, uint32(len(x.fwd))
	if i < len(x.entries) {
		first, cut = x.entries[i].seq, x.entries[i].keys
	}
	x.entries = slices.Clone(x.entries[i:])
	for j := range x.entries {
		x.entries[j].keys -= cut
	}
	x.fwd = slices.Clone(x.fwd[cut:])
	for id := range x.keys {
		s := &x.keys[id]
		if s.seqs == nil {
			continue
		}
		j, _ := slices.BinarySearch(s.seqs, first)
		switch {
		case j == len(s.seqs):
			delete(x.keyIDs, s.key)
			*s = keySlot{}
			x.freeKeys = append(x.freeKeys, uint32(id))
		case j > 0:
			s.seqs = slices.Clone(s.seqs[j:])
		}
	}
	// Names are few (hundreds); they are kept.
}

// candidateQuery asks which indexed messages a rule can match.
type candidateQuery struct {
	keys  []rules.Key
	since time.Time
	// minSeq is the first sequence the stream holds, deleted those it no
	// longer holds after it (in order): such messages are left out.
	minSeq  uint64
	deleted []uint64
	// topicOK, when set, filters the topics.
	topicOK func(string) bool
	// keep, when above 0, is how many of the newest matches matchViews
	// keeps (their destinations are counted in full): what one preview
	// holds then does not grow with the window.
	keep int
}

// candidates returns the positions in entries of the messages of q: stored
// since q.since, holding one of q.keys, in order; and the number of
// messages the index holds since then. ok is false when the index does not
// cover q.since (not caught up, or q.since is older than its window). x.mu
// must be held.
func (x *RecentIndex) candidates(q candidateQuery) (pos []int32, window int, ok bool) {
	keys, since, topicOK := q.keys, q.since, q.topicOK
	if !x.ready.Load() || since.Before(x.from) {
		return nil, 0, false
	}
	s := since.UnixNano()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].at >= s })
	window = len(x.entries) - i
	if window == 0 {
		return nil, 0, true
	}
	first := max(x.entries[i].seq, q.minSeq)
	var seqs []uint64
	var lists [][]uint64
	for _, k := range keys {
		id, found := x.keyIDs[k]
		if !found {
			continue
		}
		list := x.keys[id].seqs
		if j, _ := slices.BinarySearch(list, first); j < len(list) {
			lists = append(lists, list[j:])
		}
	}
	switch len(lists) {
	case 0:
	case 1:
		// Read in place (x.mu is held): no copy of a long list.
		seqs = lists[0]
	default:
		for _, l := range lists {
			seqs = append(seqs, l...)
		}
		slices.Sort(seqs)
		seqs = slices.Compact(seqs)
	}
	// topic ids: 0 not asked yet, 1 passes, 2 does not.
	var topics []uint8
	if topicOK != nil {
		topics = make([]uint8, len(x.names))
	}
	pos = make([]int32, 0, len(seqs))
	at := i
	deleted := q.deleted
	for _, seq := range seqs {
		for len(deleted) > 0 && deleted[0] < seq {
			deleted = deleted[1:]
		}
		if len(deleted) > 0 && deleted[0] == seq {
			continue
		}
		// Both are in order: search from the last position.
		j, found := slices.BinarySearchFunc(x.entries[at:], seq, func(e indexEntry, t uint64) int { return cmp.Compare(e.seq, t) })
		at += j
		if !found {
			continue
		}
		if topics != nil {
			t := x.entries[at].topic
			if topics[t] == 0 {
				topics[t] = 2
				if topicOK(x.names[t]) {
					topics[t] = 1
				}
			}
			if topics[t] != 1 {
				continue
			}
		}
		pos = append(pos, int32(at))
	}
	return pos, window, true
}

// view sets p to what matching reads of the message at position i of
// entries: its usernames, agent, artifacts, topic, application and
// severity (all that rules.(*Compiled).AppendMatch reads, but the
// deprecated flag: deprecated messages are not indexed; api's
// TestPreviewMatchesTheMatcher and consumer's TestOneEngine check it).
// Other fields are zero; p's lists are reused. x.mu must be held.
func (x *RecentIndex) view(i int32, p *bus.Parsed) {
	e := &x.entries[i]
	end := uint32(len(x.fwd))
	if int(i)+1 < len(x.entries) {
		end = x.entries[i+1].keys
	}
	*p = bus.Parsed{Topic: x.names[e.topic], App: x.names[e.app], Severity: int(e.sev),
		Usernames: p.Usernames[:0], Packages: p.Packages[:0], Containers: p.Containers[:0],
		Modules: p.Modules[:0], Flatpaks: p.Flatpaks[:0]}
	for _, id := range x.fwd[e.keys:end] {
		k := x.keys[id].key
		switch k.Kind {
		case rules.KeyUser:
			p.Usernames = append(p.Usernames, k.Value)
		case rules.KeyAgent:
			p.Agent = k.Value
		case rules.KeyRPM:
			p.Packages = append(p.Packages, k.Value)
		case rules.KeyContainer:
			p.Containers = append(p.Containers, k.Value)
		case rules.KeyModule:
			p.Modules = append(p.Modules, k.Value)
		case rules.KeyFlatpak:
			p.Flatpaks = append(p.Flatpaks, k.Value)
		}
	}
}

// viewMatch is a message a rule matched, and its number of destinations.
type viewMatch struct {
	seq   uint64
	dests int
}

// viewResult is the answer of matchViews.
type viewResult struct {
	// window is the number of messages since the start, candidates those
	// that hold a key of the rule and pass its topic filters.
	window, candidates int
	// matches are in order of sequence (the newest candidateQuery.keep
	// when set); dests is the destinations of all.
	matches []viewMatch
	dests   int
	// complete is false when ctx ended first.
	complete bool
}

// viewMatcher appends to matches the notifications of the message p (a
// view: see view), one per destination, and returns the extended slice.
// It must not block: it runs under the index's read lock.
type viewMatcher func(p *bus.Parsed, matches []rules.Match) ([]rules.Match, error)

// matchViews runs match, in workers goroutines, over the view of each
// candidate of q; ok is false when the index does not cover q.since.
func (x *RecentIndex) matchViews(ctx context.Context, q candidateQuery, workers int, match viewMatcher) (res viewResult, ok bool, err error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	pos, window, ok := x.candidates(q)
	if !ok {
		return res, false, nil
	}
	res.window, res.candidates, res.complete = window, len(pos), true
	const chunk = 1024
	var (
		next    atomic.Int64
		stop    atomic.Bool
		mu      sync.Mutex
		wg      sync.WaitGroup
		firstEr error
	)
	for range min(max(1, workers), (len(pos)+chunk-1)/chunk) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p bus.Parsed
			var matches []rules.Match
			var local []viewMatch
			n := 0
			for !stop.Load() {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(pos) {
					break
				}
				if ctx.Err() != nil {
					stop.Store(true)
					break
				}
				for _, i := range pos[lo:min(lo+chunk, len(pos))] {
					x.view(i, &p)
					var err error
					matches, err = match(&p, matches[:0])
					if err != nil {
						mu.Lock()
						firstEr = cmp.Or(firstEr, err)
						mu.Unlock()
						stop.Store(true)
						break
					}
					if len(matches) > 0 {
						local = append(local, viewMatch{x.entries[i].seq, len(matches)})
						n += len(matches)
						// A worker's matches are in order: the newest
						// q.keep of all are among the newest q.keep of
						// each worker.
						if q.keep > 0 && len(local) >= 2*q.keep+1024 {
							local = append(local[:0], local[len(local)-q.keep:]...)
						}
					}
				}
			}
			mu.Lock()
			res.matches = append(res.matches, local...)
			res.dests += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstEr != nil {
		return res, true, firstEr
	}
	if ctx.Err() != nil {
		res.complete = false
	}
	slices.SortFunc(res.matches, func(a, b viewMatch) int { return cmp.Compare(a.seq, b.seq) })
	if q.keep > 0 && len(res.matches) > q.keep {
		res.matches = slices.Clone(res.matches[len(res.matches)-q.keep:])
	}
	return res, true, nil
}
