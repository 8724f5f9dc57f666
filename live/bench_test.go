package live_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/live"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/wire"
)

// BenchmarkStreams holds FMN_BENCH_STREAMS (default 1000) streams of
// different users open on one hub and HTTP server, as one API process
// does. It reports bytes/stream, the memory the process grows by per open
// stream (heap and goroutine stacks, the raw-TCP client's goroutine and
// buffer included, so an upper bound for the server); ns/op, p50-ms and
// p99-ms, the delivery latency of one notification from its publish to
// NOTIFY to its event read by the client; and burst-p50-ms, burst-p99-ms
// and burst-ms for one notification to every connected user at once. Run:
//
//	go test ./live -run '^$' -bench Streams -benchtime 2000x
//	FMN_BENCH_STREAMS=8000 go test ./live -run '^$' -bench Streams -benchtime 2000x
func BenchmarkStreams(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("FMN_BENCH_STREAMS")); err == nil && v > 0 {
		n = v
	}
	bd := setup(b, live.HubConfig{})
	u, _ := url.Parse(bd.http.URL)

	// arrivals[i] receives the latency of each event user i reads.
	arrivals := make([]chan time.Duration, n)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		arrivals[i] = make(chan time.Duration, 4)
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			b.Fatalf("stream %d: %v", i, err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		fmt.Fprintf(conn, "GET /u%d HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", i, u.Host)
		ch := arrivals[i]
		go readLatencies(conn, ch)
	}
	deadline := time.Now().Add(60 * time.Second)
	for bd.hub.Stats.Streams.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d streams open", bd.hub.Stats.Streams.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)

	publish := func(user string) {
		nt := notification.Notification{Protocol: "sse", Address: user, User: user, Summary: "bench",
			CreatedAt: time.Now()}
		data, _ := json.Marshal(nt)
		if _, err := bd.nats.JS.PublishAsync(wire.NotifySSESubject(user), data); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(i int) time.Duration {
		select {
		case d := <-arrivals[i]:
			return d
		case <-time.After(30 * time.Second):
			b.Fatalf("user %d got nothing within 30s", i)
		}
		return 0
	}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		k := i % n
		publish("u" + strconv.Itoa(k))
		lat = append(lat, wait(k))
	}
	b.StopTimer()

	start := time.Now()
	for i := range n {
		publish("u" + strconv.Itoa(i))
	}
	burst := make([]time.Duration, n)
	for i := range n {
		burst[i] = wait(i)
	}
	burstAll := time.Since(start)

	b.ReportMetric(float64(n), "streams")
	b.ReportMetric(grown/float64(n), "bytes/stream")
	b.ReportMetric(pct(lat, 50), "p50-ms")
	b.ReportMetric(pct(lat, 99), "p99-ms")
	b.ReportMetric(pct(burst, 50), "burst-p50-ms")
	b.ReportMetric(pct(burst, 99), "burst-p99-ms")
	b.ReportMetric(float64(burstAll)/1e6, "burst-ms")
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100]) / 1e6
}

// readLatencies reads a raw HTTP/1.1 event stream (chunked) and sends the
// age of each event's notification. Chunk-size lines never start with
// "data: ", so the lines need no de-chunking.
func readLatencies(conn net.Conn, out chan<- time.Duration) {
	r := bufio.NewReaderSize(conn, 1024)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		v, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var it struct {
			CreatedAt time.Time `json:"created_at"`
		}
		if json.Unmarshal([]byte(v), &it) == nil {
			out <- time.Since(it.CreatedAt)
		}
	}
}
