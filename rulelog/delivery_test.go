package rulelog_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/wire"
)

func TestDeliverySettings(t *testing.T) {
	b := setup(t, setupOpts{})
	email := delivery.Setting{Protocol: "email", Address: "alice@example.org"}
	irc := delivery.Setting{Protocol: "irc", Address: "alice"}

	got, err := b.store.Delivery(b.ctx, "alice")
	if err != nil || got.Version != 0 || len(got.Settings) != 0 {
		t.Fatalf("settings before any: %+v, %v", got, err)
	}

	// Invalid entries name themselves.
	bad := email
	bad.Digest = &delivery.Digest{MaxAge: 10}
	_, err = b.cmds.SetDelivery(b.ctx, "alice", []delivery.Setting{irc, bad}, nil, rulelog.Meta{})
	var se *rulelog.SettingError
	if !errors.Is(err, rulelog.ErrInvalid) || !errors.As(err, &se) || se.Index != 1 {
		t.Fatalf("digest of 10 s: %v, want a SettingError at 1", err)
	}
	_, err = b.cmds.SetDelivery(b.ctx, "alice", []delivery.Setting{irc, irc}, nil, rulelog.Meta{})
	if !errors.As(err, &se) || se.Index != 1 {
		t.Fatalf("two entries for one destination: %v", err)
	}

	// Entries at the defaults are not stored.
	digest := email
	digest.Digest = &delivery.Digest{MaxAge: 3600, MaxCount: ptr(20)}
	got, err = b.cmds.SetDelivery(b.ctx, "alice", []delivery.Setting{irc, digest}, nil, rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version == 0 || len(got.Settings) != 1 || got.Settings[0].Digest == nil || *got.Settings[0].Digest.MaxCount != 20 {
		t.Fatalf("after set: %+v", got)
	}
	v1 := got.Version
	if _, err := b.cmds.SetDelivery(b.ctx, "alice", nil, ptr(v1-1), rulelog.Meta{}); !errors.Is(err, rulelog.ErrPreconditionFailed) {
		t.Fatalf("stale If-Match: %v", err)
	}
	// A rule change of the user does not change the settings' version.
	if _, err := b.cmds.Create(b.ctx, "alice", rule("alice", "r"), rulelog.Meta{}); err != nil {
		t.Fatal(err)
	}

	// The pauser keeps the other entries, and appends nothing when the
	// state is already the one asked for.
	if err := b.cmds.SetPaused(b.ctx, "alice", "irc", "alice", true); err != nil {
		t.Fatal(err)
	}
	last := streamLastSeq(t, b)
	if err := b.cmds.SetPaused(b.ctx, "alice", "irc", "alice", true); err != nil {
		t.Fatal(err)
	}
	if again := streamLastSeq(t, b); again != last {
		t.Fatalf("pausing a paused destination appended an event (%d → %d)", last, again)
	}
	got, err = b.store.Delivery(b.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Settings) != 2 || got.Settings[0].Protocol != "email" || got.Settings[0].Digest == nil ||
		got.Settings[1].Protocol != "irc" || !got.Settings[1].Paused || got.Version != last {
		t.Fatalf("after pause: %+v (last event %d)", got, last)
	}
	if _, err := b.cmds.SetDelivery(b.ctx, "alice", got.Settings, ptr(v1), rulelog.Meta{}); !errors.Is(err, rulelog.ErrPreconditionFailed) {
		t.Fatalf("If-Match of before the pause: %v", err)
	}

	// Concurrent pauses of different destinations all land (the pauser
	// starts over on a conflict).
	var wg sync.WaitGroup
	for _, nick := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			if err := b.cmds.SetPaused(b.ctx, "bob", "irc", nick, true); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err = b.store.Delivery(b.ctx, "bob")
	if err != nil || len(got.Settings) != 4 {
		t.Fatalf("bob after 4 concurrent pauses: %+v, %v", got, err)
	}

	// The event is on the user's subject, with its type in the header.
	msg, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := msg.GetLastMsgForSubject(b.ctx, wire.RulesUserSubject("alice"))
	if err != nil || raw.Header.Get(wire.HeaderEvent) != rulelog.EventDeliveryUpdated {
		t.Fatalf("alice's last event: %v %v", raw, err)
	}
}

// TestDeliverySource: the senders' view follows a change within a second,
// through Redis' invalidation, through the progress notes alone, and
// through polls alone.
func TestDeliverySource(t *testing.T) {
	b := setup(t, setupOpts{})
	var wake <-chan struct{}
	redis := newRedis(t, b.prefix, &wake)
	src := rulelog.NewDeliverySource(rulelog.NewReader(b.pg.Pool, redis, b.prefix), testLogger(t))
	if _, err := src.Lookup(b.ctx, "alice", "irc", "alice"); !errors.Is(err, rulelog.ErrDeliveryNotLoaded) {
		t.Fatalf("lookup before the first load: %v", err)
	}
	go src.Run(b.ctx, wake, 250*time.Millisecond)
	fmntest.Eventually(t, 10*time.Second, "first load", func() bool { return src.Loads() > 0 })

	check := func(user, nick string, paused bool, within time.Duration) {
		t.Helper()
		start := time.Now()
		if err := b.cmds.SetPaused(b.ctx, user, "irc", nick, paused); err != nil {
			t.Fatal(err)
		}
		fmntest.Eventually(t, within, "the source sees the change", func() bool {
			s, err := src.Lookup(b.ctx, user, "irc", nick)
			return err == nil && s.Paused == paused
		})
		t.Logf("%s/%s paused=%v seen %s after the command began (loaded %d times)", user, nick, paused, time.Since(start), src.Loads())
	}
	// Under the load of a shared test machine, a little slack past the
	// one-second target.
	check("alice", "alice", true, 3*time.Second)
	check("alice", "alice", false, 3*time.Second)
	if s, err := src.Lookup(b.ctx, "alice", "email", "x@example.org"); err != nil || !s.IsDefault() || s.Address != "x@example.org" {
		t.Fatalf("a destination without a setting: %+v, %v", s, err)
	}

	// Without Redis wakes: progress notes.
	src2 := rulelog.NewDeliverySource(rulelog.NewReader(b.pg.Pool, nil, b.prefix), testLogger(t))
	sub, err := rulelog.FollowProgress(b.nats.Conn, "", src2.Noted)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	go src2.Run(b.ctx, nil, time.Hour)
	fmntest.Eventually(t, 10*time.Second, "first load", func() bool { return src2.Loads() > 0 })
	if err := b.cmds.SetPaused(b.ctx, "carol", "email", "c@example.org", true); err != nil {
		t.Fatal(err)
	}
	fmntest.Eventually(t, 3*time.Second, "the note-driven source sees the change", func() bool {
		s, err := src2.Lookup(b.ctx, "carol", "email", "c@example.org")
		return err == nil && s.Paused
	})
}
