package consumer

import (
	"strings"
	"sync"

	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// slot is one message's place in the ack order: the acker takes slots in
// delivery order and waits on each until the worker that handles its
// message has filled it.
type slot struct {
	p    pending
	done chan struct{}
}

var slotPool = sync.Pool{New: func() any { return &slot{done: make(chan struct{}, 1)} }}

func newSlot() *slot { return slotPool.Get().(*slot) }

// fill hands the outcome of the message to the acker.
func (s *slot) fill(p pending) {
	s.p = p
	s.done <- struct{}{}
}

// wait returns the outcome once filled, and gives the slot back: nothing
// touches it after fill.
func (s *slot) wait() pending {
	<-s.done
	p := s.p
	s.p = pending{}
	slotPool.Put(s)
	return p
}

// job is a message handed to a worker with the slot it fills.
type job struct {
	msg jetstream.Msg
	s   *slot
}

// dispatcher hands the messages of the in-flight window to the workers
// and keeps the guarantees of serial handling:
//
//   - a message that changes access (changesAccess) waits until every
//     earlier message is handled, then is handled alone before any later
//     one starts: the re-indexing it causes (Matcher.Observe) is applied
//     before any later message is matched, and no earlier message sees it;
//   - each message gets its slot in the ack order before it is handed
//     out, so acks follow delivery order and the window (the acks
//     channel's capacity) bounds the messages between fetch and ack;
//   - a message is acked only after every PubAck of its notifications
//     (the acker waits on them), and each notification keeps its
//     Nats-Msg-Id: what serial handling publishes, in another order.
//
// With one worker, it handles each message on the consuming goroutine.
type dispatcher struct {
	c    *Consumer
	pub  *publisher
	acks chan<- *slot
	jobs chan job
	// busy counts messages handed to workers and not yet handled.
	busy    sync.WaitGroup
	workers sync.WaitGroup
}

func (c *Consumer) newDispatcher(pub *publisher, acks chan<- *slot) *dispatcher {
	d := &dispatcher{c: c, pub: pub, acks: acks}
	if c.cfg.Workers > 1 {
		d.jobs = make(chan job, c.cfg.Workers)
		for range c.cfg.Workers {
			d.workers.Go(d.work)
		}
	}
	return d
}

func (d *dispatcher) work() {
	for j := range d.jobs {
		j.s.fill(d.c.handle(d.pub, j.msg))
		d.busy.Done()
	}
}

// dispatch hands msg to a worker, or handles it here (one worker, or an
// access change after every earlier message).
func (d *dispatcher) dispatch(msg jetstream.Msg) {
	s := newSlot()
	d.acks <- s
	if d.jobs == nil {
		s.fill(d.c.handle(d.pub, msg))
		return
	}
	if changesAccess(msg.Subject()) {
		d.busy.Wait()
		s.fill(d.c.handle(d.pub, msg))
		return
	}
	d.busy.Add(1)
	d.jobs <- job{msg, s}
}

// close lets the workers finish the messages handed to them and stop.
func (d *dispatcher) close() {
	if d.jobs != nil {
		close(d.jobs)
		d.workers.Wait()
	}
}

// changesAccess tells whether a bus message on subject may change who owns
// what or an account (the pagure ACL and FAS messages Matcher.Observe
// applies): one that must be applied before any later message is matched.
func changesAccess(subject string) bool {
	topic, ok := strings.CutPrefix(subject, wire.BusPrefix)
	return ok && directory.Relevant(topic)
}
