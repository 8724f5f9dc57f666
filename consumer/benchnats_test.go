package consumer

import (
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
)

// benchNATS is the benchmark's JetStream server: the embedded one of
// fmntest, or, with FMN_BENCH_NATS_SERVER set to a nats-server binary
// (`make nats-server` builds the version fmn embeds), a separate
// process, so that the benchmark's CPU figures are fmn's alone and the
// server's are measured apart (fmntest.StartBenchNATS).
type benchNATS struct{ *fmntest.BenchNATS }

func startBenchNATS(tb testing.TB) *benchNATS {
	tb.Helper()
	return &benchNATS{fmntest.StartBenchNATS(tb)}
}

// where says where the server runs, for the output.
func (n *benchNATS) where() string { return n.Where() }

// serverCPUFunc is serverCPU for meterCPU: nil when the server is embedded.
func (n *benchNATS) serverCPUFunc() func() time.Duration {
	if n.PID == 0 {
		return nil
	}
	return n.serverCPU
}

// serverCPU is the CPU time the separate server process used so far (0
// when the server is embedded).
func (n *benchNATS) serverCPU() time.Duration { return n.ServerCPU() }
