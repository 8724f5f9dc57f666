package matrix_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
)

// dendriteBin is where scripts/matrix-peer.sh puts the Dendrite binaries.
func dendriteBin() string {
	if d := os.Getenv("FMN_DENDRITE_BIN"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "fmn", "bin")
}

// homeserver is a real Dendrite on loopback, started for one test with its
// storage in t.TempDir(): SQLite, in-memory JetStream, no federation, open
// registration, no rate limits (generate-config -ci).
type homeserver struct {
	URL string
	dir string
}

// startDendrite starts a homeserver. Without the binaries it skips the test
// with the build hint, or fails when CI is set.
func startDendrite(t *testing.T) *homeserver {
	t.Helper()
	bin := dendriteBin()
	for _, name := range []string{"dendrite", "generate-keys", "generate-config"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			msg := fmt.Sprintf("Dendrite is not built (%s missing): run scripts/matrix-peer.sh or make peers-matrix (about 2 min), or set FMN_DENDRITE_BIN", filepath.Join(bin, name))
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	dir := t.TempDir()
	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
		}
		return out
	}
	run("generate-keys", "--private-key", "matrix_key.pem")
	cfg := run("generate-config", "-ci", "-dir", filepath.Join(dir, "data"), "-server", "localhost")
	cfg = bytes.Replace(cfg, []byte("disable_federation: false"), []byte("disable_federation: true"), 1)
	if err := os.WriteFile(filepath.Join(dir, "dendrite.yaml"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// Dendrite 0.15 panics when its data directory is missing.
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}

	var lastErr error
	for range 3 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(fmntest.FreePort(t)))
		hs := &homeserver{URL: "http://" + addr, dir: dir}
		if lastErr = hs.start(t, bin, addr); lastErr == nil {
			return hs
		}
	}
	t.Fatal(lastErr)
	return nil
}

// start runs Dendrite on addr and waits until it answers.
func (hs *homeserver) start(t *testing.T, bin, addr string) error {
	logf, err := os.Create(filepath.Join(hs.dir, "dendrite.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "dendrite"), "-config", "dendrite.yaml",
		"-http-bind-address", addr, "-really-enable-open-registration")
	cmd.Dir = hs.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
			t.Errorf("dendrite exited during the test:\n%s", hs.logTail())
			return
		default:
		}
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(hs.URL + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("dendrite exited at start:\n%s", hs.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dendrite not ready within 30s:\n%s", hs.logTail())
		}
	}
}

func (hs *homeserver) logTail() string {
	b, _ := os.ReadFile(filepath.Join(hs.dir, "dendrite.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// user is an account on the homeserver, used as a Matrix client would.
type user struct {
	hs    *homeserver
	ID    string
	Token string
}

// register makes an account by open registration (m.login.dummy).
func (hs *homeserver) register(t *testing.T, name string) *user {
	t.Helper()
	u := &user{hs: hs}
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	u.call(t, http.MethodPost, "/register", map[string]any{
		"username": name, "password": "pw-" + name + "-0123456789",
		"auth": map[string]string{"type": "m.login.dummy"},
	}, &resp)
	u.ID, u.Token = resp.UserID, resp.AccessToken
	return u
}

// call makes a client-server API request and fails the test unless it
// succeeds.
func (u *user) call(t *testing.T, method, path string, in, out any) {
	t.Helper()
	if status, body := u.try(t, method, path, in, out); status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, status, body)
	}
}

func (u *user) try(t *testing.T, method, path string, in, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u.hs.URL+"/_matrix/client/v3"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != "" {
		req.Header.Set("Authorization", "Bearer "+u.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, body)
		}
	}
	return resp.StatusCode, body
}

// message is an m.room.message as the recipient reads it.
type message struct {
	Room, Sender, MsgType, Body string
	ts                          int64
}

// received accepts every pending invite, as a Matrix client does on the
// user's behalf, then returns the messages of every joined room, oldest
// first.
func (u *user) received(t *testing.T) []message {
	t.Helper()
	var sync struct {
		Rooms struct {
			Invite map[string]json.RawMessage `json:"invite"`
		} `json:"rooms"`
	}
	u.call(t, http.MethodGet, "/sync?timeout=0&filter="+url.QueryEscape(`{"room":{"timeline":{"limit":1}}}`), nil, &sync)
	for room := range sync.Rooms.Invite {
		u.call(t, http.MethodPost, "/join/"+url.PathEscape(room), map[string]any{}, nil)
	}
	var out []message
	for _, room := range u.joinedRooms(t) {
		var page struct {
			Chunk []struct {
				Type    string `json:"type"`
				Sender  string `json:"sender"`
				TS      int64  `json:"origin_server_ts"`
				Content struct {
					MsgType string `json:"msgtype"`
					Body    string `json:"body"`
				} `json:"content"`
			} `json:"chunk"`
		}
		u.call(t, http.MethodGet, "/rooms/"+url.PathEscape(room)+"/messages?dir=b&limit=1000", nil, &page)
		for _, ev := range page.Chunk {
			if ev.Type == "m.room.message" {
				out = append(out, message{Room: room, Sender: ev.Sender, MsgType: ev.Content.MsgType, Body: ev.Content.Body, ts: ev.TS})
			}
		}
	}
	// /messages with dir=b is newest first.
	slices.Reverse(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ts < out[j].ts })
	return out
}

func (u *user) joinedRooms(t *testing.T) []string {
	t.Helper()
	var joined struct {
		Rooms []string `json:"joined_rooms"`
	}
	u.call(t, http.MethodGet, "/joined_rooms", nil, &joined)
	return joined.Rooms
}

// waitMessages polls received until at least n messages from sender are
// there: Dendrite's sync API follows its room server with a small delay.
func (u *user) waitMessages(t *testing.T, sender string, n int) []message {
	t.Helper()
	var msgs []message
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs = u.received(t)
		if len(bodies(msgs, sender)) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bodies are the bodies of the messages from sender.
func bodies(msgs []message, sender string) []string {
	var out []string
	for _, m := range msgs {
		if m.Sender == sender {
			out = append(out, m.Body)
		}
	}
	return out
}

// proxy stands between the sender and the homeserver: it counts requests,
// answers sends with 429 M_LIMIT_EXCEEDED on demand (the -ci homeserver
// has no rate limits) and plays a broken gateway.
type proxy struct {
	URL string

	mu           sync.Mutex
	limit        int   // answer this many more sends with 429
	retryAfterMS int64 // the 429's retry_after_ms
	broken       bool  // answer everything with 502
	requests     []string
}

func startProxy(t *testing.T, hs *homeserver) *proxy {
	t.Helper()
	target, err := url.Parse(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.Method+" "+strings.TrimPrefix(r.URL.EscapedPath(), "/_matrix/client/v3"))
		broken := p.broken
		limited := false
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/m.room.message/") && p.limit > 0 {
			p.limit--
			limited = true
		}
		retryAfter := p.retryAfterMS
		p.mu.Unlock()
		switch {
		case broken:
			http.Error(w, "<html><body>502 Bad Gateway</body></html>", http.StatusBadGateway)
		case limited:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprintf(w, `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":%d}`, retryAfter)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// rateLimit answers the next n sends with 429 and retry_after_ms.
func (p *proxy) rateLimit(n int, retryAfterMS int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit, p.retryAfterMS = n, retryAfterMS
}

func (p *proxy) setBroken(b bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.broken = b
}

// Requests lists "METHOD path" of the requests matching substr.
func (p *proxy) Requests(substr string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.requests {
		if strings.Contains(r, substr) {
			out = append(out, r)
		}
	}
	return out
}
