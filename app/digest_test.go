package app_test

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// TestDigestThroughSystem: a user's digest setting (an event, as the API
// appends it) reaches the senders; three notifications are held, then go
// out through the real SMTP peer as one digest (max_count 3). Statistics:
// each notification generated once and held once, the digest one sent
// delivery.
func TestDigestThroughSystem(t *testing.T) {
	t.Parallel()
	e := setupSystem(t)
	r := e.create(t, "alice", emailRule("My events", rules.TrackingRule{Name: "related-events"}, "alice@example.org"))
	three := 3
	if _, err := e.cmds.SetDelivery(e.ctx, "alice", []delivery.Setting{{Protocol: "email", Address: "alice@example.org",
		Digest: &delivery.Digest{MaxAge: 3600, MaxCount: &three}}}, nil, rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 5*time.Second, "the senders see the digest", func() bool {
		s, err := e.sys.Delivery.Lookup(e.ctx, "alice", "email", "alice@example.org")
		return err == nil && s.Digest != nil
	})
	deliveries := func(result string) int64 {
		var n int64
		if err := e.pg.Pool.QueryRow(e.ctx, "SELECT coalesce(sum(count),0) FROM delivery_stats WHERE channel = 'email' AND result = $1",
			result).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var ids []string
	for _, s := range []string{"one", "two", "three"} {
		ids = append(ids, e.publish(t, "org.fedoraproject.prod.bodhi.update.comment", []string{"alice"}, nil,
			map[string]any{"agent_name": "carol", "summary": "comment " + s}))
		if s == "two" {
			fmntest.Eventually(t, 15*time.Second, "two held", func() bool { return deliveries("held") == 2 })
			if n := len(e.mailsTo("alice@example.org")); n != 0 {
				t.Fatalf("%d emails before the digest is due", n)
			}
		}
	}
	fmntest.Eventually(t, 40*time.Second, "the digest", func() bool { return len(e.mailsTo("alice@example.org")) > 0 })
	fmntest.Eventually(t, 15*time.Second, "the digest counted", func() bool { return deliveries("sent") == 1 })
	time.Sleep(500 * time.Millisecond)
	ms := e.mailsTo("alice@example.org")
	if len(ms) != 1 {
		t.Fatalf("%d emails, want one digest", len(ms))
	}
	m, err := mail.ReadMessage(bytes.NewReader(ms[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	if m.Header.Get("Subject") != "[fmn-test] 3 notifications" || m.Header.Get("X-Fedora-Messaging-Digest") != "3" {
		t.Errorf("subject %q, digest header %q", m.Header.Get("Subject"), m.Header.Get("X-Fedora-Messaging-Digest"))
	}
	for _, id := range ids {
		if !strings.Contains(body, "ID: "+id) {
			t.Errorf("digest lacks %s:\n%s", id, body)
		}
	}
	if h, s, g := deliveries("held"), deliveries("sent"), e.generated(t, r.ID); h != 3 || s != 1 || g != 3 {
		t.Errorf("held %d, sent %d, generated %d; want 3, 1, 3", h, s, g)
	}
}
