package app_test

import (
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
)

// TestPausedDestination: through the real SMTP peer, a paused destination
// gets nothing while the pause lasts (the notifications are dropped and
// counted as paused in delivery_stats), and mail again once resumed.
func TestPausedDestination(t *testing.T) {
	t.Parallel()
	e := setupSystem(t)
	e.create(t, "alice", emailRule("My events", rules.TrackingRule{Name: "related-events"}, "alice@example.org"))
	topic := "org.fedoraproject.prod.bodhi.update.comment"
	comment := func(summary string) string {
		return e.publish(t, topic, []string{"alice"}, nil, map[string]any{"agent_name": "carol", "summary": summary})
	}
	deliveries := func(result string) int64 {
		var n int64
		if err := e.pg.Pool.QueryRow(e.ctx, "SELECT coalesce(sum(count),0) FROM delivery_stats WHERE channel = 'email' AND result = $1",
			result).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// seen waits until the senders' settings show alice's email paused or not.
	seen := func(paused bool) {
		t.Helper()
		start := time.Now()
		fmntest.Eventually(t, 3*time.Second, "the senders see the setting", func() bool {
			s, err := e.sys.Delivery.Lookup(e.ctx, "alice", "email", "alice@example.org")
			return err == nil && s.Paused == paused
		})
		t.Logf("paused=%v reached the senders %s after the command returned", paused, time.Since(start).Round(time.Millisecond))
	}

	if err := e.cmds.SetPaused(e.ctx, "alice", "email", "alice@example.org", true); err != nil {
		t.Fatal(err)
	}
	seen(true)
	comment("first while paused")
	comment("second while paused")
	fmntest.Eventually(t, 15*time.Second, "two notifications counted as paused", func() bool { return deliveries("paused") == 2 })
	if n := len(e.mailsTo("alice@example.org")); n != 0 {
		t.Fatalf("%d emails to a paused destination", n)
	}

	if err := e.cmds.SetPaused(e.ctx, "alice", "email", "alice@example.org", false); err != nil {
		t.Fatal(err)
	}
	seen(false)
	comment("after the resume")
	fmntest.Eventually(t, 15*time.Second, "an email once resumed", func() bool { return len(e.mailsTo("alice@example.org")) == 1 })
	fmntest.Eventually(t, 15*time.Second, "the email counted as sent", func() bool { return deliveries("sent") == 1 })
	// What was dropped stays dropped: nothing queued comes out on resume.
	time.Sleep(500 * time.Millisecond)
	if n, p := len(e.mailsTo("alice@example.org")), deliveries("paused"); n != 1 || p != 2 {
		t.Fatalf("after the resume: %d emails, %d paused; want 1 and 2", n, p)
	}
}
