package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

func testPublisher(t *testing.T, nc *nats.Conn, pending int, timeout, stall time.Duration) *publisher {
	t.Helper()
	p, err := newPublisher(nc, pending, timeout, stall)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

func notifyMsg(id string) *nats.Msg {
	m := nats.NewMsg(wire.NotifySubject("email"))
	m.Header.Set(wire.HeaderMsgID, id)
	m.Data = []byte(`{"id":"` + id + `"}`)
	return m
}

// waitGroup fails the test when g does not complete within d.
func waitGroup(t *testing.T, g *ackGroup, d time.Duration) error {
	t.Helper()
	select {
	case <-g.done:
		return g.wait()
	case <-time.After(d):
		t.Fatalf("group not done after %s", d)
		return nil
	}
}

func TestPublisherStoresAndAcks(t *testing.T) {
	n := fmntest.StartNATS(t)
	p := testPublisher(t, n.Conn, 8, 5*time.Second, 5*time.Second)
	// More publishes than room, in groups of 1 to 5, some repeated: a
	// duplicate's PubAck is positive too.
	var groups []*ackGroup
	want := map[string]bool{}
	for i := range 40 {
		g := newAckGroup()
		for j := range i%5 + 1 {
			id := fmt.Sprintf("n-%d", (i*5+j)%150)
			want[id] = true
			if err := p.publish(notifyMsg(id), g); err != nil {
				t.Fatal(err)
			}
		}
		g.seal()
		groups = append(groups, g)
	}
	for i, g := range groups {
		if err := waitGroup(t, g, 10*time.Second); err != nil {
			t.Errorf("group %d: %v", i, err)
		}
	}
	info, err := n.JS.Stream(context.Background(), n.Streams.Notify)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != uint64(len(want)) {
		t.Errorf("NOTIFY holds %d notifications, want %d (each id once)", got, len(want))
	}
	if len(p.room) != 0 || len(p.waits) != 0 {
		t.Errorf("after every PubAck: %d tokens of room taken, %d waits left", len(p.room), len(p.waits))
	}
	// A sealed group without publishes is done at once.
	g := newAckGroup()
	g.seal()
	if err := waitGroup(t, g, time.Second); err != nil {
		t.Error(err)
	}
}

func TestPublisherFailures(t *testing.T) {
	n := fmntest.StartNATS(t)
	p := testPublisher(t, n.Conn, 8, 5*time.Second, 5*time.Second)

	// The server refuses it: a negative PubAck fails the group, whatever
	// the other publishes of the group did.
	g := newAckGroup()
	if err := p.publish(notifyMsg("ok-1"), g); err != nil {
		t.Fatal(err)
	}
	bad := notifyMsg("bad-1")
	bad.Header.Set(wire.NatsHeaderPrefix+"Expected-Stream", "ANOTHER")
	if err := p.publish(bad, g); err != nil {
		t.Fatal(err)
	}
	g.seal()
	err := waitGroup(t, g, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "expected stream does not match") {
		t.Errorf("negative PubAck: got %v", err)
	}

	// No stream takes the subject: the server answers "no responders".
	g = newAckGroup()
	m := nats.NewMsg("nostream.here")
	m.Data = []byte("x")
	if err := p.publish(m, g); err != nil {
		t.Fatal(err)
	}
	g.seal()
	if err := waitGroup(t, g, 10*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("no stream: got %v, want no responders", err)
	}

	// Too large for the server: the publish fails at once and adds
	// nothing to the group.
	g = newAckGroup()
	big := notifyMsg("big-1")
	big.Data = make([]byte, n.Conn.MaxPayload()+1)
	if err := p.publish(big, g); !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("oversized publish: got %v", err)
	}
	g.seal()
	if err := waitGroup(t, g, time.Second); err != nil {
		t.Errorf("group of a publish that failed at once: %v", err)
	}
	if len(p.room) != 0 || len(p.waits) != 0 {
		t.Errorf("%d tokens of room taken, %d waits left", len(p.room), len(p.waits))
	}
}

// A server that stops answering (a hung node): each publish fails after
// the timeout, frees its room, and the late PubAcks are ignored.
func TestPublisherTimeoutAndStall(t *testing.T) {
	n := fmntest.StartNATS(t)
	proxy := fmntest.StartProxy(t, n.URL)
	nc, err := nats.Connect(proxy.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	const timeout, stall = 400 * time.Millisecond, 100 * time.Millisecond
	p := testPublisher(t, nc, 2, timeout, stall)

	proxy.Stall()
	g := newAckGroup()
	for i := range 2 {
		if err := p.publish(notifyMsg(fmt.Sprintf("hung-%d", i)), g); err != nil {
			t.Fatal(err)
		}
	}
	// No room left: the third waits stall, then fails.
	start := time.Now()
	err = p.publish(notifyMsg("hung-2"), g)
	if !errors.Is(err, nats.ErrTimeout) {
		t.Errorf("third publish with no room: got %v", err)
	}
	if waited := time.Since(start); waited < stall {
		t.Errorf("gave up after %s, want %s", waited, stall)
	}
	g.seal()
	err = waitGroup(t, g, 10*timeout)
	if !errors.Is(err, errPubAckTimeout) {
		t.Errorf("hung server: got %v, want a PubAck timeout", err)
	}
	if len(p.room) != 0 {
		t.Errorf("after the timeout, %d tokens of room still taken", len(p.room))
	}

	// The server answers again: the two late PubAcks find nothing to
	// finish, and new publishes go through.
	proxy.Resume()
	g = newAckGroup()
	if err := p.publish(notifyMsg("after-1"), g); err != nil {
		t.Fatal(err)
	}
	g.seal()
	if err := waitGroup(t, g, 10*time.Second); err != nil {
		t.Errorf("after resume: %v", err)
	}
	if len(p.room) != 0 || len(p.waits) != 0 {
		t.Errorf("%d tokens of room taken, %d waits left", len(p.room), len(p.waits))
	}
}

func TestPubAckError(t *testing.T) {
	status := func(code, desc string) *nats.Msg {
		m := nats.NewMsg("_INBOX.x.1")
		m.Header.Set("Status", code)
		if desc != "" {
			m.Header.Set("Description", desc)
		}
		return m
	}
	data := func(s string) *nats.Msg { return &nats.Msg{Subject: "_INBOX.x.1", Data: []byte(s)} }
	for _, c := range []struct {
		name string
		m    *nats.Msg
		ok   bool
		want string
	}{
		{"positive", data(`{"stream":"NOTIFY","seq":12}`), true, ""},
		{"duplicate", data(`{"stream":"NOTIFY","seq":12,"duplicate":true}`), true, ""},
		{"domain", data(`{"stream":"NOTIFY","domain":"hub","seq":3}`), true, ""},
		{"spaced positive", data(` {"seq":3, "stream":"NOTIFY"}`), true, ""},
		{"error", data(`{"error":{"code":503,"err_code":10077,"description":"resource limits exceeded for account"}}`), false, "resource limits exceeded for account (code 503, error 10077)"},
		{"no responders", status("503", ""), false, "no responders"},
		{"other status", status("408", "Request Timeout"), false, "status 408 Request Timeout"},
		{"empty", data(""), false, "empty PubAck"},
		{"not JSON", data("+OK"), false, "not a PubAck"},
		{"no stream", data(`{"seq":1}`), false, "without a stream"},
	} {
		err := pubAckError(c.m)
		if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}
