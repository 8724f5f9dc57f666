package consumer

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

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// benchNATS is the benchmark's JetStream server: the embedded one of
// fmntest, or, with FMN_BENCH_NATS_SERVER set to a nats-server binary
// (`make nats-server` builds the version fmn embeds), a separate
// process, so that the benchmark's CPU figures are fmn's alone and the
// server's are measured apart.
type benchNATS struct {
	*fmntest.NATS
	// pid of the separate server; 0 when it is embedded.
	pid int
}

func startBenchNATS(tb testing.TB) *benchNATS {
	tb.Helper()
	bin := os.Getenv("FMN_BENCH_NATS_SERVER")
	if bin == "" {
		return &benchNATS{NATS: fmntest.StartNATS(tb)}
	}
	dir := tb.TempDir()
	port := fmntest.FreePort(tb)
	conf := filepath.Join(dir, "nats.conf")
	// The embedded server's options (streams.StartEmbedded), as a file.
	text := fmt.Sprintf("listen: \"127.0.0.1:%d\"\nmax_payload: %d\njetstream { store_dir: %q }\n", port, 8<<20, filepath.Join(dir, "js"))
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
		tb.Fatalf("FMN_BENCH_NATS_SERVER=%s: %v", bin, err)
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
	fmntest.Eventually(tb, 10*time.Second, "the nats-server process accepts connections", func() bool {
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
	if err := streams.Ensure(fmntest.Context(tb), js, cfg, fmntest.Logger(tb, slog.LevelWarn)); err != nil {
		tb.Fatal(err)
	}
	return &benchNATS{NATS: &fmntest.NATS{URL: url, Conn: nc, JS: js, Streams: cfg}, pid: cmd.Process.Pid}
}

// where says where the server runs, for the output.
func (n *benchNATS) where() string {
	if n.pid == 0 {
		return "embedded in the benchmark process (FMN_BENCH_NATS_SERVER unset): process CPU is fmn's and the server's"
	}
	return fmt.Sprintf("separate nats-server process %d: process CPU is fmn's alone", n.pid)
}

// serverCPUFunc is serverCPU for meterCPU: nil when the server is embedded.
func (n *benchNATS) serverCPUFunc() func() time.Duration {
	if n.pid == 0 {
		return nil
	}
	return n.serverCPU
}

// serverCPU is the CPU time the separate server process used so far (0
// when the server is embedded).
func (n *benchNATS) serverCPU() time.Duration {
	if n.pid == 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(n.pid) + "/stat")
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
