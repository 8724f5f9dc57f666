// Package preview answers "what would this rule have sent?" from BUS
// history: the rule preview of the API. It matches through the same rule
// index as the consumer and replay (rules.Index), reads BUS with the same
// reader as replay (streams.Scan), and keeps an index of recent history
// (RecentIndex) so that most previews read almost nothing.
package preview

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Previewer answers "what would this rule have sent?" from BUS history. FMN
// dropped its preview for being too slow (its issue #776): it fetched and
// parsed every message of the window. This one reads the window with an
// ordered consumer (no acks, in-memory, deleted afterwards), narrowed to
// the subjects the rule's topic globs allow, and parses only the messages
// that can match: a rule fires only for messages that hold one of its
// index keys (a username, an agent, an artifact name), and extractors take
// those names verbatim from the message, so a message whose bytes contain
// none of them is passed over without parsing. With a RecentIndex that
// covers the window, nothing is read to match: the rule is matched against
// what the index keeps of each message holding one of its keys, and only
// the messages of the notifications shown are fetched.
type Previewer struct {
	js      jetstream.JetStream
	stream  string
	lookups rules.Lookups
	site    notification.Site
	parser  bus.Parser

	// Workers parse and match in parallel (default GOMAXPROCS).
	Workers int
	// Batch is the most messages a scan has asked BUS for and not yet
	// handled (default 256), PullBytes the most bytes one pull request
	// brings (default 1 MiB, raised to the connection's largest message
	// so that a pull never stalls). With the chunks waiting for or held
	// by the workers (see scan), they bound what a scan holds: some
	// Batch + (2*Workers+1)*64 messages, about 1.5 MB of Fedora-sized
	// messages with 2 workers.
	Batch, PullBytes int
	// Now is the clock (tests).
	Now func() time.Time
	// Index, when set and caught up, answers previews over its window;
	// windows it does not cover are read with the scan.
	Index *RecentIndex
}

// New returns a previewer reading BUS stream from js.
func New(js jetstream.JetStream, stream string, lk rules.Lookups, site notification.Site) *Previewer {
	return &Previewer{js: js, stream: stream, lookups: lk, site: site, Now: time.Now, parser: bus.Parser{Lazy: true}}
}

// Request is a rule to try over [Since, now).
type Request struct {
	// Rule is the draft; its owner (User) decides related-events and
	// my_actions. A generation rule without destinations gets one
	// placeholder (Placeholder), so that matches still show.
	Rule  rules.Rule
	Since time.Time
	// MaxResults keeps the most recent notifications (default 500).
	MaxResults int
}

// Notification is one notification the rule would have produced.
type Notification struct {
	// Seq is the bus message's stream sequence.
	Seq       uint64
	MessageID string
	Topic     string
	// App is the message's application, "" when unknown.
	App      string
	Severity int
	Summary  string
	URL      string
	SentAt   time.Time
	// Destination is where it would have gone; Placeholder for a
	// generation rule without destinations.
	rules.Destination
	// Line is the notification as IRC and Matrix show it; emails use it
	// as subject line with the link.
	Line string
}

// Where a preview's answer comes from (Result.Source).
const (
	// SourceIndex: the rule was matched through the index of recent
	// history, and only the messages of the notifications returned were
	// fetched.
	SourceIndex = "index"
	// SourceScan: the window was read.
	SourceScan = "scan"
	// SourceNone: the rule can match nothing (artifacts-owned for someone
	// who owns nothing), so nothing was read.
	SourceNone = "none"
)

// Result is the answer of Preview.
type Result struct {
	// Notifications are newest first, at most Request.MaxResults (see
	// Total and Truncated).
	Notifications []Notification
	// Since and Until are the window: Until is when the preview began.
	Since, Until time.Time
	// Total is the notifications in the window, including those left
	// out; Truncated says that older ones were left out.
	Total     int
	Truncated bool
	// Messages is the bus messages in the window (read, with SourceScan);
	// Parsed those that could match, and were matched: parsed as read
	// with SourceScan, as the index keeps them with SourceIndex.
	Messages, Parsed int
	// Complete is false when the preview ran out of time before the end
	// of the window.
	Complete bool
	// Subjects are the BUS subjects read (narrowed by the topic filters).
	Subjects []string
	Source   string
	Took     time.Duration
}

// Placeholder stands in for missing destinations.
var Placeholder = rules.Destination{Protocol: "preview", Address: "preview"}

// Preview runs req's rule over BUS history. It fails with ErrLookups when
// the ownership lookups of the rule fail.
func (p *Previewer) Preview(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	now := p.Now()
	res := &Result{Since: req.Since, Until: now, Notifications: []Notification{}, Complete: true, Subjects: []string{}}
	defer func() { res.Took = time.Since(start) }()
	maxResults := req.MaxResults
	if maxResults <= 0 {
		maxResults = 500
	}

	r := req.Rule
	r.ID, r.Disabled = 0, false
	r.GenerationRules = slices.Clone(r.GenerationRules)
	for i := range r.GenerationRules {
		if len(r.GenerationRules[i].Destinations) == 0 {
			r.GenerationRules[i].Destinations = []rules.Destination{Placeholder}
		}
	}
	c, err := rules.Compile(r)
	if err != nil {
		return nil, err
	}
	// The ownership sets the keys come from serve the whole preview.
	var lk rules.Lookups
	var fl *fixedLookups
	if p.lookups != nil {
		fl = &fixedLookups{lk: p.lookups, record: true}
		lk = fl
	}
	keys, err := c.Keys(ctx, lk)
	if fl != nil {
		fl.record = false
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLookups, err)
	}
	if len(keys) == 0 {
		// Nothing can match (artifacts-owned for someone who owns nothing,
		// or without ownership lookups).
		res.Source = SourceNone
		return res, nil
	}
	// The draft is matched as the consumer and replay match: through the
	// rule index.
	idx := rules.NewIndex()
	idx.Put(c, keys, false)
	pre := newPrefilter(keys, r)
	res.Subjects = subjectFilters(r)
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	col := &collector{max: maxResults}
	match := func(m cand, matches []rules.Match, local []Notification) ([]rules.Match, []Notification) {
		pd, err := p.parser.ParseAt(m.subject, m.header, m.data, m.at)
		if err != nil {
			return matches, local // a dead letter of the matcher; nothing to show
		}
		matches, err = idx.Match(ctx, matches[:0], pd, lk)
		if err != nil {
			col.fail(err)
			return matches, local
		}
		for _, x := range matches {
			n := notification.Render(pd, x.User, x.Destination, nil, p.site, now)
			local = append(local, Notification{
				Seq: m.seq, MessageID: n.MessageID, Topic: n.Topic, App: n.App, Severity: n.Severity,
				Summary: n.Summary, URL: n.URL, SentAt: n.SentAt, Destination: x.Destination, Line: previewLine(n),
			})
		}
		return matches, local
	}

	var topicOK func(string) bool
	if pre.globs != nil {
		topicOK = pre.topicOK
	}
	// The recent index finds the messages holding a key of the rule (the
	// candidate lookup of idx, turned around: the rule is the candidate of
	// each); the rule is checked against each as idx checks candidates.
	cands := []*rules.Compiled{c}
	vr, ok, err := p.fromIndex(ctx, keys, req.Since, topicOK, workers, maxResults, func(pd *bus.Parsed, matches []rules.Match) ([]rules.Match, error) {
		return rules.MatchCandidates(ctx, matches, cands, pd, lk)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLookups, err)
	}
	if ok {
		res.Source = SourceIndex
		res.Messages, res.Parsed, res.Complete = vr.window, vr.candidates, vr.complete
		if len(res.Subjects) == 0 {
			res.Subjects = []string{wire.BusAll}
		}
		res.Total, err = p.fetchNewest(ctx, vr, maxResults, workers, col, match)
		if err != nil {
			if ctx.Err() == nil {
				return nil, err
			}
			res.Complete = false
		}
	} else {
		res.Source = SourceScan
		if err := p.scan(ctx, req.Since, res, pre, workers, col, match); err != nil {
			return nil, err
		}
		res.Total = col.count
	}
	if col.first != nil {
		return nil, fmt.Errorf("%w: %v", ErrLookups, col.first)
	}
	res.Notifications = newest(col.found, maxResults)
	res.Truncated = res.Total > len(res.Notifications)
	return res, nil
}

// maxDeleted bounds the list of deleted messages a preview asks of BUS
// (none is deleted there but by age); with more, the scan runs.
const maxDeleted = 100000

// fromIndex matches the rule against the recent index, once the index
// has seen every message stored before the preview began; ok is false
// when the index cannot answer.
func (p *Previewer) fromIndex(ctx context.Context, keys []rules.Key, since time.Time, topicOK func(string) bool, workers, maxResults int, match viewMatcher) (vr viewResult, ok bool, err error) {
	if p.Index == nil || !p.Index.Ready() {
		return vr, false, nil
	}
	st, err := p.js.Stream(ctx, p.stream)
	if err != nil || !p.Index.caughtUp(ctx, st.CachedInfo().State.LastSeq, 250*time.Millisecond) {
		return vr, false, nil
	}
	// Messages BUS no longer holds (aged out, or deleted) are left out.
	state := st.CachedInfo().State
	// Each match gives a notification at least: twice maxResults of them
	// are enough, even when some have left BUS since they were indexed.
	q := candidateQuery{keys: keys, since: since, minSeq: state.FirstSeq, topicOK: topicOK, keep: 2 * maxResults}
	if state.NumDeleted > 0 {
		if state.NumDeleted > maxDeleted {
			return vr, false, nil
		}
		info, err := st.Info(ctx, jetstream.WithDeletedDetails(true))
		if err != nil {
			return vr, false, nil
		}
		q.deleted = slices.Clone(info.State.Deleted)
		slices.Sort(q.deleted)
	}
	return p.Index.matchViews(ctx, q, workers, match)
}

// fetchNewest fetches, parses and renders the newest messages of vr until
// they give maxResults notifications, and returns the number of notifications in
// the window: vr's, corrected by what the fetched messages gave (none for
// a message gone from BUS since it was indexed).
func (p *Previewer) fetchNewest(ctx context.Context, vr viewResult, maxResults, workers int, col *collector, match matchFunc) (int, error) {
	total := vr.dests
	var seqs []uint64
	for end := len(vr.matches); end > 0 && col.count < maxResults; {
		start, n := end, 0
		for start > 0 && col.count+n < maxResults {
			start--
			n += vr.matches[start].dests
		}
		seqs = seqs[:0]
		for _, m := range vr.matches[start:end] {
			seqs = append(seqs, m.seq)
		}
		before := col.count
		if err := p.fetch(ctx, seqs, workers, col, match); err != nil {
			return total, err
		}
		total += col.count - before - n
		end = start
	}
	return total, nil
}

// fixedLookups keeps the ownership sets asked while record is set, and
// answers from them afterwards, without blocking: matching over the
// index runs under its lock. Other names are asked from lk.
type fixedLookups struct {
	lk     rules.Lookups
	record bool
	owned  map[string]rules.ArtifactSet
	group  map[string]rules.ArtifactSet
}

func (f *fixedLookups) OwnedArtifacts(ctx context.Context, user string) (rules.ArtifactSet, error) {
	return f.get(ctx, &f.owned, user, f.lk.OwnedArtifacts)
}

func (f *fixedLookups) GroupOwnedArtifacts(ctx context.Context, group string) (rules.ArtifactSet, error) {
	return f.get(ctx, &f.group, group, f.lk.GroupOwnedArtifacts)
}

func (f *fixedLookups) get(ctx context.Context, m *map[string]rules.ArtifactSet, name string, ask func(context.Context, string) (rules.ArtifactSet, error)) (rules.ArtifactSet, error) {
	if set, ok := (*m)[name]; ok {
		return set, nil
	}
	set, err := ask(ctx, name)
	if err == nil && f.record {
		if *m == nil {
			*m = map[string]rules.ArtifactSet{}
		}
		(*m)[name] = set
	}
	return set, err
}

// cand is a message that could match.
type cand struct {
	subject string
	header  nats.Header
	data    []byte
	seq     uint64
	at      time.Time
}

// matchFunc matches m, appending its notifications to local; matches is
// scratch space.
type matchFunc func(m cand, matches []rules.Match, local []Notification) ([]rules.Match, []Notification)

// collector gathers the notifications of the workers, keeping the newest.
type collector struct {
	mu    sync.Mutex
	max   int
	found []Notification
	count int
	first error
}

func (c *collector) add(local []Notification) {
	if len(local) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count += len(local)
	c.found = append(c.found, local...)
	// At most twice what is shown is kept.
	if len(c.found) > 2*c.max {
		c.found = newest(c.found, c.max)
	}
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.first = cmp.Or(c.first, err)
}

// fetch gets the messages seqs from BUS, several at a time, and matches
// them.
func (p *Previewer) fetch(ctx context.Context, seqs []uint64, workers int, col *collector, match matchFunc) error {
	st, err := p.js.Stream(ctx, p.stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", p.stream, err)
	}
	next := make(chan uint64)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	// Fetches wait on the network: more of them than cores.
	for range max(16, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var matches []rules.Match
			var local []Notification
			for seq := range next {
				m, err := st.GetMsg(ctx, seq)
				if errors.Is(err, jetstream.ErrMsgNotFound) {
					continue // aged out since it was indexed
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				matches, local = match(cand{m.Subject, m.Header, m.Data, m.Sequence, m.Time}, matches, local)
			}
			col.add(local)
		}()
	}
	for _, seq := range seqs {
		select {
		case next <- seq:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("read %s: %w", p.stream, err)
	default:
	}
	return ctx.Err()
}

// What a scan holds at most: messages asked for and not yet handled, the
// bytes of one pull request, and the size of a chunk of work.
const (
	defaultScanBatch     = 256
	defaultScanPullBytes = 1 << 20
	scanChunkMsgs        = 64
	scanChunkBytes       = 256 << 10
)

// scanned is a message read by scan.
type scanned struct {
	msg jetstream.Msg
	seq uint64
	at  time.Time
}

// scan reads the window from BUS (streams.Scan), passes over what the
// prefilter rules out and matches the rest in parallel.
func (p *Previewer) scan(ctx context.Context, since time.Time, res *Result, pre *prefilter, workers int, col *collector, match matchFunc) error {
	sel := streams.Selection{Since: since, Subjects: res.Subjects}
	if len(res.Subjects) == 0 {
		res.Subjects = []string{wire.BusAll}
	}
	batch := cmp.Or(max(p.Batch, 0), defaultScanBatch)
	pullBytes := cmp.Or(max(p.PullBytes, 0), defaultScanPullBytes)
	if nc := p.js.Conn(); nc != nil {
		// Room for the largest message (with its subject and headers):
		// the server does not split one, and would answer none.
		pullBytes = max(pullBytes, int(nc.MaxPayload())+64<<10)
	}

	// The reader only pulls messages; the workers rule them out or parse
	// and match them. Chunks are small and few wait, so that a scan holds
	// little more than what it pulled: memory is bounded per preview, and
	// the number of previews by the limiter.
	chunks := make(chan []scanned, workers)
	var parsed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var matches []rules.Match
			var local []Notification
			for chunk := range chunks {
				for _, m := range chunk {
					subj := m.msg.Subject()
					if !pre.maybe(subj, m.msg.Headers(), m.msg.Data()) {
						continue
					}
					parsed.Add(1)
					matches, local = match(cand{subj, m.msg.Headers(), m.msg.Data(), m.seq, m.at}, matches, local)
				}
				col.add(local)
				local = local[:0]
			}
		})
	}

	chunk := make([]scanned, 0, scanChunkMsgs)
	read, chunkBytes := 0, 0
	err := streams.Scan(ctx, p.js, p.stream, sel, streams.ScanOptions{
		Batch: batch, PullBytes: pullBytes, InactiveThreshold: 30 * time.Second, MaxResetAttempts: 1,
	}, func(msg jetstream.Msg, md *jetstream.MsgMetadata) error {
		read++
		chunk = append(chunk, scanned{msg, md.Sequence.Stream, md.Timestamp})
		chunkBytes += len(msg.Data())
		if len(chunk) == scanChunkMsgs || chunkBytes >= scanChunkBytes {
			chunks <- chunk
			chunk, chunkBytes = make([]scanned, 0, scanChunkMsgs), 0
		}
		return nil
	})
	if len(chunk) > 0 {
		chunks <- chunk
	}
	close(chunks)
	wg.Wait()
	res.Parsed = int(parsed.Load())
	res.Messages = read
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.Complete = false
	case read == 0:
		return err
	default:
		res.Complete = false
	}
	return nil
}

// ErrLookups: the ownership lookups of an artifacts-owned rule failed.
var ErrLookups = errors.New("ownership lookups failed")

// newest sorts by stream sequence, newest first, and keeps n.
func newest(list []Notification, n int) []Notification {
	slices.SortFunc(list, func(a, b Notification) int {
		switch {
		case a.Seq > b.Seq:
			return -1
		case a.Seq < b.Seq:
			return 1
		}
		return strings.Compare(a.Protocol+a.Address, b.Protocol+b.Address)
	})
	if len(list) > n {
		list = list[:n]
	}
	return list
}

func previewLine(n *notification.Notification) string {
	if n.Line != "" {
		return n.Line
	}
	if n.Email != nil {
		return strings.TrimSpace(n.Email.Subject + " " + n.URL)
	}
	return ""
}

// subjectFilters narrows BUS to the subjects a rule's topic globs can
// match: none (all of BUS) when a generation rule has no topic filter;
// otherwise, per glob, the exact subject of a glob without wildcards or
// bus.<literal prefix up to its last dot>.> (a glob such as
// org.fedoraproject.prod.bodhi.* reads only Bodhi's subjects).
func subjectFilters(r rules.Rule) []string {
	var subs []string
	for _, g := range r.GenerationRules {
		t := g.Filters.Topic
		if t == nil || *t == "" {
			return nil
		}
		lit := *t
		if i := strings.IndexAny(lit, "*?["); i >= 0 {
			dot := strings.LastIndexByte(lit[:i], '.')
			if dot <= 0 {
				return nil
			}
			lit = lit[:dot+1] + ">"
		}
		if strings.ContainsAny(strings.TrimSuffix(lit, ">"), " \t\r\n*>") || strings.Contains(lit, "..") || strings.HasPrefix(lit, ".") {
			return nil
		}
		subs = append(subs, wire.BusPrefix+lit)
	}
	// JetStream refuses overlapping filters: keep only those no other one
	// covers.
	slices.Sort(subs)
	subs = slices.Compact(subs)
	var out []string
	for _, s := range subs {
		covered := false
		for _, o := range subs {
			if o != s && strings.HasSuffix(o, ".>") && strings.HasPrefix(s, strings.TrimSuffix(o, ">")) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	if len(out) > 16 {
		return nil
	}
	return out
}

// prefilter rules out messages that cannot match without parsing them.
type prefilter struct {
	// needles are the index key values of the rule; a message must hold
	// one of them. nil: no narrowing by content.
	needles [][]byte
	names   map[string]struct{}
	// chars holds the bytes of the needles, to recognise an escape
	// (\u00XX) that could hide one.
	chars [256]bool
	// globs are the topic filters when every generation rule has one.
	globs []*rules.Glob
}

func newPrefilter(keys []rules.Key, r rules.Rule) *prefilter {
	p := &prefilter{names: map[string]struct{}{}}
	seen := map[string]bool{}
	usable := len(keys) <= 64
	for _, k := range keys {
		if seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		// A name JSON may escape with a short escape cannot be found
		// verbatim; such rules are not narrowed by content.
		if k.Value == "" || strings.ContainsAny(k.Value, "\"\\/") {
			usable = false
		}
		p.needles = append(p.needles, []byte(k.Value))
		p.names[k.Value] = struct{}{}
		for i := 0; i < len(k.Value); i++ {
			p.chars[k.Value[i]] = true
		}
	}
	if !usable {
		p.needles = nil
	}
	for _, g := range r.GenerationRules {
		if g.Filters.Topic == nil || *g.Filters.Topic == "" {
			p.globs = nil
			break
		}
		glob, err := rules.CompileGlob(*g.Filters.Topic)
		if err != nil {
			p.globs = nil
			break
		}
		p.globs = append(p.globs, glob)
	}
	return p
}

// topicOK reports whether a topic passes one of the topic globs.
func (p *prefilter) topicOK(topic string) bool {
	return slices.ContainsFunc(p.globs, func(g *rules.Glob) bool { return g.Match(topic) })
}

var escU00 = []byte(`\u00`)

// maybe reports whether the message could match.
func (p *prefilter) maybe(subject string, h nats.Header, data []byte) bool {
	if p.globs != nil && !p.topicOK(strings.TrimPrefix(subject, wire.BusPrefix)) {
		return false
	}
	if p.needles == nil {
		return true
	}
	for _, n := range p.needles {
		if bytes.Contains(data, n) {
			return true
		}
	}
	// Names in headers are the keys fedora_messaging_<kind>_<name>.
	for k := range h {
		rest, ok := strings.CutPrefix(k, bus.FilterHeaderPrefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '_'); i >= 0 {
			if _, ok := p.names[rest[i+1:]]; ok {
				return true
			}
		}
	}
	// An ASCII character of a needle written as \u00XX would hide it.
	for rest := data; ; {
		i := bytes.Index(rest, escU00)
		if i < 0 || i+6 > len(rest) {
			return false
		}
		if c, ok := hexByte(rest[i+4], rest[i+5]); ok && p.chars[c] {
			return true
		}
		rest = rest[i+4:]
	}
}

func hexByte(a, b byte) (byte, bool) {
	h, ok1 := unhex(a)
	l, ok2 := unhex(b)
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
