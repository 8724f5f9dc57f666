package digest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/digest"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

// settings is a fixed delivery.Source: test data, the settings a user
// would have stored.
type settings struct {
	mu sync.Mutex
	m  map[delivery.Key]delivery.Setting
}

func (s *settings) set(x delivery.Setting) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[delivery.Key]delivery.Setting{}
	}
	s.m[x.Key()] = x
}

func (s *settings) Lookup(_ context.Context, _, protocol, address string) (delivery.Setting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x, ok := s.m[delivery.Key{Protocol: protocol, Address: address}]; ok {
		return x, nil
	}
	return delivery.Setting{Protocol: protocol, Address: address}, nil
}

func every(age, count int) *delivery.Digest {
	d := &delivery.Digest{MaxAge: age}
	if count > 0 {
		d.MaxCount = &count
	}
	return d
}

// clock is a test clock that moves only when told.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }
func (c *clock) opts() digest.Options {
	return digest.Options{Now: c.now, Every: 50 * time.Millisecond}
}
func site() notification.Site {
	return notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}
}
func (c *clock) String() string { return time.Duration(c.off.Load()).String() }
func outcomes(o *[]senders.Outcome) func(senders.Outcome) {
	return func(x senders.Outcome) { *o = append(*o, x) }
}

const relayUser, relayPass = "notifier", "c0rrect-Horse-battery"

func emailSender(t testing.TB, r *fmntest.SMTPServer) *email.Sender {
	t.Helper()
	cfg, err := email.NewConfig("smtp://"+relayUser+":"+relayPass+"@"+r.Addr(), "Fedora Notifications <notifications@fmn.example.org>")
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = fmntest.SMTPCertPool()
	s, err := email.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// held is a notification as the renderer makes it for email.
func held(id, to string) *notification.Notification {
	return &notification.Notification{
		ID: "n-" + id, MessageID: "msg-" + id, Topic: "org.fedoraproject.prod.bodhi.update.comment",
		Protocol: "email", Address: to, User: "alice", RuleID: 12, RuleIDs: []int64{12},
		App: "bodhi", Severity: 20, Summary: "comment " + id, Text: "Text of " + id,
		URL:   "https://bodhi.example.org/" + id,
		Meta:  &notification.Meta{Agent: "zoe", Packages: []string{"pkg-" + id}},
		Email: &notification.Email{Subject: "[bodhi] comment " + id, Body: "Text of " + id},
	}
}

func hold(t *testing.T, n *fmntest.NATS, x *notification.Notification) {
	t.Helper()
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := digest.Hold(fmntest.Context(t), n.JS, n.Streams, x.Protocol, x, data); err != nil {
		t.Fatal(err)
	}
}

// heldCount is what DIGEST holds.
func heldCount(t *testing.T, n *fmntest.NATS) uint64 {
	t.Helper()
	st, err := n.JS.Stream(fmntest.Context(t), n.Streams.Digest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(fmntest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

type received struct {
	header  mail.Header
	subject string
	body    string
}

func mails(t *testing.T, r *fmntest.SMTPServer, to string) []received {
	t.Helper()
	var out []received
	for _, m := range r.Mails() {
		if len(m.To) != 1 || m.To[0] != to {
			continue
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, received{msg.Header, subject, strings.ReplaceAll(string(body), "\r\n", "\n")})
	}
	return out
}

func flush(t *testing.T, f *digest.Flusher) digest.Round {
	t.Helper()
	r, err := f.Flush(fmntest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDigestByAgeAndByCount: through the real SMTP peer, one destination's
// digest goes out when max_count are held, another's when the oldest is
// max_age old, each once, holding every notification with its ID line.
func TestDigestByAgeAndByCount(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTP(t, relayUser, relayPass)
	src := &settings{}
	src.set(delivery.Setting{Protocol: "email", Address: "age@example.org", Digest: every(600, 0)})
	src.set(delivery.Setting{Protocol: "email", Address: "count@example.org", Digest: every(3600, 3)})
	var c clock
	var got []senders.Outcome
	opts := c.opts()
	opts.OnOutcome = outcomes(&got)
	f := digest.New(n.JS, n.Streams, emailSender(t, r), src, senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{}), site(), opts, nil)

	for _, id := range []string{"a1", "a2"} {
		hold(t, n, held(id, "age@example.org"))
	}
	for _, id := range []string{"c1", "c2"} {
		hold(t, n, held(id, "count@example.org"))
	}
	if rd := flush(t, f); rd.Digests != 0 || rd.Waiting != 2 {
		t.Fatalf("nothing due yet: %+v", rd)
	}
	hold(t, n, held("c3", "count@example.org"))
	if rd := flush(t, f); rd.Digests != 1 || rd.Notifications != 3 || rd.Waiting != 1 {
		t.Fatalf("the count digest is due: %+v", rd)
	}
	cm := mails(t, r, "count@example.org")
	if len(cm) != 1 {
		t.Fatalf("%d mails to count@, want 1", len(cm))
	}
	m := cm[0]
	if m.subject != "[fmn] 3 notifications" || m.header.Get(notification.HeaderDigest) != "3" {
		t.Errorf("subject %q, digest header %q", m.subject, m.header.Get(notification.HeaderDigest))
	}
	for i, id := range []string{"c1", "c2", "c3"} {
		for _, want := range []string{fmt.Sprintf("%d. [bodhi] comment %s\n", i+1, id), "Text of " + id + "\n",
			"https://bodhi.example.org/" + id + "\n", "ID: msg-" + id + "\n"} {
			if !strings.Contains(m.body, want) {
				t.Errorf("digest body lacks %q:\n%s", want, m.body)
			}
		}
	}
	if pk := m.header["X-Fedora-Messaging-Package"]; len(pk) != 3 || m.header.Get("X-Fedora-Messaging-Agent") != "zoe" {
		t.Errorf("merged metadata headers: packages %q, agent %q", pk, m.header.Get("X-Fedora-Messaging-Agent"))
	}

	c.advance(500 * time.Second)
	if rd := flush(t, f); rd.Digests != 0 || rd.Waiting != 1 {
		t.Fatalf("the age digest is not due before max_age: %+v", rd)
	}
	c.advance(200 * time.Second)
	if rd := flush(t, f); rd.Digests != 1 || rd.Notifications != 2 {
		t.Fatalf("the age digest is due: %+v", rd)
	}
	am := mails(t, r, "age@example.org")
	if len(am) != 1 || am[0].subject != "[fmn] 2 notifications" || !strings.Contains(am[0].body, "ID: msg-a2\n") {
		t.Fatalf("age digest: %+v", am)
	}
	if h := heldCount(t, n); h != 0 {
		t.Errorf("%d notifications still held after their digests", h)
	}
	// One outcome per digest: two deliveries for five notifications.
	if len(got) != 2 || got[0].Result != wire.Sent || got[0].Digest != 3 || got[1].Digest != 2 {
		t.Errorf("outcomes %+v", got)
	}
	if rd := flush(t, f); rd != (digest.Round{}) {
		t.Errorf("nothing left to do: %+v", rd)
	}
	if len(r.Mails()) != 2 {
		t.Errorf("%d mails in all, want 2", len(r.Mails()))
	}
}

// TestCrashBetweenSendAndPurge: a flush that stops after the peer took the
// digest and before the purge (as a process killed there) leaves the
// mark; the next flusher purges without sending again, and what was held
// later waits for its own digest.
func TestCrashBetweenSendAndPurge(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTP(t, relayUser, relayPass)
	src := &settings{}
	src.set(delivery.Setting{Protocol: "email", Address: "bob@example.org", Digest: every(60, 2)})
	var c clock
	marks := senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{})
	s := emailSender(t, r)

	hold(t, n, held("1", "bob@example.org"))
	hold(t, n, held("2", "bob@example.org"))
	crashed := digest.New(n.JS, n.Streams, s, src, marks, site(), c.opts(), nil)
	digest.StopBeforePurge(crashed, errors.New("killed"))
	if _, err := crashed.Flush(fmntest.Context(t)); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("flush stopped before the purge: %v", err)
	}
	if len(r.Mails()) != 1 || heldCount(t, n) != 2 {
		t.Fatalf("sent %d, held %d: want the digest sent and still held", len(r.Mails()), heldCount(t, n))
	}
	hold(t, n, held("3", "bob@example.org"))

	next := digest.New(n.JS, n.Streams, s, src, marks, site(), c.opts(), nil)
	if rd := flush(t, next); rd.Recovered != 1 || rd.Digests != 0 {
		t.Fatalf("the next flusher recovers: %+v", rd)
	}
	if len(r.Mails()) != 1 || heldCount(t, n) != 1 {
		t.Fatalf("after recovery: sent %d, held %d; want 1 and 1", len(r.Mails()), heldCount(t, n))
	}
	hold(t, n, held("4", "bob@example.org"))
	if rd := flush(t, next); rd.Digests != 1 || rd.Notifications != 2 {
		t.Fatalf("the next digest: %+v", rd)
	}
	ms := mails(t, r, "bob@example.org")
	if len(ms) != 2 || !strings.Contains(ms[1].body, "ID: msg-3\n") || strings.Contains(ms[1].body, "ID: msg-1\n") {
		t.Fatalf("second digest: %+v", ms)
	}
	if ms[0].header.Get("Message-ID") == ms[1].header.Get("Message-ID") {
		t.Error("two digests share a Message-ID")
	}
}

// TestPausedDropsAndOffFlushes: what a paused destination holds is dropped
// and counted; a destination whose digest was turned off gets what it
// holds at once; holding a notification twice holds it once.
func TestPausedDropsAndOffFlushes(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTP(t, relayUser, relayPass)
	src := &settings{}
	var c clock
	var got []senders.Outcome
	opts := c.opts()
	opts.OnOutcome = outcomes(&got)
	f := digest.New(n.JS, n.Streams, emailSender(t, r), src, senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{}), site(), opts, nil)
	src.set(delivery.Setting{Protocol: "email", Address: "p@example.org", Digest: every(600, 0)})
	src.set(delivery.Setting{Protocol: "email", Address: "o@example.org", Digest: every(600, 0)})
	for _, id := range []string{"1", "2"} {
		hold(t, n, held("p"+id, "p@example.org"))
		hold(t, n, held("o"+id, "o@example.org"))
	}
	hold(t, n, held("o2", "o@example.org"))
	if h := heldCount(t, n); h != 4 {
		t.Fatalf("held %d, want 4 (a notification held twice is held once)", h)
	}
	src.set(delivery.Setting{Protocol: "email", Address: "p@example.org", Paused: true, Digest: every(600, 0)})
	src.set(delivery.Setting{Protocol: "email", Address: "o@example.org"})
	rd := flush(t, f)
	if rd.Dropped != 2 || rd.Digests != 1 || rd.Notifications != 2 {
		t.Fatalf("round %+v", rd)
	}
	if len(mails(t, r, "p@example.org")) != 0 || len(mails(t, r, "o@example.org")) != 1 {
		t.Errorf("mails %d", len(r.Mails()))
	}
	dropped := 0
	for _, o := range got {
		if o.Result == wire.Paused {
			dropped++
			if e := senders.EventOf(o, time.Now()); wire.DeliveryEventID(e) == "" || e.NotificationID == "" {
				t.Errorf("dropped event %+v", e)
			}
		}
	}
	if dropped != 2 || heldCount(t, n) != 0 {
		t.Errorf("dropped outcomes %d, held %d", dropped, heldCount(t, n))
	}
}

// TestRunFlushesOnItsOwn: Run sends a due digest without being asked.
func TestRunFlushesOnItsOwn(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTP(t, relayUser, relayPass)
	src := &settings{}
	src.set(delivery.Setting{Protocol: "email", Address: "run@example.org", Digest: every(60, 2)})
	var c clock
	f := digest.New(n.JS, n.Streams, emailSender(t, r), src, senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{}), site(), c.opts(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	hold(t, n, held("1", "run@example.org"))
	hold(t, n, held("2", "run@example.org"))
	fmntest.Eventually(t, 10*time.Second, "digest sent", func() bool { return len(r.Mails()) == 1 })
}

// TestSenderHoldsForTheDigest: senders.Run, told the settings, holds what
// goes to a digest destination (acked on NOTIFY once held), drops what
// goes to a paused one and sends the rest; the flusher then sends the
// digest. Outcomes: each notification once (held, dropped or sent), and
// the digest one delivery.
func TestSenderHoldsForTheDigest(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTP(t, relayUser, relayPass)
	src := &settings{}
	src.set(delivery.Setting{Protocol: "email", Address: "dg@example.org", Digest: every(3600, 3)})
	src.set(delivery.Setting{Protocol: "email", Address: "off@example.org", Paused: true})
	s := emailSender(t, r)
	opts := senderstest.FastOptions(3)
	opts.Settings = src
	opts.Hold = digest.Holder(n.JS, n.Streams)
	out := senderstest.Start(t, n, s, opts, nil)
	for _, id := range []string{"1", "2", "3"} {
		senderstest.Publish(t, n, email.Channel, held(id, "dg@example.org"))
	}
	senderstest.Publish(t, n, email.Channel, held("4", "now@example.org"))
	senderstest.Publish(t, n, email.Channel, held("5", "off@example.org"))
	senderstest.Settled(t, n, email.Channel)
	if out.Count(wire.Held) != 3 || out.Count(wire.Sent) != 1 || out.Count(wire.Paused) != 1 {
		t.Fatalf("outcomes %+v", out.All())
	}
	if len(r.Mails()) != 1 || len(mails(t, r, "now@example.org")) != 1 || heldCount(t, n) != 3 {
		t.Fatalf("mails %d, held %d", len(r.Mails()), heldCount(t, n))
	}
	var c clock
	f := digest.New(n.JS, n.Streams, s, src, senders.NewKVSentLog(n.JS, senders.KVSentLogConfig{}), site(), c.opts(), nil)
	if rd := flush(t, f); rd.Digests != 1 || rd.Notifications != 3 {
		t.Fatalf("round %+v", rd)
	}
	if dm := mails(t, r, "dg@example.org"); len(dm) != 1 || dm[0].subject != "[fmn] 3 notifications" {
		t.Fatalf("digest mails %+v", dm)
	}
}
