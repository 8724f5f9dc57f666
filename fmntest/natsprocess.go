package fmntest

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSServerEnv names the nats-server binary (`make nats-server` builds
// the version fmn embeds) that a benchmark runs as a separate process, so
// that the CPU of its own process is fmn's alone and the server's is
// measured apart.
const NATSServerEnv = "FMN_BENCH_NATS_SERVER"

// NATSProfPortEnv names a port on which the separate nats-server of
// StartBenchNATS serves /debug/pprof (unset: none).
const NATSProfPortEnv = "FMN_BENCH_NATS_PROF_PORT"

// BenchNATS is a benchmark's JetStream server: the embedded one of
// StartNATS, or a separate nats-server process when NATSServerEnv is set.
type BenchNATS struct {
	*NATS
	// PID of the separate server; 0 when it is embedded.
	PID int
}

// StartBenchNATS starts the server NATSServerEnv asks for, with fmn's
// streams.
func StartBenchNATS(tb testing.TB) *BenchNATS {
	tb.Helper()
	bin := os.Getenv(NATSServerEnv)
	if bin == "" {
		return &BenchNATS{NATS: StartNATS(tb)}
	}
	dir := tb.TempDir()
	port := FreePort(tb)
	conf := filepath.Join(dir, "nats.conf")
	// The embedded server's options (streams.StartEmbedded), as a file.
	text := fmt.Sprintf("listen: \"127.0.0.1:%d\"\nmax_payload: %d\njetstream { store_dir: %q }\n", port, 8<<20, filepath.Join(dir, "js"))
	if p := os.Getenv(NATSProfPortEnv); p != "" {
		// The server's /debug/pprof, to profile it during a phase.
		text += "prof_port: " + p + "\n"
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	logf, err := os.Create(filepath.Join(dir, "nats-server.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%s=%s: %v", NATSServerEnv, bin, err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var nc *nats.Conn
	Eventually(tb, 10*time.Second, "the nats-server process accepts connections", func() bool {
		var err error
		nc, err = nats.Connect(url)
		return err == nil
	})
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := streams.Defaults()
	if err := streams.Ensure(Context(tb), js, cfg, Logger(tb, slog.LevelWarn)); err != nil {
		tb.Fatal(err)
	}
	return &BenchNATS{NATS: &NATS{URL: url, Conn: nc, JS: js, Streams: cfg}, PID: cmd.Process.Pid}
}

// Where says where the server runs, for a benchmark's output.
func (n *BenchNATS) Where() string {
	if n.PID == 0 {
		return "embedded in the benchmark process (" + NATSServerEnv + " unset): process CPU is fmn's and the server's"
	}
	return fmt.Sprintf("separate nats-server process %d: process CPU is fmn's alone", n.PID)
}

// ServerCPU is the CPU time the separate server process used so far (0
// when the server is embedded).
func (n *BenchNATS) ServerCPU() time.Duration {
	if n.PID == 0 {
		return 0
	}
	return ProcessCPU(n.PID)
}

// ProcessCPU is the user and system CPU time process pid used so far, from
// /proc (0 when it cannot be read).
func ProcessCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14 and stime 15, in clock ticks.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}
