package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process: its own process group (so that a signal
// reaches everything it started and nothing else), its output in a log
// file, and optionally a line on its standard output that says it is ready.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	exitAt  time.Time
	done    chan struct{}
	ready   chan struct{}
	err     error // exit status, once done is closed

	mu       sync.Mutex
	intended bool // the harness stopped or killed it on purpose
}

// procs keeps every process the harness started, so that cleanup ends them
// all (by process group id, never by name), even after Ctrl-C.
type procs struct {
	mu   sync.Mutex
	live map[*proc]struct{}
}

func newProcs() *procs { return &procs{live: map[*proc]struct{}{}} }

type startOpts struct {
	dir   string
	env   []string
	cred  *syscall.Credential
	ready string // substring of an output line meaning "ready"; "" for none
}

// start runs argv with its output appended to logPath.
func (ps *procs) start(name, logPath string, argv []string, o startOpts) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "==== %s start %s: %s\n", time.Now().Format("15:04:05.000"), name, strings.Join(argv, " "))
	p := &proc{name: name, logPath: logPath, done: make(chan struct{}), ready: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.dir
	cmd.Env = o.env
	w := &lineWatch{w: f, match: o.ready, ready: p.ready}
	if o.ready == "" {
		close(p.ready)
		w.match = ""
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: o.cred}
	if err := spawn(cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.cmd, p.started = cmd, time.Now()
	ps.mu.Lock()
	ps.live[p] = struct{}{}
	ps.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		p.exitAt = time.Now()
		fmt.Fprintf(f, "==== %s exit %s: %v\n", time.Now().Format("15:04:05.000"), name, exitText(p.err))
		f.Close()
		ps.mu.Lock()
		delete(ps.live, p)
		ps.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Children get SIGKILL when the harness dies (Pdeathsig), so that even a
// kill -9 of the harness leaves no process behind. The kernel sends that
// signal when the *thread* that started the child ends, and the Go runtime
// may end threads: every child is therefore started from one goroutine
// locked to its thread for the life of the process.
type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var spawnCh = make(chan spawnReq)

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for r := range spawnCh {
			r.done <- r.cmd.Start()
		}
	}()
}

// spawn starts cmd from the spawner thread.
func spawn(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// runCmd runs cmd to its end (started from the spawner thread) and
// returns its combined output.
func runCmd(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := spawn(cmd); err != nil {
		return nil, err
	}
	err := cmd.Wait()
	return out.Bytes(), err
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) markIntended() {
	p.mu.Lock()
	p.intended = true
	p.mu.Unlock()
}

func (p *proc) wasIntended() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.intended
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) {
	if p.cmd != nil && p.cmd.Process != nil && !p.exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// kill9 is kill -9 of the process group; it waits until the process is gone.
func (p *proc) kill9() {
	p.markIntended()
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to end (SIGTERM), and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	p.markIntended()
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// waitReady waits for the ready line, the process's exit or the timeout.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited before it was ready: %s; last output: %s", p.name, exitText(p.err), lastLines(p.logPath, 2))
	case <-t.C:
		return fmt.Errorf("%s not ready after %s; last output: %s", p.name, timeout, lastLines(p.logPath, 2))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// killAll ends every live process, at once: SIGCONT (a stopped process
// must be able to die), then SIGKILL to each process group.
func (ps *procs) killAll() {
	ps.mu.Lock()
	var list []*proc
	for p := range ps.live {
		list = append(list, p)
	}
	ps.mu.Unlock()
	for _, p := range list {
		p.markIntended()
		p.signal(syscall.SIGCONT)
		p.signal(syscall.SIGKILL)
	}
	for _, p := range list {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// lineWatch copies output to w and closes ready at the first line that
// contains match.
type lineWatch struct {
	mu    sync.Mutex
	w     io.Writer
	match string
	ready chan struct{}
	buf   []byte
}

func (l *lineWatch) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(b)
	if l.match != "" {
		l.buf = append(l.buf, b...)
		for {
			i := bytes.IndexByte(l.buf, '\n')
			if i < 0 {
				break
			}
			if bytes.Contains(l.buf[:i], []byte(l.match)) {
				close(l.ready)
				l.match, l.buf = "", nil
				break
			}
			l.buf = l.buf[i+1:]
		}
		if len(l.buf) > 1<<16 {
			l.buf = l.buf[len(l.buf)-1<<12:]
		}
	}
	return n, err
}

// lastLines returns the last n non-empty lines of a file, on one line.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "==== ") {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	s := strings.Join(out, " | ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	if s == "" {
		return "(none)"
	}
	return s
}

// grepCount counts the lines of a file that contain s.
func grepCount(path, s string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte(s))
}

// grepFirst returns the first line of a file that contains s and none of
// except.
func grepFirst(path, s string, except ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
next:
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			for _, e := range except {
				if strings.Contains(l, e) {
					continue next
				}
			}
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// ports hands out free loopback ports below Linux's ephemeral range (32768),
// so that an outgoing connection never takes one that a restarted server
// needs again.
type ports struct {
	mu   sync.Mutex
	next int
	used map[int]bool
}

func newPorts(seed int) *ports { return &ports{next: 20000 + seed%8000, used: map[int]bool{}} }

func (p *ports) get() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 4000 {
		port := p.next
		p.next++
		if p.next >= 32000 {
			p.next = 20000
		}
		if p.used[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		p.used[port] = true
		return port, nil
	}
	return 0, errors.New("no free loopback port found")
}

// waitTCP waits until something accepts connections on addr.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens after %s", addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
