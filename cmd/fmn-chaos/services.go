package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ---- NATS: a 3-node JetStream cluster of real nats-server processes ----

type natsNode struct {
	name                     string
	port, clusterPort, mport int
	conf, storeDir, logPath  string
	proc                     *proc
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

type cluster struct {
	bin   string
	nodes []*natsNode
	ps    *procs
}

func newCluster(ctx context.Context, ps *procs, pt *ports, bin, dir string) (*cluster, error) {
	c := &cluster{bin: bin, ps: ps}
	for i := range 3 {
		n := &natsNode{name: fmt.Sprintf("n%d", i+1)}
		var err error
		for _, p := range []*int{&n.port, &n.clusterPort, &n.mport} {
			if *p, err = pt.get(); err != nil {
				return nil, err
			}
		}
		n.storeDir = filepath.Join(dir, n.name)
		n.conf = filepath.Join(dir, n.name+".conf")
		n.logPath = filepath.Join(dir, n.name+".log")
		c.nodes = append(c.nodes, n)
	}
	var routes []string
	for _, n := range c.nodes {
		routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("nats-route://127.0.0.1:%d", n.clusterPort)))
	}
	for _, n := range c.nodes {
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 4GB
}
cluster {
  name: chaos
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.name, n.port, n.mport, n.storeDir, n.clusterPort, strings.Join(routes, ", "))
		if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
	}
	for _, n := range c.nodes {
		if err := c.startNode(n); err != nil {
			return nil, err
		}
	}
	for _, n := range c.nodes {
		if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", n.port), 20*time.Second); err != nil {
			return nil, fmt.Errorf("nats %s: %w (log: %s)", n.name, err, lastLines(n.logPath, 2))
		}
	}
	// JetStream is usable once the meta group has a leader.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if l := c.metaLeader(); l != "" {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("nats cluster: no JetStream meta leader after 30s")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *cluster) startNode(n *natsNode) error {
	p, err := c.ps.start("nats-"+n.name, n.logPath, []string{c.bin, "-c", n.conf}, startOpts{env: os.Environ()})
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// restartNode starts a node again with the same configuration and storage
// and waits for its client port.
func (c *cluster) restartNode(ctx context.Context, n *natsNode) error {
	if err := c.startNode(n); err != nil {
		return err
	}
	return waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", n.port), 20*time.Second)
}

func (c *cluster) urls() string {
	var u []string
	for _, n := range c.nodes {
		u = append(u, n.url())
	}
	return strings.Join(u, ",")
}

func (c *cluster) node(name string) *natsNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// metaLeader asks the monitoring endpoint of each live node for the
// JetStream meta leader.
func (c *cluster) metaLeader() string {
	cl := http.Client{Timeout: time.Second}
	for _, n := range c.nodes {
		if n.proc == nil || n.proc.exited() {
			continue
		}
		resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", n.mport))
		if err != nil {
			continue
		}
		var v struct {
			Meta *struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err == nil && v.Meta != nil && v.Meta.Leader != "" {
			return v.Meta.Leader
		}
	}
	return ""
}

// ---- PostgreSQL: a private instance of the installed binaries ----

const pgBin = "/usr/lib/postgresql/15/bin"

// pgCred is whom PostgreSQL runs as: the postgres account when the harness
// runs as root (initdb refuses root), else the harness's own user.
func pgCred() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres account: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

type pgInstance struct {
	data, logPath string
	port          int
	cred          *syscall.Credential
}

func (pg *pgInstance) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

// pgRun runs one PostgreSQL program to its end, as the PostgreSQL user.
func pgRun(ctx context.Context, cred *syscall.Credential, logPath string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(pgBin, args[0]), args[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	out, err := runCmd(cmd)
	if logPath != "" {
		if f, ferr := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
			fmt.Fprintf(f, "==== %s %s\n%s", time.Now().Format("15:04:05.000"), strings.Join(args, " "), out)
			f.Close()
		}
	}
	if err != nil {
		s := strings.TrimSpace(string(out))
		if len(s) > 400 {
			s = s[len(s)-400:]
		}
		return fmt.Errorf("%s: %v: %s", args[0], err, s)
	}
	return nil
}

// chownTree gives a directory tree to cred (nothing when cred is nil).
func chownTree(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
}

// pgTemplate makes a database cluster once per run, with the database fmn
// in it; every trial starts from a copy.
func pgTemplate(ctx context.Context, dir string, pt *ports) (string, error) {
	cred, err := pgCred()
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "pg-template")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	if err := chownTree(data, cred); err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "pg-template.log")
	if err := pgRun(ctx, cred, logPath, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		return "", err
	}
	port, err := pt.get()
	if err != nil {
		return "", err
	}
	pg := &pgInstance{data: data, logPath: filepath.Join(dir, "pg-template-server.log"), port: port, cred: cred}
	if err := pg.start(ctx); err != nil {
		return "", err
	}
	cerr := func() error {
		c, err := pgx.Connect(ctx, pg.dsn("postgres"))
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "CREATE DATABASE fmn")
		return err
	}()
	if err := pg.stop(ctx, "fast"); err != nil {
		return "", err
	}
	return data, cerr
}

// newPG copies the template into dir and starts it on a free port.
func newPG(ctx context.Context, template, dir string, pt *ports) (*pgInstance, error) {
	cred, err := pgCred()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "pg")
	if out, err := exec.CommandContext(ctx, "cp", "-a", template, data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying the database template: %v: %s", err, out)
	}
	port, err := pt.get()
	if err != nil {
		return nil, err
	}
	pg := &pgInstance{data: data, logPath: filepath.Join(dir, "postgres.log"), port: port, cred: cred}
	return pg, pg.start(ctx)
}

func (pg *pgInstance) start(ctx context.Context) error {
	// The server writes its log as the PostgreSQL user.
	f, err := os.OpenFile(pg.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if err := chownTree(pg.logPath, pg.cred); err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB",
		pg.port, pg.data)
	return pgRun(ctx, pg.cred, "", "pg_ctl", "-D", pg.data, "-l", pg.logPath, "-w", "-t", "60", "-o", opts, "start")
}

// stop stops the server: mode fast (what a restart does) or immediate.
func (pg *pgInstance) stop(ctx context.Context, mode string) error {
	return pgRun(ctx, pg.cred, "", "pg_ctl", "-D", pg.data, "-m", mode, "-w", "-t", "30", "stop")
}

// kill ends a server that pg_ctl could not stop, through its postmaster.pid.
func (pg *pgInstance) kill() {
	b, err := os.ReadFile(filepath.Join(pg.data, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		time.Sleep(500 * time.Millisecond)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ---- Redis: a private redis-server ----

type redisInstance struct {
	port    int
	dir     string
	logPath string
	proc    *proc
	ps      *procs
}

func (r *redisInstance) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func newRedis(ctx context.Context, ps *procs, pt *ports, dir string) (*redisInstance, error) {
	port, err := pt.get()
	if err != nil {
		return nil, err
	}
	r := &redisInstance{port: port, dir: dir, logPath: filepath.Join(dir, "redis.log"), ps: ps}
	return r, r.start(ctx)
}

func (r *redisInstance) start(ctx context.Context) error {
	p, err := r.ps.start("redis", r.logPath, []string{"redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "yes", "--loglevel", "warning"},
		startOpts{env: os.Environ()})
	if err != nil {
		return err
	}
	r.proc = p
	deadline := time.Now().Add(20 * time.Second)
	for {
		if redisPing(r.port) {
			return nil
		}
		if p.exited() || time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not start: %s", lastLines(r.logPath, 2))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func redisPing(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
