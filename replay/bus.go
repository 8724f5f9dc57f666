package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// BusOptions say what to replay from BUS and through which rules.
type BusOptions struct {
	// Stream is the BUS stream's name (default streams.Defaults().Bus).
	Stream string
	Selection
	// Topic is a shell-style glob (as the rules' topic filter) the topic
	// must match.
	Topic string
	// MessageIDs selects messages by id; the replay ends once each was
	// found.
	MessageIDs []string
	// Rules is the rule set to match with: the projection's or a file's.
	Rules []rules.Rule
	// Lookups answers dist-git ownership; nil leaves artifacts-owned and
	// artifacts-group-owned rules without matches (and says so in
	// explanations).
	Lookups rules.Lookups
	// Render makes the notifications (BusMessage.Notifications) as the
	// consumer would, with Site; without it a replay only says who would
	// get what, which is several times faster.
	Render bool
	Site   notification.Site
	// Explain lists the rules whose verdict to explain for every message.
	Explain []int64
	// Progress, when set, counts the messages read.
	Progress *Progress
	// Parser parses the messages (zero: the default limits and schemas).
	Parser bus.Parser
	// Log receives the rule set's warnings (rules that do not compile).
	Log *slog.Logger
}

// BusMessage is one replayed message and what the rules made of it.
type BusMessage struct {
	Seq     uint64
	Stored  time.Time
	Subject string
	ID      string
	// Parsed is nil when the message cannot be parsed (Err says why): the
	// consumer dead-letters such messages.
	Parsed *bus.Parsed
	Err    error
	// Matches are the notifications the consumer would publish now, one
	// per destination, each naming every rule that produced it.
	Matches []Match
	// Notifications are the Matches rendered (BusOptions.Render only).
	Notifications []*notification.Notification
	// Explanations are the verdicts of BusOptions.Explain's rules.
	Explanations []rules.Explanation
}

// BusReport sums up a replay.
type BusReport struct {
	// Read is every message read from the stream; Selected those that
	// passed the topic and id selection; Matched those that yielded a
	// notification; Invalid those that do not parse.
	Read, Selected, Matched, Invalid uint64
	Notifications                    uint64
	// Rules is the number of enabled rules matched with.
	Rules   int
	Elapsed time.Duration
	// Missing lists the MessageIDs not found.
	Missing []string
}

// Rate is the messages read per second.
func (r BusReport) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Read) / r.Elapsed.Seconds()
}

// Bus reads BUS history as the selection says, matches every selected
// message against the rule set as the consumer does (candidates by index,
// then the exact check of package rules), and calls fn with the result. It publishes nothing and changes no state: the rule
// set is held in memory, and reading uses an ordered consumer. fn may
// keep the BusMessage.
func Bus(ctx context.Context, js jetstream.JetStream, o BusOptions, fn func(*BusMessage) error) (BusReport, error) {
	var rep BusReport
	if o.Stream == "" {
		o.Stream = streams.Defaults().Bus
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var glob *rules.Glob
	sel := o.Selection
	if o.Topic != "" {
		var err error
		if glob, err = rules.CompileGlob(o.Topic); err != nil {
			return rep, fmt.Errorf("topic %q: %w", o.Topic, err)
		}
		if len(sel.Subjects) == 0 {
			if s := TopicSubject(o.Topic); s != "" {
				sel.Subjects = []string{s}
			}
		}
	}
	idx, err := newRuleIndex(ctx, o.Rules, o.Lookups, log)
	if err != nil {
		return rep, err
	}
	rep.Rules = idx.Len()
	explain := make([]*rules.Compiled, 0, len(o.Explain))
	for _, id := range o.Explain {
		i := slices.IndexFunc(o.Rules, func(r rules.Rule) bool { return r.ID == id })
		if i < 0 {
			return rep, fmt.Errorf("rule %d is not in the rule set", id)
		}
		c, err := rules.Compile(o.Rules[i])
		if err != nil {
			return rep, err
		}
		explain = append(explain, c)
	}
	want := map[string]bool{}
	for _, id := range o.MessageIDs {
		want[id] = false
	}
	found := 0
	start := time.Now()
	// Lazy: the texts are derived only for what is rendered or explained.
	parser := o.Parser
	parser.Lazy = true
	pl := newPipeline(ctx, runtime.GOMAXPROCS(0), func(bm *BusMessage, raw jetstream.Msg) {
		p, err := parser.ParseAt(raw.Subject(), raw.Headers(), raw.Data(), bm.Stored)
		if err != nil {
			bm.Err = err
			return
		}
		bm.Parsed = p
		bm.Matches, err = idx.Match(ctx, nil, p, o.Lookups)
		if err != nil {
			// A lookup failed; the consumer would retry.
			bm.Err = err
		}
		if o.Render {
			now := time.Now().UTC()
			for _, x := range bm.Matches {
				bm.Notifications = append(bm.Notifications, notification.Render(p, x.User, x.Destination, x.RuleIDs, o.Site, now))
			}
		}
		for _, c := range explain {
			bm.Explanations = append(bm.Explanations, c.Explain(ctx, p, o.Lookups))
		}
	}, func(bm *BusMessage) error {
		if bm.Parsed == nil {
			rep.Invalid++
		}
		if len(bm.Matches) > 0 {
			rep.Matched++
			rep.Notifications += uint64(len(bm.Matches))
		}
		return fn(bm)
	})
	err = streams.Scan(pl.ctx, js, o.Stream, sel, streams.ScanOptions{Progress: o.Progress}, func(msg jetstream.Msg, md *jetstream.MsgMetadata) error {
		rep.Read++
		id := msg.Headers().Get(wire.HeaderMsgID)
		if len(want) > 0 {
			seen, ok := want[id]
			if !ok {
				return nil
			}
			if !seen {
				want[id] = true
				found++
			}
		}
		if glob != nil && !glob.Match(strings.TrimPrefix(msg.Subject(), wire.BusPrefix)) {
			return nil
		}
		rep.Selected++
		pl.add(&BusMessage{Seq: md.Sequence.Stream, Stored: md.Timestamp, Subject: msg.Subject(), ID: id}, msg)
		if len(want) > 0 && found == len(want) {
			return streams.ErrStopScan
		}
		return nil
	})
	if perr := pl.close(); perr != nil {
		// The consumer of the results failed first; the scan only saw
		// its cancellation.
		err = perr
	}
	rep.Elapsed = time.Since(start)
	for _, id := range o.MessageIDs {
		if !want[id] {
			rep.Missing = append(rep.Missing, id)
		}
	}
	return rep, err
}

// pipeline parses and matches messages on several workers and hands the
// results over in stream order. Messages travel in batches, so that the
// channels cost little per message.
type pipeline struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	work   chan *batch
	order  chan *batch
	cur    *batch
	wg     sync.WaitGroup
	done   chan struct{}
	err    error
}

type batch struct {
	msgs []*BusMessage
	raw  []jetstream.Msg
	done chan struct{}
}

const batchSize = 128

func newPipeline(ctx context.Context, workers int, process func(*BusMessage, jetstream.Msg), deliver func(*BusMessage) error) *pipeline {
	pctx, cancel := context.WithCancelCause(ctx)
	pl := &pipeline{ctx: pctx, cancel: cancel, work: make(chan *batch, 2*workers), order: make(chan *batch, 4*workers),
		done: make(chan struct{})}
	for range max(workers, 1) {
		pl.wg.Go(func() {
			for b := range pl.work {
				for i, bm := range b.msgs {
					process(bm, b.raw[i])
				}
				b.raw = nil
				close(b.done)
			}
		})
	}
	go func() {
		defer close(pl.done)
		for b := range pl.order {
			select {
			case <-b.done:
			case <-pctx.Done():
				continue
			}
			if pl.err != nil {
				continue
			}
			for _, bm := range b.msgs {
				if err := deliver(bm); err != nil {
					pl.err = err
					cancel(err)
					break
				}
			}
		}
	}()
	return pl
}

func (pl *pipeline) add(bm *BusMessage, raw jetstream.Msg) {
	if pl.cur == nil {
		pl.cur = &batch{msgs: make([]*BusMessage, 0, batchSize), raw: make([]jetstream.Msg, 0, batchSize), done: make(chan struct{})}
	}
	pl.cur.msgs = append(pl.cur.msgs, bm)
	pl.cur.raw = append(pl.cur.raw, raw)
	if len(pl.cur.msgs) == batchSize {
		pl.flush()
	}
}

func (pl *pipeline) flush() {
	b := pl.cur
	if b == nil {
		return
	}
	pl.cur = nil
	select {
	case pl.order <- b:
	case <-pl.ctx.Done():
		return
	}
	select {
	case pl.work <- b:
	case <-pl.ctx.Done():
	}
}

// close hands over what is left, waits for every result and returns the
// error of deliver, if any.
func (pl *pipeline) close() error {
	pl.flush()
	close(pl.work)
	close(pl.order)
	pl.wg.Wait()
	<-pl.done
	pl.cancel(nil)
	return pl.err
}

// TopicSubject returns a NATS filter subject that holds every BUS subject
// whose topic can match glob, so the server filters what it can: the
// exact subject of a literal topic, or the tokens before the first
// wildcard followed by ">". It returns "" when no filter narrows it down.
func TopicSubject(glob string) string {
	lit := glob
	if i := strings.IndexAny(glob, "*?[\\"); i >= 0 {
		lit = glob[:i]
	} else if glob != "" && !strings.ContainsAny(glob, ">") {
		return wire.BusPrefix + glob
	}
	dot := strings.LastIndexByte(lit, '.')
	if dot <= 0 || strings.ContainsAny(lit[:dot], "*> ") || strings.Contains(lit[:dot], "..") {
		return ""
	}
	return wire.BusPrefix + lit[:dot] + ".>"
}

// LoadRules reads a rule set from a file: a JSON array of rules in FMN v3's
// shape, one rule, or one rule per line. Every rule needs its owner
// (user.name); rules without an id get one above the highest given.
func LoadRules(r io.Reader) ([]rules.Rule, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	var list []rules.Rule
	if len(data) > 0 && data[0] == '[' {
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("not a list of rules: %w", err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var r rules.Rule
			err := dec.Decode(&r)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("rule %d: %w", len(list)+1, err)
			}
			list = append(list, r)
		}
	}
	var top int64
	for i, r := range list {
		if r.User.Name == "" {
			return nil, fmt.Errorf("rule %d (%q): no user.name", i+1, r.Name)
		}
		top = max(top, r.ID)
	}
	seen := map[int64]bool{}
	for i := range list {
		if list[i].ID == 0 {
			top++
			list[i].ID = top
		}
		if seen[list[i].ID] {
			return nil, fmt.Errorf("rule id %d appears twice", list[i].ID)
		}
		seen[list[i].ID] = true
	}
	return list, nil
}
