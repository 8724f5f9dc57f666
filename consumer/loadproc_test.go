package consumer

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The latency phases' load (the paced publisher and the subscription
// timing the notifications) runs in a process of its own, as the bus and
// the senders do in a deployment: in the benchmark's process, receiving
// every notification (nats.go copies each one and its headers) was more
// than half of what the process allocated during the phase, and so set
// off about half of fmn's GC cycles there, each of which the
// notifications then waited behind. The load process is this test
// binary, run for TestLoadProcess.

// loadSpec is what the load process is asked to do: publish Msgs at Rate
// per second (each subject after Prefix), and time the copies arriving
// on Tap until Want have come or Wait has passed since the last publish.
type loadSpec struct {
	URL    string
	Rate   int
	Prefix string
	Tap    string
	// IDFrom says where an arriving copy names its message: "json" (the
	// notification's message_id) or "header" (Nats-Msg-Id, up to
	// ":email:", as the ceilings' republisher sets it).
	IDFrom string
	Want   int
	Wait   time.Duration
	Msgs   []loadMsg
}

type loadMsg struct {
	ID, Subject string
	Header      nats.Header
	Data        []byte
}

// loadResult is what the load process measured. Latencies are sorted.
type loadResult struct {
	Sent      int
	Took      time.Duration
	Start     time.Time // the first publish, wall clock
	Latencies []time.Duration
	// Slowest are the slowest few messages (one sample each), slowest
	// first, to see whether they bunch.
	Slowest []loadSample
	// Hiccups are the load process's own stops while it ran: a thread
	// sleeping 1ms at a time and woken more than hiccupOver late (Lat is
	// how late, At when, after Start): waits for a core (or of the VM for
	// its host) that every process here shares. Notifications slowed at
	// the same moments waited with it.
	Hiccups []loadSample
	Err     string
}

// hiccupOver is the lateness from which a wake-up counts as a hiccup.
const hiccupOver = 2 * time.Millisecond

type loadSample struct {
	Lat time.Duration
	At  time.Duration // the publish, after Start
	ID  string
}

const (
	loadSpecEnv = "FMN_BENCH_LOAD_SPEC"
	loadOutEnv  = "FMN_BENCH_LOAD_OUT"
)

// runLoad runs spec in a load process and returns what it measured.
func runLoad(tb testing.TB, spec loadSpec) loadResult {
	tb.Helper()
	dir := tb.TempDir()
	specPath, outPath := filepath.Join(dir, "spec.gob"), filepath.Join(dir, "result.gob")
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(spec); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(specPath, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), loadSpecEnv+"="+specPath, loadOutEnv+"="+outPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("load process: %v\n%s", err, out)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		tb.Fatalf("load process: no result: %v\n%s", err, out)
	}
	var res loadResult
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&res); err != nil {
		tb.Fatalf("load process: %v", err)
	}
	if res.Err != "" {
		tb.Fatalf("load process: %s", res.Err)
	}
	return res
}

// loadMsgs is msgs as a load process publishes them.
func loadMsgs(msgs []benchMsg) []loadMsg {
	out := make([]loadMsg, len(msgs))
	for i, m := range msgs {
		out[i] = loadMsg{ID: m.ID, Subject: m.Msg.Subject, Header: m.Msg.Header, Data: m.Msg.Data}
	}
	return out
}

// TestLoadProcess is the load process of runLoad; it does nothing in a
// test run.
func TestLoadProcess(t *testing.T) {
	specPath, outPath := os.Getenv(loadSpecEnv), os.Getenv(loadOutEnv)
	if specPath == "" || outPath == "" {
		t.Skip("the benchmarks' load process (runLoad)")
	}
	res := func() (res loadResult) {
		data, err := os.ReadFile(specPath)
		if err != nil {
			return loadResult{Err: err.Error()}
		}
		var spec loadSpec
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&spec); err != nil {
			return loadResult{Err: err.Error()}
		}
		defer func() {
			if r := recover(); r != nil {
				res = loadResult{Err: fmt.Sprint(r)}
			}
		}()
		return generateLoad(t, spec)
	}()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(res); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// generateLoad is the load process's work.
func generateLoad(tb testing.TB, spec loadSpec) loadResult {
	index := make(map[string]int, len(spec.Msgs))
	msgs := make([]benchMsg, len(spec.Msgs))
	for i, m := range spec.Msgs {
		index[m.ID] = i
		msgs[i] = benchMsg{ID: m.ID, Msg: &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}}
	}
	idOf := func(msg *nats.Msg) string {
		id, _, _ := strings.Cut(msg.Header.Get("Nats-Msg-Id"), ":email:")
		return id
	}
	if spec.IDFrom == "json" {
		// The ids are near the start and need no unescaping: reading them
		// directly keeps the tap from lagging behind a burst.
		idOf = func(msg *nats.Msg) string { return jsonField(msg.Data, `"message_id":"`) }
	}
	pubAt := make([]atomic.Int64, len(msgs))
	var (
		mu      sync.Mutex
		lats    = make([]time.Duration, 0, spec.Want)
		slowest []loadSample
		base    = time.Now() // the monotonic clock's origin for pubAt
	)
	tap := connect(tb, spec.URL)
	sub, err := tap.Subscribe(spec.Tap, func(msg *nats.Msg) {
		at := time.Since(base)
		i, ok := index[idOf(msg)]
		if !ok {
			return
		}
		pub := time.Duration(pubAt[i].Load())
		lat := at - pub
		mu.Lock()
		defer mu.Unlock()
		lats = append(lats, lat)
		id := msgs[i].ID
		if slices.ContainsFunc(slowest, func(s loadSample) bool { return s.ID == id }) ||
			(len(slowest) == 8 && lat <= slowest[7].Lat) {
			return
		}
		slowest = append(slowest, loadSample{Lat: lat, At: pub, ID: id})
		slices.SortFunc(slowest, func(a, b loadSample) int { return int(b.Lat - a.Lat) })
		slowest = slowest[:min(len(slowest), 8)]
	})
	if err != nil {
		tb.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := tap.Flush(); err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	stopHiccups := watchHiccups(start)
	sent, took := pacedPublish(tb, connect(tb, spec.URL), msgs, spec.Rate, func(i int) {
		pubAt[i].Store(int64(time.Since(base)))
	}, spec.Prefix)
	deadline := time.Now().Add(spec.Wait)
	for {
		mu.Lock()
		got := len(lats)
		mu.Unlock()
		if got >= spec.Want || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = sub.Unsubscribe()
	hiccups := stopHiccups()
	mu.Lock()
	defer mu.Unlock()
	res := loadResult{Sent: sent, Took: took, Start: start, Latencies: slices.Clone(lats), Slowest: slowest, Hiccups: hiccups}
	slices.Sort(res.Latencies)
	offset := start.Sub(base)
	for i := range res.Slowest {
		res.Slowest[i].At -= offset
	}
	return res
}

// watchHiccups records, until stopped, each time a thread of its own that
// sleeps 1ms at a time wakes more than hiccupOver late (a jHiccup-style
// meter), with the time after start.
func watchHiccups(start time.Time) (stop func() []loadSample) {
	var (
		quit = make(chan struct{})
		done = make(chan []loadSample)
	)
	go func() {
		runtime.LockOSThread()
		var out []loadSample
		for {
			select {
			case <-quit:
				done <- out
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(time.Millisecond)
			if late := time.Since(t0) - time.Millisecond; late > hiccupOver {
				out = append(out, loadSample{Lat: late, At: t0.Sub(start)})
			}
		}
	}()
	return func() []loadSample {
		close(quit)
		return <-done
	}
}

// hiccupSummary is how many hiccups there were, the longest, and when the
// five longest came (after the phase's start: offset is the load's start
// after it; a negative offset leaves the times out).
func hiccupSummary(h []loadSample, offset time.Duration) string {
	if len(h) == 0 {
		return fmt.Sprintf("none over %s", hiccupOver)
	}
	h = slices.Clone(h)
	slices.SortFunc(h, func(a, b loadSample) int { return int(b.Lat - a.Lat) })
	var total time.Duration
	for _, x := range h {
		total += x.Lat
	}
	s := fmt.Sprintf("%d over %s, %s in all, max %s", len(h), hiccupOver, total.Round(100*time.Microsecond), h[0].Lat.Round(100*time.Microsecond))
	if offset < 0 {
		return s
	}
	var at []string
	for _, x := range h[:min(len(h), 5)] {
		at = append(at, fmt.Sprintf("%s@%.2fs", x.Lat.Round(100*time.Microsecond), (offset+x.At).Seconds()))
	}
	return s + " (" + strings.Join(at, " ") + ")"
}

// maxHiccup is the longest of h (0 without any).
func maxHiccup(h []loadSample) time.Duration {
	var m time.Duration
	for _, x := range h {
		m = max(m, x.Lat)
	}
	return m
}
