package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cpuPerMsg is the CPU time a phase took per message: the benchmark
// process's and, when it runs apart, the nats-server process's.
type cpuPerMsg struct{ Fmn, Server time.Duration }

func (c cpuPerMsg) String() string {
	if c.Server == 0 {
		return fmt.Sprintf("%.1f µs CPU/msg", float64(c.Fmn)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.1f µs CPU/msg + nats-server %.1f µs", float64(c.Fmn)/float64(time.Microsecond), float64(c.Server)/float64(time.Microsecond))
}

// meterCPU starts measuring the CPU of a phase; the returned function ends
// it and divides by n messages. serverCPU reads a separate server's CPU
// time (nil: embedded).
func meterCPU(serverCPU func() time.Duration) func(n int) cpuPerMsg {
	f0 := cpuTime()
	var s0 time.Duration
	if serverCPU != nil {
		s0 = serverCPU()
	}
	return func(n int) cpuPerMsg {
		c := cpuPerMsg{Fmn: (cpuTime() - f0) / time.Duration(max(1, n))}
		if serverCPU != nil {
			c.Server = (serverCPU() - s0) / time.Duration(max(1, n))
		}
		return c
	}
}

// measureCeilingFanout is the raw JetStream ceiling of a router on this
// machine: consume → async republish with Nats-Msg-Id → ack after the
// PubAcks, with the same pipeline shape as the matcher but no parsing or
// matching. It copies the given messages into a stream of its own and
// republishes fanout[id] copies of each (by its Nats-Msg-Id; nil means one
// each, an id missing from the map none: an empty map is consume+ack
// alone), each with its own Nats-Msg-Id and a payload of size bytes (0:
// the message's own), and acks the message after all their PubAcks: the
// JetStream work of a matcher with that fan-out. It returns msgs/s and the
// CPU per message of the consuming part (serverCPU as in meterCPU). The
// streams it makes are deleted when it returns.
func measureCeilingFanout(tb testing.TB, nc *nats.Conn, msgs []*nats.Msg, fanout map[string]int, size, inFlight int, serverCPU func() time.Duration) (float64, cpuPerMsg) {
	tb.Helper()
	js, cleanup := ceilingStreams(tb, nc, inFlight)
	defer cleanup()
	stallWait := jetstream.WithStallWait(30 * time.Second)
	for i, m := range msgs {
		out := nats.NewMsg(ceilIn + m.Subject)
		out.Header = m.Header
		out.Data = m.Data
		if _, err := js.PublishMsgAsync(out, stallWait); err != nil {
			tb.Fatal(err)
		}
		if i%2000 == 0 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	cpu := meterCPU(serverCPU)
	start := time.Now()
	r := startRepublisher(tb, js, fanout, size, inFlight)
	deadline := time.Now().Add(20 * time.Minute)
	for r.acked.Load() < int64(len(msgs)) && !r.ended() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	if n := r.acked.Load(); n < int64(len(msgs)) {
		tb.Errorf("ceiling: %d of %d messages acked", n, len(msgs))
	}
	r.stop()
	return float64(len(msgs)) / elapsed.Seconds(), cpu(len(msgs))
}

// measureCeilingLatency is the latency floor beside the matcher's: the
// republisher of measureCeilingFanout, already consuming, gets msgs
// published at rate per second (paced as the matcher's latency phase is)
// from a load process (runLoad), whose core subscription sees each
// republished copy. It returns what the load process measured (the sorted
// publish→copy latencies, its hiccups) and how many copies were expected
// (the sum of fanout over msgs).
func measureCeilingLatency(tb testing.TB, url string, msgs []benchMsg, fanout map[string]int, size, inFlight, rate int) (loadResult, int) {
	tb.Helper()
	js, cleanup := ceilingStreams(tb, connect(tb, url), inFlight)
	defer cleanup()
	want := 0
	for _, bm := range msgs {
		want += fanout[bm.ID]
	}
	r := startRepublisher(tb, js, fanout, size, inFlight)
	defer r.stop()
	return runLoad(tb, loadSpec{URL: url, Rate: rate, Prefix: ceilIn, Tap: ceilOut + ">", IDFrom: "header",
		Want: want, Wait: time.Minute, Msgs: loadMsgs(msgs)}), want
}

// The ceilings' streams: the messages are copied into ceilin.<subject> and
// republished to ceilout.<n>.
const ceilIn, ceilOut = "ceilin.", "ceilout."

// ceilingStreams makes the ceilings' two streams and returns a JetStream
// context on nc for pipelined publishing, and a function deleting them.
func ceilingStreams(tb testing.TB, nc *nats.Conn, inFlight int) (jetstream.JetStream, func()) {
	tb.Helper()
	ctx := context.Background()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(inFlight))
	if err != nil {
		tb.Fatal(err)
	}
	names := []string{"CEILIN", "CEILOUT"}
	for _, sc := range []jetstream.StreamConfig{
		{Name: names[0], Subjects: []string{ceilIn + ">"}, Storage: jetstream.FileStorage},
		{Name: names[1], Subjects: []string{ceilOut + ">"}, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			tb.Fatal(err)
		}
	}
	return js, func() {
		for _, name := range names {
			if err := js.DeleteStream(ctx, name); err != nil {
				tb.Errorf("delete stream %s: %v", name, err)
			}
		}
	}
}

// republisher is the ceilings' router: a durable pull consumer on CEILIN
// whose messages are republished fanout[id] times each and acked once
// their PubAcks are in, in delivery order.
type republisher struct {
	acked atomic.Int64
	it    jetstream.MessagesContext
	acks  chan republished
	done  chan struct{} // closed when the consuming loop and the acker end
}

type republished struct {
	msg jetstream.Msg
	fs  []jetstream.PubAckFuture
}

// startRepublisher starts consuming CEILIN (see measureCeilingFanout for
// fanout and size).
func startRepublisher(tb testing.TB, js jetstream.JetStream, fanout map[string]int, size, inFlight int) *republisher {
	tb.Helper()
	cons, err := js.CreateOrUpdateConsumer(context.Background(), "CEILIN", jetstream.ConsumerConfig{
		Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20000,
	})
	if err != nil {
		tb.Fatal(err)
	}
	r := &republisher{acks: make(chan republished, inFlight), done: make(chan struct{})}
	r.it, err = cons.Messages(jetstream.PullMaxMessages(min(1000, inFlight)))
	if err != nil {
		tb.Fatal(err)
	}
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		for p := range r.acks {
			var failed bool
			for _, f := range p.fs {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					failed = err != nil
				}
			}
			if failed {
				_ = p.msg.Nak()
				continue
			}
			_ = p.msg.Ack()
			r.acked.Add(1)
		}
	}()
	go func() {
		defer close(r.done)
		defer func() { close(r.acks); <-ackerDone }()
		r.loop(tb, js, fanout, size)
	}()
	return r
}

func (r *republisher) loop(tb testing.TB, js jetstream.JetStream, fanout map[string]int, size int) {
	stallWait := jetstream.WithStallWait(30 * time.Second)
	payload := bytes.Repeat([]byte("x"), size)
	i := 0
	for {
		msg, err := r.it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// A starved server (a busy machine): the iterator pulls
			// again, as the consumer's does.
			continue
		}
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				tb.Error(err)
			}
			return
		}
		id := msg.Headers().Get("Nats-Msg-Id")
		k := 1
		if fanout != nil {
			k = fanout[id]
		}
		p := republished{msg: msg}
		// Wait for room rather than fail when the fan-out fills the
		// window, as the matcher does.
		for j := range k {
			out := nats.NewMsg(ceilOut + strconv.Itoa(i%16))
			out.Header.Set("Nats-Msg-Id", id+":email:"+strconv.Itoa(j))
			out.Data = msg.Data()
			if size > 0 {
				out.Data = payload
			}
			f, err := js.PublishMsgAsync(out, stallWait)
			if err != nil {
				tb.Error(err)
				return
			}
			p.fs = append(p.fs, f)
			i++
		}
		r.acks <- p
	}
}

// ended tells whether the consuming loop has stopped by itself (an error,
// reported to tb): nothing more will be acked.
func (r *republisher) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop stops consuming and waits until every republished message is acked
// (or nacked).
func (r *republisher) stop() {
	r.it.Stop()
	<-r.done
}
