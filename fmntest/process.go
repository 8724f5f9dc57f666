package fmntest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// processEnv names, in a process StartProcess started, the test that the
// process is to run as its body.
const processEnv = "FMN_TEST_PROCESS"

// Process is the test binary run again as a separate process (a consumer,
// a sender), so that a test can kill it with SIGKILL and start another.
// Its output goes to the test log; it is killed when the test ends.
type Process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
}

// StartProcess runs this test binary again with only the test body (a
// test function that calls RunProcess) and env added to the environment.
// name prefixes its lines in the log.
func StartProcess(t testing.TB, name, body string, env ...string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+body+"$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), processEnv+"="+body), env...)
	out := &prefixWriter{w: NewLogWriter(t), prefix: name + ": "}
	cmd.Stdout, cmd.Stderr = out, out
	// The process watches its stdin: when this one dies, so does it.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Kill(t) })
	return p
}

// RunProcess is the body of a test function that StartProcess names: in
// the test binary's own run it returns at once; in a started process it
// runs fn until the process is killed, and exits 2 when fn fails.
func RunProcess(t *testing.T, fn func() error) {
	if os.Getenv(processEnv) != t.Name() {
		return
	}
	go func() { // the parent holds our stdin: when it is gone, so are we
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	if err := fn(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", t.Name(), err)
		os.Exit(2)
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill process %d: %v", p.cmd.Process.Pid, err)
	}
	<-p.done
	_ = p.stdin.Close()
}

// Wait waits until the process ends by itself (a body that returns) and
// returns its error: nil when it exited 0.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Exited is an error when the process has ended by itself.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("process %d exited: %v", p.cmd.Process.Pid, p.err)
	default:
		return nil
	}
}

// State is the ended process's state (nil while it runs).
func (p *Process) State() *os.ProcessState {
	select {
	case <-p.done:
		return p.cmd.ProcessState
	default:
		return nil
	}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for l := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		if _, err := p.w.Write([]byte(p.prefix + l)); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
