package irc_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
)

// The services account fmn logs in to, pre-seeded in Anope's database.
const (
	botNick = "notifybot"
	botPass = "s3cret-Pass-7731"
)

// ircd is one test's InspIRCd with Anope services, on loopback ports of
// its own, with its configuration and state in a temporary directory.
type ircd struct {
	t        testing.TB
	dir      string
	plain    int // clients, plain text
	tls      int // clients, TLS
	link     int // services link
	caFile   string
	opts     ircdOptions
	inspircd *proc
	anope    *proc
}

type ircdOptions struct {
	// noSASL leaves InspIRCd's sasl module out, so that only NickServ
	// IDENTIFY can log in.
	noSASL bool
}

// proc is a running peer program with its output kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lineLog
	done chan struct{}
}

// lineLog collects a program's output and lets tests wait for a line.
type lineLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	count map[string]int
	watch []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for _, w := range l.watch {
		l.count[w] += bytes.Count(p, []byte(w))
	}
	return len(p), nil
}

func (l *lineLog) seen(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[s]
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// synced is what Anope prints once it has linked and burst.
const synced = "is done syncing"

// peerBinaries finds inspircd and anope, or skips the test (fails it when
// CI is set) with the way to install them.
func peerBinaries(t testing.TB) {
	t.Helper()
	if findBinary("inspircd") == "" || findBinary("anope") == "" || !fileExists("/usr/lib/anope/modules/inspircd3.so") {
		msg := "IRC peers missing (inspircd, anope): run scripts/irc-peers.sh, or apt-get install --no-install-recommends inspircd anope"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// findBinary looks in PATH and in /usr/sbin, which a non-root PATH lacks.
func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startIRCd starts InspIRCd and Anope, linked, and returns once services
// are synced (about 0.2 s; InspIRCd then registers clients within 1 s).
func startIRCd(t testing.TB, opts ircdOptions) *ircd {
	t.Helper()
	peerBinaries(t)
	// Not t.TempDir: when the test runs as root the peers run as nobody
	// (root costs InspIRCd and Anope a 3-second warning pause each), and
	// nobody cannot enter t.TempDir's parent.
	dir, err := os.MkdirTemp("", "fmn-ircd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &ircd{t: t, dir: dir, opts: opts}
	ports := fmntest.FreePorts(t, 3)
	d.plain, d.tls, d.link = ports[0], ports[1], ports[2]
	d.writeConfig()
	d.start()
	t.Cleanup(d.stop)
	return d
}

// peerTemplates is the peers' configuration, shared with
// scripts/irc-peers.sh: templates laid out as the state directory is.
const peerTemplates = "../../scripts/irc"

func (d *ircd) writeConfig() {
	t := d.t
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(d.dir, "logs"), 0o755))
	certPEM, keyPEM := selfSigned(t)
	must(os.WriteFile(filepath.Join(d.dir, "cert.pem"), certPEM, 0o644))
	must(os.WriteFile(filepath.Join(d.dir, "key.pem"), keyPEM, 0o600))
	d.caFile = filepath.Join(d.dir, "cert.pem")

	sasl := "" // an empty prefix keeps the line, # comments it out
	if d.opts.noSASL {
		sasl = "#"
	}
	must(renderTemplates(peerTemplates, d.dir, map[string]string{
		"DIR":        d.dir,
		"PLAIN_PORT": strconv.Itoa(d.plain),
		"TLS_PORT":   strconv.Itoa(d.tls),
		"LINK_PORT":  strconv.Itoa(d.link),
		"TLS":        "",
		"SASL":       sasl,
		"NICK":       botNick,
		// With enc_none Anope stores a password as plain:base64.
		"PASS_BASE64": base64.StdEncoding.EncodeToString([]byte(botPass)),
	}))

	if uid, gid, ok := nobody(); ok {
		must(os.Chmod(d.dir, 0o755))
		must(filepath.Walk(d.dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		}))
	}
}

var placeholder = regexp.MustCompile(`@[A-Z_]+@`)

// renderTemplates copies the files under src into dst with each @NAME@
// replaced by vars[NAME], as render in scripts/irc-peers.sh does, and fails
// on a placeholder left unfilled.
func renderTemplates(src, dst string, vars map[string]string) error {
	var pairs []string
	for name, value := range vars {
		pairs = append(pairs, "@"+name+"@", value)
	}
	r := strings.NewReplacer(pairs...)
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		text := r.Replace(string(b))
		if m := placeholder.FindString(text); m != "" {
			return fmt.Errorf("scripts/irc/%s: %s not filled in", rel, m)
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(text), 0o644)
	})
}

// nobody is the account the peers run as when the test runs as root.
func nobody() (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return 0, 0, false
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, true
}

func (d *ircd) command(name string, args ...string) *proc {
	t := d.t
	cmd := exec.Command(findBinary(name), args...)
	cmd.Dir = d.dir
	out := &lineLog{count: map[string]int{}, watch: []string{synced}}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if uid, gid, ok := nobody(); ok {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	} else if os.Geteuid() == 0 {
		cmd.Args = append(cmd.Args, "--runasroot")
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p
}

func (p *proc) kill() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// start runs InspIRCd, waits for its server port, then runs Anope (which
// would otherwise wait seconds before retrying the link) and waits until
// the services are synced.
func (d *ircd) start() {
	t := d.t
	t.Helper()
	d.inspircd = d.command("inspircd", "--config", filepath.Join(d.dir, "inspircd.conf"), "--nofork")
	d.waitPort(d.link)
	d.anope = d.command("anope", "--confdir="+filepath.Join(d.dir, "conf"), "--dbdir="+filepath.Join(d.dir, "db"),
		"--logdir="+filepath.Join(d.dir, "logs"), "--modulesdir=/usr/lib/anope", "--localedir=/usr/share/anope/locale", "--nofork")
	d.waitSynced(1)
}

// waitSynced waits until Anope has synced n times since it started.
func (d *ircd) waitSynced(n int) {
	t := d.t
	t.Helper()
	deadline := time.Now().Add(fmntest.Scaled(15 * time.Second))
	// Anope prints it once for InspIRCd and once for itself.
	for d.anope.out.seen(synced) < 2*n {
		if time.Now().After(deadline) {
			t.Fatalf("IRC services not linked within %s\n--- anope:\n%s\n--- inspircd:\n%s", fmntest.Scaled(15*time.Second), d.anope.out, d.inspircd.out)
		}
		select {
		case <-d.anope.done:
			t.Fatalf("anope exited\n%s", d.anope.out)
		case <-d.inspircd.done:
			t.Fatalf("inspircd exited\n%s", d.inspircd.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *ircd) waitPort(port int) {
	t := d.t
	t.Helper()
	deadline := time.Now().Add(fmntest.Scaled(10 * time.Second))
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d not open within %s: %v\n%s", port, fmntest.Scaled(10*time.Second), err, d.inspircd.out)
		}
		select {
		case <-d.inspircd.done:
			t.Fatalf("inspircd exited\n%s", d.inspircd.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopServer kills InspIRCd, as a crash or a restart would; Anope stays
// and relinks once it is back.
func (d *ircd) stopServer() {
	d.inspircd.kill()
}

// restartServer starts InspIRCd again. Anope relinks by itself a second or
// two later.
func (d *ircd) restartServer() {
	d.t.Helper()
	d.inspircd = d.command("inspircd", "--config", filepath.Join(d.dir, "inspircd.conf"), "--nofork")
	d.waitPort(d.plain)
}

func (d *ircd) stop() {
	d.anope.kill()
	d.inspircd.kill()
	if d.t.Failed() {
		log, _ := os.ReadFile(filepath.Join(d.dir, "inspircd.log"))
		d.t.Logf("--- inspircd.log:\n%s\n--- anope:\n%s", log, d.anope.out)
	}
}

// url is FMN_IRC_URL for this server: TLS (trusting its certificate) or
// plain text (where a password needs insecure_auth).
func (d *ircd) url(useTLS bool, nick, pass, params string) string {
	userinfo := nick
	if pass != "" {
		userinfo += ":" + pass
	}
	var u string
	if useTLS {
		u = fmt.Sprintf("ircs://%s@127.0.0.1:%d?ca_file=%s", userinfo, d.tls, d.caFile)
	} else {
		u = fmt.Sprintf("irc://%s@127.0.0.1:%d?insecure_auth=true", userinfo, d.plain)
	}
	if params != "" {
		u += "&" + params
	}
	return u
}

// selfSigned makes a certificate for 127.0.0.1 and irc.localhost.
func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "irc.localhost"},
		DNSNames:              []string{"irc.localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// client is an independent IRC client for tests: the recipient of
// notifications, or a squatter on fmn's nick.
type client struct {
	t    testing.TB
	nc   net.Conn
	nick string

	mu       sync.Mutex
	privmsgs []privmsg
	lines    []string
	wmu      sync.Mutex
	done     chan struct{}
}

type privmsg struct {
	From, Text string
}

// connectClient registers nick on the plain port and reads until the
// test ends.
func (d *ircd) connectClient(t testing.TB, nick string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(d.plain)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, nick: nick, done: make(chan struct{})}
	t.Cleanup(func() { nc.Close(); <-c.done })
	welcome := make(chan string, 1)
	go c.read(welcome)
	c.send("NICK " + nick)
	c.send("USER test 0 * :test client")
	select {
	case line := <-welcome:
		if !strings.Contains(line, " 001 ") {
			t.Fatalf("client %s not registered: %s", nick, line)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("client %s not registered within 10s", nick)
	}
	return c
}

func (c *client) send(line string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = c.nc.Write([]byte(line + "\r\n"))
}

func (c *client) read(welcome chan<- string) {
	defer close(c.done)
	r := bufio.NewReader(c.nc)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			select {
			case welcome <- "connection ended: " + err.Error():
			default:
			}
			return
		}
		line = strings.TrimRight(line, "\r\n")
		c.mu.Lock()
		c.lines = append(c.lines, line)
		c.mu.Unlock()
		f := strings.SplitN(line, " ", 4)
		switch {
		case len(f) >= 2 && f[0] == "PING":
			c.send("PONG " + f[1])
		case len(f) >= 2 && (f[1] == "001" || f[1] == "433"):
			select {
			case welcome <- line:
			default:
			}
		case len(f) == 4 && f[1] == "PRIVMSG" && strings.EqualFold(f[2], c.nick):
			from, _, _ := strings.Cut(strings.TrimPrefix(f[0], ":"), "!")
			c.mu.Lock()
			c.privmsgs = append(c.privmsgs, privmsg{From: from, Text: strings.TrimPrefix(f[3], ":")})
			c.mu.Unlock()
		}
	}
}

// allLines is every line the client has read.
func (c *client) allLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// received is every PRIVMSG to the client so far.
func (c *client) received() []privmsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]privmsg(nil), c.privmsgs...)
}

// waitReceived waits until the client has at least n PRIVMSGs.
func (c *client) waitReceived(t testing.TB, n int, within time.Duration) []privmsg {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := c.received()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s received %d PRIVMSGs within %s, want %d: %q", c.nick, len(got), within, n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// whoisAccount asks the server which account nick is logged in to.
func (c *client) whoisAccount(t testing.TB, nick string) string {
	t.Helper()
	c.mu.Lock()
	start := len(c.lines)
	c.mu.Unlock()
	c.send("WHOIS " + nick)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		lines := append([]string(nil), c.lines[start:]...)
		c.mu.Unlock()
		account := ""
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) >= 5 && f[1] == "330" && strings.EqualFold(f[3], nick) {
				account = f[4]
			}
			if len(f) >= 2 && f[1] == "318" {
				return account
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no WHOIS reply for %s", nick)
	return ""
}
