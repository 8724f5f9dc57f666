package fmntest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PrivateRedis is a redis-server process of one test's own, for tests
// that take Redis away: the machine's Redis is shared by every test and
// must never be stopped. Stop kills the process (connections are
// refused), Freeze suspends it (connections hang: the kernel still
// accepts them, nothing answers), Start and Thaw undo that. It runs
// without persistence: a restarted server is empty.
type PrivateRedis struct {
	// URL is redis://127.0.0.1:<port>/0.
	URL  string
	Port int

	t   testing.TB
	dir string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	frozen bool
}

// StartRedis starts a private redis-server on a free loopback port and
// stops it when the test ends.
func StartRedis(t testing.TB) *PrivateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redis-server is not installed: it runs the private Redis of a test that takes Redis away (apt-get install redis-server)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	r := &PrivateRedis{t: t, dir: t.TempDir(), Port: FreePort(t)}
	r.URL = "redis://127.0.0.1:" + strconv.Itoa(r.Port) + "/0"
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.kill()
	})
	r.Start()
	return r
}

// Start (re)starts the server on its port and waits until it answers.
func (r *PrivateRedis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited
	deadline := time.Now().Add(Scaled(10 * time.Second))
	for {
		if err := r.ping(); err == nil {
			return
		} else if time.Now().After(deadline) {
			r.kill()
			r.t.Fatalf("private redis-server on port %d does not answer: %v%s", r.Port, err, r.logTail())
		}
		select {
		case <-exited:
			r.cmd = nil
			r.t.Fatalf("private redis-server on port %d exited at start%s", r.Port, r.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail is the server's log, to explain a failed start.
func (r *PrivateRedis) logTail() string {
	b, err := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\n" + string(b)
}

// ping sends a PING and expects +PONG.
func (r *PrivateRedis) ping() error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}

// Stop kills the server and waits until it is gone: connections to its
// port are refused until Start.
func (r *PrivateRedis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kill()
}

func (r *PrivateRedis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	if r.frozen {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
		r.frozen = false
	}
	<-r.exited
	r.cmd = nil
}

// Freeze suspends the server (SIGSTOP): connections open and commands are
// sent, but nothing answers, as with a host that went away without
// closing its connections.
func (r *PrivateRedis) Freeze() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.frozen {
		return
	}
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("freeze redis-server: %v", err)
	}
	r.frozen = true
}

// Thaw resumes a frozen server (SIGCONT).
func (r *PrivateRedis) Thaw() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || !r.frozen {
		return
	}
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatalf("thaw redis-server: %v", err)
	}
	r.frozen = false
}

// RedisOutage is one way Redis goes away in a test: refusing connections
// (stopped) or leaving them hanging (frozen), and back.
type RedisOutage struct {
	Name     string
	Down, Up func(*PrivateRedis)
}

// RedisOutages are both kinds of outage, for table tests.
var RedisOutages = []RedisOutage{
	{"stopped", (*PrivateRedis).Stop, (*PrivateRedis).Start},
	{"frozen", (*PrivateRedis).Freeze, (*PrivateRedis).Thaw},
}
