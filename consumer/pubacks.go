package consumer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// publisher publishes the matcher's notifications to JetStream without
// waiting, and tells a bus message's acker when every one of its
// publishes is stored. It does what nats.go's PublishMsgAsync and its
// PubAckFutures do for this one use, with less per publish: that
// machinery (a future with two lazily made channels, each taken under
// the JetStream context's lock, options and a stall timer per publish,
// the PubAck decoded by encoding/json) was a quarter of the matcher's
// CPU in the worst case. Here a bus message's publishes share one
// ackGroup, a PubAck is recognised by its first bytes (anything else is
// decoded in full), and the wait for room is a semaphore.
//
// The guarantees are those of the futures it replaces: a message is done
// only when every publish has its positive PubAck; a negative one (an
// error, "no responders" while a stream has no leader, an answer that is
// not a PubAck) or none within timeout (a connection lost, a node gone)
// fails the group, and the message is redelivered (Nats-Msg-Id keeps the
// retry from storing anything twice).
type publisher struct {
	nc      *nats.Conn
	prefix  string // the reply subjects' prefix: an inbox of its own, then "."
	sub     *nats.Subscription
	timeout time.Duration
	stall   time.Duration
	// room holds a token per publish awaiting its PubAck: at most its
	// capacity are.
	room chan struct{}

	mu    sync.Mutex
	next  uint64
	waits map[uint64]pubWait

	quit chan struct{}
	done chan struct{}
}

// pubWait is a publish awaiting its PubAck.
type pubWait struct {
	g  *ackGroup
	at int64 // when it was published, in unix nanoseconds
}

// ackGroup collects the PubAcks of one bus message's publishes.
type ackGroup struct {
	// left counts the publishes awaiting their PubAck, plus one until
	// seal: the group cannot complete while publishes are being added.
	left atomic.Int32
	mu   sync.Mutex
	err  error
	done chan struct{}
}

func newAckGroup() *ackGroup {
	g := &ackGroup{done: make(chan struct{})}
	g.left.Store(1)
	return g
}

// seal says that no more publishes are added.
func (g *ackGroup) seal() { g.finish(nil) }

// finish records the outcome of one publish (or seal).
func (g *ackGroup) finish(err error) {
	if err != nil {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
	}
	if g.left.Add(-1) == 0 {
		close(g.done)
	}
}

// wait blocks until every publish of the sealed group has its outcome and
// returns the first error.
func (g *ackGroup) wait() error {
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// errPubAckTimeout fails a publish whose PubAck did not come in time.
var errPubAckTimeout = errors.New("no PubAck in time")

// newPublisher subscribes to the replies and starts the timeout sweep.
// pending bounds the publishes awaiting a PubAck; a publish waits up to
// stall for room.
func newPublisher(nc *nats.Conn, pending int, timeout, stall time.Duration) (*publisher, error) {
	p := &publisher{
		nc:      nc,
		prefix:  nc.NewInbox() + ".",
		timeout: timeout,
		stall:   stall,
		room:    make(chan struct{}, pending),
		waits:   make(map[uint64]pubWait, pending),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	sub, err := nc.Subscribe(p.prefix+"*", p.reply)
	if err != nil {
		return nil, fmt.Errorf("subscribe to PubAcks: %w", err)
	}
	// The handler keeps up (no I/O, a map lookup); a slow consumer would
	// drop PubAcks and fail their messages after timeout.
	_ = sub.SetPendingLimits(-1, -1)
	p.sub = sub
	go p.sweep()
	return p, nil
}

// publish sends m with a reply subject of its own and adds it to g. m's
// Reply is overwritten. An error means nothing was added.
func (p *publisher) publish(m *nats.Msg, g *ackGroup) error {
	select {
	case p.room <- struct{}{}:
	default:
		t := time.NewTimer(p.stall)
		select {
		case p.room <- struct{}{}:
			t.Stop()
		case <-t.C:
			return fmt.Errorf("%d publishes await their PubAck after %s: %w", cap(p.room), p.stall, nats.ErrTimeout)
		}
	}
	g.left.Add(1)
	p.mu.Lock()
	id := p.next
	p.next++
	p.waits[id] = pubWait{g: g, at: time.Now().UnixNano()}
	p.mu.Unlock()
	m.Reply = p.prefix + strconv.FormatUint(id, 36)
	if err := p.nc.PublishMsg(m); err != nil {
		if p.take(id) {
			g.left.Add(-1) // never zero here: seal holds one
		}
		return err
	}
	return nil
}

// take removes the wait for id and frees its room; false when it was gone
// (answered, or timed out, already).
func (p *publisher) take(id uint64) bool {
	p.mu.Lock()
	_, ok := p.waits[id]
	delete(p.waits, id)
	p.mu.Unlock()
	if ok {
		<-p.room
	}
	return ok
}

// reply handles a PubAck.
func (p *publisher) reply(m *nats.Msg) {
	token := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	id, err := strconv.ParseUint(token, 36, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	w, ok := p.waits[id]
	delete(p.waits, id)
	p.mu.Unlock()
	if !ok {
		return // timed out already: its group failed
	}
	<-p.room
	w.g.finish(pubAckError(m))
}

// pubAckPrefix starts every positive PubAck: the server writes the error,
// when there is one, before the stream.
var pubAckPrefix = []byte(`{"stream":`)

// pubAckError is nil for a positive PubAck, else why the publish failed.
func pubAckError(m *nats.Msg) error {
	if len(m.Data) == 0 {
		if st := m.Header.Get("Status"); st != "" {
			if st == "503" {
				return fmt.Errorf("publish to %s: %w", m.Subject, nats.ErrNoResponders)
			}
			return fmt.Errorf("publish: status %s %s", st, m.Header.Get("Description"))
		}
		return errors.New("publish: empty PubAck")
	}
	if bytes.HasPrefix(m.Data, pubAckPrefix) {
		return nil
	}
	var ack struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Stream string `json:"stream"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return fmt.Errorf("publish: not a PubAck: %w", err)
	}
	if ack.Error != nil {
		return fmt.Errorf("publish: %s (code %d, error %d)", ack.Error.Description, ack.Error.Code, ack.Error.ErrCode)
	}
	if ack.Stream == "" {
		return errors.New("publish: PubAck without a stream")
	}
	return nil
}

// sweep fails, every quarter of the timeout, the publishes that waited
// longer than it.
func (p *publisher) sweep() {
	defer close(p.done)
	tick := time.NewTicker(max(p.timeout/4, time.Millisecond))
	defer tick.Stop()
	var expired []pubWait
	for {
		select {
		case <-p.quit:
			return
		case <-tick.C:
		}
		cutoff := time.Now().Add(-p.timeout).UnixNano()
		expired = expired[:0]
		p.mu.Lock()
		for id, w := range p.waits {
			if w.at <= cutoff {
				expired = append(expired, w)
				delete(p.waits, id)
			}
		}
		p.mu.Unlock()
		for _, w := range expired {
			<-p.room
			w.g.finish(fmt.Errorf("publish: %w after %s", errPubAckTimeout, p.timeout))
		}
	}
}

// close stops the sweep and the replies; a publish still awaiting its
// PubAck then never completes, so close comes after the last wait.
func (p *publisher) close() {
	close(p.quit)
	<-p.done
	_ = p.sub.Unsubscribe()
}
