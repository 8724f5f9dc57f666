package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The API benchmark's load comes from a separate process (this test
// binary run again), so that the benchmark process's CPU and allocations
// are fmn's alone and the clients do not share its heap and scheduler.

// loadPlan is what the load process sends.
type loadPlan struct {
	URL string `json:"url"`
	// Requests are sent in turn, from the first again after the last.
	Requests []loadRequest `json:"requests"`
	// Rate is the open loop's requests per second, each sent at its
	// scheduled time whatever the answers before it; 0: a closed loop of
	// Clients, each sending its next request when the last is answered.
	Rate float64 `json:"rate"`
	// Clients bounds the connections (and requests in flight) of either
	// loop: in the open loop, a request that finds all of them busy waits,
	// and the wait counts in its latency.
	Clients int `json:"clients"`
	// N requests are measured after Warmup unmeasured ones, at the same
	// rate.
	N      int `json:"n"`
	Warmup int `json:"warmup"`
}

type loadRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Token  string `json:"token"`
	Body   []byte `json:"body,omitempty"`
}

// loadResult is what the load process measured.
type loadResult struct {
	// Latency of each measured request, in the order they were scheduled:
	// from its scheduled send time (open loop: no coordinated omission),
	// or from its send (closed loop), until its answer was read.
	Latency []time.Duration `json:"latency"`
	// Elapsed is from the first measured request's schedule to the last
	// answer.
	Elapsed time.Duration `json:"elapsed"`
	// Lag is how late the open loop sent a request after its scheduled
	// time, at most: the load process's own lateness, in the latencies.
	Lag time.Duration `json:"lag"`
	// CPU is the load process's own, for all its requests.
	CPU      time.Duration `json:"cpu"`
	Failed   int           `json:"failed"`
	Failures []string      `json:"failures,omitempty"`
}

const loadPlanEnv = "FMN_BENCH_API_LOAD_PLAN"

// TestAPILoadProcess does nothing unless runLoad started it, and then
// sends the load of the plan FMN_BENCH_API_LOAD_PLAN names and writes
// what it measured next to it.
func TestAPILoadProcess(t *testing.T) {
	fmntest.RunProcess(t, func() error {
		path := os.Getenv(loadPlanEnv)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var p loadPlan
		if err := json.Unmarshal(data, &p); err != nil {
			return err
		}
		res := sendLoad(p)
		out, err := json.Marshal(res)
		if err != nil {
			return err
		}
		return os.WriteFile(path+".result", out, 0o600)
	})
}

// sendLoad runs plan p: its warmup, then its measured requests.
func sendLoad(p loadPlan) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: p.Clients, MaxConnsPerHost: p.Clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var (
		mu  sync.Mutex
		res = loadResult{Latency: make([]time.Duration, p.N)}
	)
	send := func(i int) {
		r := p.Requests[i%len(p.Requests)]
		req, err := http.NewRequest(r.Method, p.URL+r.Path, bytes.NewReader(r.Body))
		if err == nil {
			if r.Body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer "+r.Token)
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		}
		if err != nil {
			mu.Lock()
			if res.Failed++; len(res.Failures) < 5 {
				res.Failures = append(res.Failures, fmt.Sprintf("%s %s: %v", r.Method, r.Path, err))
			}
			mu.Unlock()
		}
	}
	cpu0 := processCPU()
	total := p.Warmup + p.N
	var wg sync.WaitGroup
	var start time.Time
	if p.Rate > 0 {
		type job struct {
			i  int
			at time.Time
		}
		jobs := make(chan job, total)
		for range p.Clients {
			wg.Go(func() {
				for j := range jobs {
					send(j.i)
					if k := j.i - p.Warmup; k >= 0 {
						res.Latency[k] = time.Since(j.at)
					}
				}
			})
		}
		interval := float64(time.Second) / p.Rate
		t0 := time.Now()
		start = t0.Add(time.Duration(float64(p.Warmup) * interval))
		for i := range total {
			at := t0.Add(time.Duration(float64(i) * interval))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			} else if i >= p.Warmup {
				res.Lag = max(res.Lag, -d)
			}
			jobs <- job{i, at}
		}
		close(jobs)
	} else {
		var next atomic.Int64
		for range p.Clients {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= total {
						return
					}
					if i == p.Warmup {
						start = time.Now()
					}
					t0 := time.Now()
					send(i)
					if k := i - p.Warmup; k >= 0 {
						res.Latency[k] = time.Since(t0)
					}
				}
			})
		}
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.CPU = processCPU() - cpu0
	return res
}

// processCPU is the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleCPU is what fmn's process and the separate nats-server use per
// second doing nothing.
type idleCPU struct{ fmn, server time.Duration }

func (c idleCPU) String() string {
	s := fmt.Sprintf("fmn %.1f ms", float64(c.fmn.Microseconds())/1000)
	if c.server > 0 {
		s += fmt.Sprintf(", nats-server %.1f ms", float64(c.server.Microseconds())/1000)
	}
	return s
}

// loadFigures are a load's figures, the benchmark process's (fmn's) and
// the separate nats-server's per request among them.
type loadFigures struct {
	loadResult
	requests                   int // measured and warmup
	fmnCPU, serverCPU, loadCPU time.Duration
	// pgCPU is the PostgreSQL backends' of fmn's connections.
	pgCPU time.Duration
	// fmnBusy and serverBusy are fmnCPU and serverCPU less the idle
	// CPU of the load's wall time.
	fmnBusy, serverBusy            time.Duration
	fmnBytes, fmnAllocs            float64
	gcCycles                       uint32
	p50, p99, p999, maxLat, perSec float64
}

// runLoad sends plan p from a separate process and measures this
// process meanwhile. The process's start and end are in the window: their
// idle time adds little to fmn's CPU per request.
//
// With FMN_BENCH_API_PROFILE set to a directory, the load's CPU profile
// goes to <dir>/<name>.cpu, and heap profiles before and after it to
// <name>.heap0 and <name>.heap1 (its allocations: go tool pprof
// -sample_index=alloc_space -diff_base <name>.heap0 <name>.heap1).
func runLoad(b *testing.B, name string, p loadPlan, n *fmntest.BenchNATS, pg *pgxpool.Pool, idle idleCPU) loadFigures {
	b.Helper()
	stopProfile := profileLoad(b, name)
	path := filepath.Join(b.TempDir(), "plan.json")
	data, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	pg0 := backendCPU(b, pg)
	cpu0, srv0, t0 := processCPU(), n.ServerCPU(), time.Now()
	b.ResetTimer()
	proc := fmntest.StartProcess(b, "load", "TestAPILoadProcess", loadPlanEnv+"="+path)
	if err := proc.Wait(); err != nil {
		b.Fatalf("load process: %v", err)
	}
	b.StopTimer()
	cpu1, srv1, wall := processCPU(), n.ServerCPU(), time.Since(t0)
	stopProfile()
	var pgCPU time.Duration
	for pid, c := range backendCPU(b, pg) {
		pgCPU += c - pg0[pid]
	}
	runtime.ReadMemStats(&ms1)
	if data, err = os.ReadFile(path + ".result"); err != nil {
		b.Fatal(err)
	}
	var f loadFigures
	if err := json.Unmarshal(data, &f.loadResult); err != nil {
		b.Fatal(err)
	}
	if f.Failed > 0 {
		b.Fatalf("%d of %d requests failed: %v", f.Failed, p.Warmup+p.N, f.Failures)
	}
	f.requests = p.Warmup + p.N
	writeLatencies(b, name, p, f.Latency)
	per := time.Duration(f.requests)
	f.fmnCPU, f.serverCPU, f.loadCPU, f.pgCPU = (cpu1-cpu0)/per, (srv1-srv0)/per, f.CPU/per, pgCPU/per
	f.fmnBusy = max(0, cpu1-cpu0-time.Duration(wall.Seconds()*float64(idle.fmn))) / per
	f.serverBusy = max(0, srv1-srv0-time.Duration(wall.Seconds()*float64(idle.server))) / per
	f.fmnBytes = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(f.requests)
	f.fmnAllocs = float64(ms1.Mallocs-ms0.Mallocs) / float64(f.requests)
	f.gcCycles = ms1.NumGC - ms0.NumGC
	lat := slices.Clone(f.Latency)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	// Nearest rank: the smallest latency that q of the requests do not
	// exceed.
	pct := func(q float64) float64 {
		k := int(q*float64(len(lat))+0.999999) - 1
		return ms(lat[min(max(k, 0), len(lat)-1)])
	}
	f.p50, f.p99, f.p999, f.maxLat = pct(0.50), pct(0.99), pct(0.999), ms(lat[len(lat)-1])
	f.perSec = float64(p.N) / f.Elapsed.Seconds()
	b.ReportMetric(f.perSec, "req/s")
	b.ReportMetric(f.p50, "p50-ms")
	b.ReportMetric(f.p99, "p99-ms")
	b.ReportMetric(f.p999, "p99.9-ms")
	b.ReportMetric(f.maxLat, "max-ms")
	b.ReportMetric(float64(f.fmnCPU.Microseconds()), "fmn-µs/req")
	if n.PID != 0 {
		b.ReportMetric(float64(f.serverCPU.Microseconds()), "nats-µs/req")
	}
	b.ReportMetric(float64(f.pgCPU.Microseconds()), "pg-µs/req")
	b.ReportMetric(float64(f.loadCPU.Microseconds()), "client-µs/req")
	// Per request, in place of the framework's per run.
	b.ReportMetric(f.fmnBytes, "B/op")
	b.ReportMetric(f.fmnAllocs, "allocs/op")
	return f
}

// backendCPU is the CPU time of the PostgreSQL backend of each idle
// connection of pool (all of them between loads), by process id.
func backendCPU(b *testing.B, pool *pgxpool.Pool) map[uint32]time.Duration {
	conns := pool.AcquireAllIdle(context.Background())
	cpu := make(map[uint32]time.Duration, len(conns))
	for _, c := range conns {
		pid := c.Conn().PgConn().PID()
		cpu[pid] = fmntest.ProcessCPU(int(pid))
		c.Release()
	}
	return cpu
}

// profileLoad starts the profiles runLoad describes; the function returned
// stops them.
// writeLatencies writes, with FMN_BENCH_API_PROFILE set, each measured
// request's latency to <dir>/<name>.latency, a line each: its scheduled
// time from the first one (open loop; its index in the closed loop) and
// its latency, in milliseconds, to see when the slow ones came.
func writeLatencies(b *testing.B, name string, p loadPlan, lat []time.Duration) {
	dir := os.Getenv("FMN_BENCH_API_PROFILE")
	if dir == "" {
		return
	}
	var buf bytes.Buffer
	for i, l := range lat {
		at := float64(i)
		if p.Rate > 0 {
			at = float64(i) * 1000 / p.Rate
		}
		fmt.Fprintf(&buf, "%.3f %.3f\n", at, float64(l.Microseconds())/1000)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".latency"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
}

func profileLoad(b *testing.B, name string) func() {
	dir := os.Getenv("FMN_BENCH_API_PROFILE")
	if dir == "" {
		return func() {}
	}
	heap := func(suffix string) {
		f, err := os.Create(filepath.Join(dir, name+suffix))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
	heap(".heap0")
	f, err := os.Create(filepath.Join(dir, name+".cpu"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	// With FMN_BENCH_API_TRACE set too, an execution trace of the load
	// goes to <name>.trace (go tool trace).
	var tf *os.File
	if os.Getenv("FMN_BENCH_API_TRACE") != "" {
		if tf, err = os.Create(filepath.Join(dir, name+".trace")); err != nil {
			b.Fatal(err)
		}
		if err := trace.Start(tf); err != nil {
			b.Fatal(err)
		}
	}
	return func() {
		if tf != nil {
			trace.Stop()
			tf.Close()
		}
		pprof.StopCPUProfile()
		f.Close()
		heap(".heap1")
	}
}

// verdict says whether got meets the aim of staying under aim.
func verdict(got, aim float64) string {
	if got < aim {
		return "met"
	}
	return "MISSED"
}

// summary is one line of figures for the log.
func (f loadFigures) summary() string {
	s := fmt.Sprintf("%.0f req/s; p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; CPU per request: fmn %d µs (%d less idle)",
		f.perSec, f.p50, f.p99, f.p999, f.maxLat, f.fmnCPU.Microseconds(), f.fmnBusy.Microseconds())
	if f.serverCPU > 0 {
		s += fmt.Sprintf(", nats-server %d µs (%d less idle)", f.serverCPU.Microseconds(), f.serverBusy.Microseconds())
	}
	s += fmt.Sprintf(", PostgreSQL %d µs, load client %d µs; fmn allocations %.0f (%.1f KB) per request, %d GC cycles",
		f.pgCPU.Microseconds(), f.loadCPU.Microseconds(), f.fmnAllocs, f.fmnBytes/1000, f.gcCycles)
	if f.Lag > 0 {
		s += fmt.Sprintf("; sends at most %.2f ms late", float64(f.Lag.Microseconds())/1000)
	}
	return s
}
