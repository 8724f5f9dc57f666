// Command fmn-chaos is fmn's fault suite: it runs fmn as production does —
// a 3-node JetStream cluster of real nats-server processes with R3
// streams, every role its own `fmn serve` process, PostgreSQL and Redis of
// its own, an SMTP sink — puts a workload with exactly known deliveries
// through it, injects one fault per trial and counts what arrived: missing
// and duplicated emails, the longest stall, and the statistics projection
// against what was really generated. `make chaos` builds and runs it; see
// README.md, "Fault suite".
//
// Everything listens on 127.0.0.1. Every process it starts is in its own
// process group and is ended by that id on exit, Ctrl-C included; the
// temporary directory is removed (unless -keep).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

type harness struct {
	fmnBin, natsBin string
	dir             string
	pgTemplate      string
	n               int
	rate            float64
	drain           time.Duration
	procs           *procs
	ports           *ports
	sink            *sink
	trialStart      time.Time

	mu      sync.Mutex
	systems []*system
}

type result struct {
	name                         string
	check                        bool // a configuration check, not a workload
	expected, delivered, missing int
	duplicated, extra            int
	maxStall                     time.Duration
	statsCounted, statsReal      int64
	statsOff                     int64
	statsKnown                   bool
	deliveryOff                  bool // delivery_stats disagree with the relay (marked * in the row)
	elapsed                      time.Duration
	notes                        []string
	changed                      []string // dlq-replicas: streams whose replicas changed
	err                          error
	skipped                      string
}

func main() {
	os.Exit(run())
}

func run() int {
	h := &harness{}
	var only string
	var keep bool
	var budget time.Duration
	flag.StringVar(&h.fmnBin, "fmn", "bin/fmn", "the fmn binary under test")
	flag.StringVar(&h.natsBin, "nats-server", "bin/nats-server", "nats-server binary (make chaos builds it from the version in go.mod)")
	flag.IntVar(&h.n, "messages", 5000, "bus messages per trial (half of them yield an email)")
	flag.Float64Var(&h.rate, "rate", 200, "messages per second")
	flag.DurationVar(&h.drain, "drain", 60*time.Second, "how long to wait for the last emails once publishing and the fault are over")
	flag.DurationVar(&budget, "budget", 15*time.Minute, "time bound of the whole run: trials that would not fit are skipped")
	flag.StringVar(&only, "trials", "", "comma-separated trial names to run (default: all)")
	flag.BoolVar(&keep, "keep", false, "keep the temporary directory (logs of every process) and print its path")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: fmn-chaos [flags]\n\nTrials:\n")
		for _, t := range trials() {
			fmt.Fprintf(os.Stderr, "  %-18s %s\n", t.name, t.what)
		}
		fmt.Fprintln(os.Stderr, "\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	for _, p := range []*string{&h.fmnBin, &h.natsBin} {
		abs, err := filepath.Abs(*p)
		if err == nil {
			*p = abs
		}
		if _, err := os.Stat(*p); err != nil {
			fmt.Fprintf(os.Stderr, "fmn-chaos: %v (make chaos builds it)\n", err)
			return 2
		}
	}
	var list []trial
	for _, t := range trials() {
		if only == "" || slices.Contains(strings.Split(only, ","), t.name) {
			list = append(list, t)
		}
	}
	if len(list) == 0 {
		fmt.Fprintf(os.Stderr, "fmn-chaos: no trial named in -trials %q\n", only)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	begin := time.Now()

	dir, err := os.MkdirTemp("", "fmn-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fmn-chaos:", err)
		return 1
	}
	_ = os.Chmod(dir, 0o755) // PostgreSQL runs as its own user and must reach its directory
	h.dir = dir
	h.procs = newProcs()
	h.ports = newPorts(rand.IntN(8000))
	defer func() {
		// Everything this run started, by process group; then the files.
		h.procs.killAll()
		h.mu.Lock()
		for _, s := range h.systems {
			if s.pg != nil {
				cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				if err := s.pg.stop(cctx, "immediate"); err != nil {
					s.pg.kill()
				}
				cancel()
			}
		}
		h.mu.Unlock()
		if keep {
			fmt.Printf("chaos: logs kept in %s\n", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	sinkPort, err := h.ports.get()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fmn-chaos:", err)
		return 1
	}
	if h.sink, err = newSink(fmt.Sprintf("127.0.0.1:%d", sinkPort)); err != nil {
		fmt.Fprintln(os.Stderr, "fmn-chaos: SMTP sink:", err)
		return 1
	}
	defer h.sink.stop()
	if h.pgTemplate, err = pgTemplate(ctx, dir, h.ports); err != nil {
		fmt.Fprintln(os.Stderr, "fmn-chaos: PostgreSQL:", err)
		return 1
	}

	natsVersion := strings.TrimSpace(commandOutput(h.natsBin, "--version"))
	fmnVersion := strings.TrimSpace(commandOutput(h.fmnBin, "version"))
	fmt.Printf("chaos: %s against a 3-node JetStream cluster (%s), R3 streams, 6 role processes, PostgreSQL 15, Redis, SMTP sink; loopback only\n", fmnVersion, natsVersion)
	fmt.Printf("chaos: per trial %d bus messages at %.0f/s (every other one emails one of %d users); budget %s; logs in %s\n\n",
		h.n, h.rate, ruleUsers, budget, dir)

	fmt.Printf(rowFormat, "trial", "expected", "delivered", "missing", "duplicated", "max stall", "stats counted/real", "elapsed")
	var results []result
	perTrial := time.Duration(float64(h.n)/h.rate*float64(time.Second)) + 75*time.Second
	for _, t := range list {
		if ctx.Err() != nil {
			break
		}
		var r result
		switch {
		case t.check == nil && time.Since(begin)+perTrial > budget:
			r = result{name: t.name, skipped: fmt.Sprintf("skipped: %s left of the %s budget, a trial needs about %s", (budget - time.Since(begin)).Round(time.Second), budget, perTrial.Round(time.Second))}
		default:
			start := time.Now()
			fmt.Fprintf(os.Stderr, "chaos: %s: %s …\n", t.name, t.what)
			if t.check != nil {
				r = t.check(ctx, h)
			} else {
				r = h.runTrial(ctx, t)
			}
			r.elapsed = time.Since(start)
			if ctx.Err() != nil {
				r = result{name: t.name, skipped: "interrupted"}
			}
		}
		results = append(results, r)
		printRow(os.Stdout, r)
	}
	if ctx.Err() != nil {
		fmt.Println("chaos: interrupted; cleaning up")
	}

	var trialsRun, notifications, lost, dup, statsOff, errs, changed int
	for _, r := range results {
		if r.skipped != "" {
			continue
		}
		trialsRun++
		if r.err != nil {
			errs++
		}
		notifications += r.expected
		lost += r.missing
		dup += r.duplicated
		statsOff += int(r.statsOff)
		changed += len(r.changed)
	}
	fmt.Println()
	if changed > 0 {
		fmt.Printf("chaos: %d stream(s) changed by a command that is not a server\n", changed)
	}
	if errs > 0 {
		fmt.Printf("chaos: %d trial(s) could not run to the end (harness or setup error, see above)\n", errs)
	}
	fmt.Printf("chaos: total %s\n", time.Since(begin).Round(time.Second))
	fmt.Printf("chaos: %d trials, %d notifications, %d lost, %d duplicated, %d statistics off\n",
		trialsRun, notifications, lost, dup, statsOff)
	if ctx.Err() != nil {
		return 130
	}
	if errs > 0 {
		return 2
	}
	if lost > 0 || dup > 0 || statsOff > 0 || changed > 0 {
		return 1
	}
	return 0
}

func commandOutput(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return bin + " (version unknown)"
	}
	return string(out)
}

var rowMu sync.Mutex

const rowFormat = "%-18s %8s %9s %7s %10s %9s %18s %7s\n"

func printRow(w io.Writer, r result) {
	rowMu.Lock()
	defer rowMu.Unlock()
	el := fmt.Sprintf("%ds", int(r.elapsed.Round(time.Second).Seconds()))
	switch {
	case r.skipped != "":
		fmt.Fprintf(w, rowFormat, r.name, "-", "-", "-", "-", "-", "-", "-")
	case r.check:
		verdict := "unchanged"
		if len(r.changed) > 0 {
			verdict = "CHANGED"
		}
		if r.err != nil {
			verdict = "error"
		}
		fmt.Fprintf(w, rowFormat, r.name, "-", "-", "-", "-", "-", "replicas "+verdict, el)
	default:
		stats := "?"
		if r.statsKnown {
			stats = fmt.Sprintf("%d/%d", r.statsCounted, r.statsReal)
			if r.deliveryOff {
				stats += "*"
			}
		}
		fmt.Fprintf(w, rowFormat, r.name, fmt.Sprint(r.expected), fmt.Sprint(r.delivered), fmt.Sprint(r.missing),
			fmt.Sprint(r.duplicated), fmt.Sprintf("%.1fs", r.maxStall.Seconds()), stats, el)
	}
	if r.skipped != "" {
		fmt.Fprintf(w, "    %s\n", r.skipped)
	}
	if r.err != nil {
		fmt.Fprintf(w, "    ERROR: %v\n", r.err)
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "    %s\n", n)
	}
}
