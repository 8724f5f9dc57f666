package irc_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/irc"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/streams"
)

// The failover test runs its IRC senders as child processes: the test
// binary started again with these variables set runs irc.Run instead of
// the tests, until it is killed.
const (
	childEnv     = "FMN_IRC_TEST_CHILD"
	childNATSEnv = "FMN_IRC_TEST_NATS_URL"
	childIRCEnv  = "FMN_IRC_TEST_IRC_URL"
)

// The child's lease and retry settings: short, so that the test takes
// seconds.
var (
	childLease   = lease.Config{TTL: 2 * time.Second, Renew: 500 * time.Millisecond, Poll: 100 * time.Millisecond}
	childAckWait = 2 * time.Second
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(runChild(name))
	}
	os.Exit(m.Run())
}

// runChild is one sender process, as `fmn serve --roles sender-irc` runs
// it, named name in the lease.
func runChild(name string) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("process", name)
	fail := func(err error) int {
		logger.Error("child failed", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	nc, err := nats.Connect(os.Getenv(childNATSEnv), nats.MaxReconnects(-1))
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	cfg, err := irc.NewConfig(os.Getenv(childIRCEnv))
	if err != nil {
		return fail(err)
	}
	lc := childLease
	lc.Holder = name
	opts := senders.Options{
		MaxDeliver: 20, AckWait: childAckWait,
		BackOff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond},
	}
	if err := irc.Run(ctx, js, streams.Defaults(), cfg, lc, opts, nil, logger); err != nil {
		return fail(err)
	}
	return 0
}

// child is a sender process started by the test.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startChild(t *testing.T, name, natsURL, ircURL string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, childNATSEnv+"="+natsURL, childIRCEnv+"="+ircURL)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() || os.Getenv("FMN_IRC_TEST_SHOW") != "" {
			out, _ := os.ReadFile(logPath)
			t.Logf("--- process %s:\n%s", name, out)
		}
	})
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

// TestFailover runs two sender processes; the one holding the lease is
// killed (SIGKILL, no goodbye) with notifications queued and in flight; the
// other takes over and delivers everything.
func TestFailover(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	d := startIRCd(t, ircdOptions{})
	alice := d.connectClient(t, "alice")
	ircURL := d.url(true, botNick, botPass, "rate=50&burst=20&connect_wait=2s")
	lc := childLease
	lc.Key = irc.LeaseKey
	holder := func() string { return senderstest.LeaseHolder(t, n.JS, lc) }

	a := startChild(t, "A", n.URL, ircURL)
	fmntest.Eventually(t, 10*time.Second, "A holds the lease", func() bool { return holder() == "A" })
	b := startChild(t, "B", n.URL, ircURL)

	var want []string
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			line := fmt.Sprintf("[koji] build %d done", i)
			want = append(want, line)
			senderstest.Publish(t, n, irc.Channel, sample(fmt.Sprint("f", i), "alice", line))
		}
	}
	publish(0, 5)
	alice.waitReceived(t, 5, 15*time.Second)
	if h := holder(); h != "A" {
		t.Fatalf("lease held by %q while A sends", h)
	}

	publish(5, 10)
	a.kill(t)
	killed := time.Now()
	publish(10, 15)

	fmntest.Eventually(t, 20*time.Second, "every notification at alice", func() bool {
		got := texts(alice.received())
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	if h := holder(); h != "B" {
		t.Errorf("lease held by %q after A died, want B", h)
	}
	senderstest.Settled(t, n, irc.Channel)
	got := texts(alice.received())
	if dups := len(got) - len(want); dups > 1 {
		t.Errorf("%d duplicates, want at most the one in flight when A died: %q", dups, got)
	}
	for _, m := range alice.received() {
		if m.From != botNick {
			t.Errorf("message from %q", m.From)
		}
	}
	if dl := senderstest.DeadLetters(t, n, irc.Channel); len(dl) != 0 {
		t.Errorf("%d dead letters", len(dl))
	}
	select {
	case <-b.done:
		t.Error("B exited")
	default:
	}
	t.Logf("B delivered the rest %s after A was killed (lease TTL %s, ack wait %s)", took.Round(time.Millisecond), childLease.TTL, childAckWait)
}
