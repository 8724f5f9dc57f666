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
	ctx := context.Background()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(inFlight))
	if err != nil {
		tb.Fatal(err)
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: "CEILIN", Subjects: []string{"ceilin.>"}, Storage: jetstream.FileStorage},
		{Name: "CEILOUT", Subjects: []string{"ceilout.>"}, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			tb.Fatal(err)
		}
	}
	defer func() {
		for _, name := range []string{"CEILIN", "CEILOUT"} {
			if err := js.DeleteStream(ctx, name); err != nil {
				tb.Errorf("delete stream %s: %v", name, err)
			}
		}
	}()
	stallWait := jetstream.WithStallWait(30 * time.Second)
	for i, m := range msgs {
		out := nats.NewMsg("ceilin." + m.Subject)
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
	cons, err := js.CreateOrUpdateConsumer(ctx, "CEILIN", jetstream.ConsumerConfig{
		Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20000,
	})
	if err != nil {
		tb.Fatal(err)
	}
	type pend struct {
		msg jetstream.Msg
		fs  []jetstream.PubAckFuture
	}
	var acked atomic.Int64
	acks := make(chan pend, inFlight)
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		for p := range acks {
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
			acked.Add(1)
		}
	}()
	cpu := meterCPU(serverCPU)
	start := time.Now()
	it, err := cons.Messages(jetstream.PullMaxMessages(min(1000, inFlight)))
	if err != nil {
		tb.Fatal(err)
	}
	total := int64(len(msgs))
	go func() {
		for acked.Load() < total {
			time.Sleep(time.Millisecond)
		}
		it.Stop()
	}()
	payload := bytes.Repeat([]byte("x"), size)
	i := 0
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// A starved server (a busy machine): the iterator pulls
			// again, as the consumer's does.
			continue
		}
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				tb.Fatal(err)
			}
			break
		}
		id := msg.Headers().Get("Nats-Msg-Id")
		k := 1
		if fanout != nil {
			k = fanout[id]
		}
		p := pend{msg: msg}
		// Wait for room rather than fail when the fan-out fills the
		// window, as the matcher does.
		for j := range k {
			out := nats.NewMsg("ceilout." + strconv.Itoa(i%16))
			out.Header.Set("Nats-Msg-Id", id+":email:"+strconv.Itoa(j))
			out.Data = msg.Data()
			if size > 0 {
				out.Data = payload
			}
			f, err := js.PublishMsgAsync(out, stallWait)
			if err != nil {
				tb.Fatal(err)
			}
			p.fs = append(p.fs, f)
			i++
		}
		acks <- p
	}
	elapsed := time.Since(start)
	close(acks)
	<-ackerDone
	return float64(total) / elapsed.Seconds(), cpu(len(msgs))
}
