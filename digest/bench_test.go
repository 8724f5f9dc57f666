package digest_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/digest"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/wire"
)

// BenchmarkDigestFlush: one flush of 10,000 held notifications for 1,000
// destinations (10 each, every digest due by count), sent through the
// real SMTP peer: the time of the flush, and the memory it allocates.
//
//	go test -run '^$' -bench BenchmarkDigestFlush -benchtime 1x ./digest/
func BenchmarkDigestFlush(b *testing.B) {
	const destinations, each = 1000, 10
	n := fmntest.StartNATS(b)
	r := fmntest.StartSMTP(b, relayUser, relayPass)
	src := &settings{}
	for d := range destinations {
		src.set(delivery.Setting{Protocol: "email", Address: fmt.Sprintf("u%d@example.org", d), Digest: every(3600, each)})
	}
	s := emailSender(b, r)
	marks := senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{})
	ajs, err := jetstream.New(n.Conn, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	for i := range b.N {
		b.StopTimer()
		for k := range each {
			for d := range destinations {
				x := held(fmt.Sprintf("%d-%d-%d", i, d, k), fmt.Sprintf("u%d@example.org", d))
				data, err := json.Marshal(x)
				if err != nil {
					b.Fatal(err)
				}
				m := nats.NewMsg(wire.DigestSubject("email", x.User, x.Address))
				m.Data = data
				if _, err := ajs.PublishMsgAsync(m, jetstream.WithMsgID(x.ID)); err != nil {
					b.Fatal(err)
				}
			}
		}
		select {
		case <-ajs.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("holding the notifications took over a minute")
		}
		f := digest.New(n.JS, n.Streams, s, src, marks, site(), digest.Options{}, nil)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		rd, err := f.Flush(fmntest.Context(b))
		b.StopTimer()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		peak = max(peak, after.HeapInuse)
		if err != nil {
			b.Fatal(err)
		}
		if rd.Digests != destinations || rd.Notifications != destinations*each {
			b.Fatalf("round %+v", rd)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-inuse-after-MiB")
	b.ReportMetric(float64(len(r.Mails()))/float64(b.N), "mails/op")
}
