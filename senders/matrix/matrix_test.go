package matrix_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/matrix"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/wire"
)

// sample is a Matrix notification as the renderer makes it.
func sample(id, to, line string) *notification.Notification {
	return &notification.Notification{
		ID: id, MessageID: "msg-" + id, Topic: "org.fedoraproject.prod.bodhi.update.comment",
		Protocol: matrix.Channel, Address: to, User: "alice", RuleID: 12, RuleIDs: []int64{12},
		App: "bodhi", Severity: 20, SentAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Summary: "alice commented on FEDORA-2024-1", URL: "https://bodhi.example.org/updates/FEDORA-2024-1",
		Line: line,
	}
}

func config(t *testing.T, homeserver, token string) matrix.Config {
	t.Helper()
	cfg, err := matrix.NewConfig(homeserver, token)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RequestTimeout = 10 * time.Second
	return cfg
}

func newSender(t *testing.T, cfg matrix.Config, logger *slog.Logger) *matrix.Sender {
	t.Helper()
	s, err := matrix.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bundle is what a Matrix test needs: a bot and a recipient on a
// homeserver, and a proxy in front of it that the sender talks to.
type bundle struct {
	hs        *homeserver
	proxy     *proxy
	bot, rcpt *user
}

func setup(t *testing.T, hs *homeserver) *bundle {
	t.Helper()
	id := fmntest.RandomID()
	return &bundle{
		hs:    hs,
		proxy: startProxy(t, hs),
		bot:   hs.register(t, "fmnbot-"+id),
		rcpt:  hs.register(t, "alice-"+id),
	}
}

func (b *bundle) sender(t *testing.T, logger *slog.Logger) *matrix.Sender {
	return newSender(t, config(t, b.proxy.URL, b.bot.Token), logger)
}

// direct is the bot's m.direct account data.
func (b *bundle) direct(t *testing.T) map[string][]string {
	t.Helper()
	var d map[string][]string
	b.bot.call(t, http.MethodGet, "/user/"+url.PathEscape(b.bot.ID)+"/account_data/m.direct", nil, &d)
	return d
}

func TestConformance(t *testing.T) {
	t.Parallel()
	hs := startDendrite(t)
	senderstest.RunConformance(t, func(t *testing.T) *senderstest.Peer {
		b := setup(t, hs)
		wrong := "syt_wrong_" + fmntest.RandomID() + "_token"
		return &senderstest.Peer{
			NewSender: func(t *testing.T, logger *slog.Logger) senders.Sender { return b.sender(t, logger) },
			NewSenderWithWrongSecret: func(t *testing.T, logger *slog.Logger) senders.Sender {
				return newSender(t, config(t, b.proxy.URL, wrong), logger)
			},
			Secrets:          []string{b.bot.Token, wrong},
			Recipient:        b.rcpt.ID,
			UnknownRecipient: "@nobody-" + fmntest.RandomID() + ":localhost",
			Notification:     sample,
			Received:         func(t *testing.T) []string { return bodies(b.rcpt.received(t), b.bot.ID) },
			Break: func(t *testing.T) func() {
				b.proxy.setBroken(true)
				return func() { b.proxy.setBroken(false) }
			},
		}
	})
}

func TestMatrix(t *testing.T) {
	t.Parallel()
	hs := startDendrite(t)

	t.Run("ExactMTextInADirectRoom", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		n := fmntest.StartNATS(t)
		s := b.sender(t, nil)
		out := senderstest.Start(t, n, s, senderstest.FastOptions(5), nil)
		line := "[bodhi] alice commented on FEDORA-2024-1 ✓ https://bodhi.example.org/updates/FEDORA-2024-1"
		senderstest.Publish(t, n, matrix.Channel, sample("n1", b.rcpt.ID, line))
		fmntest.Eventually(t, 20*time.Second, "sent", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, matrix.Channel)

		// The invite, as the recipient's client sees it before joining.
		rooms := b.direct(t)[b.rcpt.ID]
		if len(rooms) != 1 {
			t.Fatalf("bot's m.direct lists %v for %s, want one room", rooms, b.rcpt.ID)
		}
		var member struct {
			Membership string `json:"membership"`
			IsDirect   bool   `json:"is_direct"`
		}
		b.bot.call(t, http.MethodGet, "/rooms/"+url.PathEscape(rooms[0])+"/state/m.room.member/"+url.PathEscape(b.rcpt.ID), nil, &member)
		if member.Membership != "invite" || !member.IsDirect {
			t.Errorf("recipient's membership %+v, want a direct invite", member)
		}

		msgs := b.rcpt.waitMessages(t, b.bot.ID, 1)
		if len(msgs) != 1 {
			t.Fatalf("received %+v, want one message", msgs)
		}
		if m := msgs[0]; m.MsgType != "m.text" || m.Body != line || m.Sender != b.bot.ID || m.Room != rooms[0] {
			t.Errorf("received %+v, want m.text %q from %s in %s", m, line, b.bot.ID, rooms[0])
		}
		if out.Count(wire.Sent) != 1 {
			t.Errorf("outcomes %+v", out.All())
		}
	})

	// A digest: one message, one line per notification up to the cap,
	// then the count of the rest with a link.
	t.Run("DigestLines", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		var held []*notification.Notification
		for i := range notification.MaxDigestLines + 5 {
			held = append(held, sample(fmt.Sprint("d", i), b.rcpt.ID, fmt.Sprintf("[koji] build %d", i)))
		}
		dg := notification.Digest("dg", held, notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}, time.Now())
		if err := b.sender(t, nil).Send(fmntest.Context(t), dg); err != nil {
			t.Fatal(err)
		}
		got := bodies(b.rcpt.waitMessages(t, b.bot.ID, 1), b.bot.ID)
		if len(got) != 1 {
			t.Fatalf("received %q, want one message", got)
		}
		lines := strings.Split(got[0], "\n")
		if len(lines) != notification.MaxDigestLines || lines[0] != "[koji] build 0" || lines[len(lines)-1] != "… and 6 more: https://fmn.example.org/" {
			t.Errorf("digest lines %q", lines)
		}
	})

	t.Run("DirectRoomReusedAcrossRestarts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		ctx := fmntest.Context(t)
		s1 := b.sender(t, nil)
		// Sent while the recipient is invited, then after they joined.
		if err := s1.Send(ctx, sample("r1", b.rcpt.ID, "first")); err != nil {
			t.Fatal(err)
		}
		if got := bodies(b.rcpt.waitMessages(t, b.bot.ID, 1), b.bot.ID); !slices.Equal(got, []string{"first"}) {
			t.Fatalf("received %q", got)
		}
		if err := s1.Send(ctx, sample("r2", b.rcpt.ID, "second")); err != nil {
			t.Fatal(err)
		}
		s1.Close()
		// A new process: it knows the room from the bot's m.direct.
		s2 := b.sender(t, nil)
		if err := s2.Send(ctx, sample("r3", b.rcpt.ID, "third")); err != nil {
			t.Fatal(err)
		}

		msgs := b.rcpt.waitMessages(t, b.bot.ID, 3)
		if got := bodies(msgs, b.bot.ID); !slices.Equal(got, []string{"first", "second", "third"}) {
			t.Errorf("received %q", got)
		}
		rooms := map[string]bool{}
		for _, m := range msgs {
			rooms[m.Room] = true
		}
		if len(rooms) != 1 || len(b.rcpt.joinedRooms(t)) != 1 {
			t.Errorf("messages in rooms %v, want one direct room", rooms)
		}
		if got := b.proxy.Requests("POST /createRoom"); len(got) != 1 {
			t.Errorf("%d rooms created, want 1", len(got))
		}
		if d := b.direct(t); len(d[b.rcpt.ID]) != 1 || !rooms[d[b.rcpt.ID][0]] {
			t.Errorf("bot's m.direct = %v, want the room %v", d, rooms)
		}
	})

	t.Run("RateLimitedSendWaitsAndSucceeds", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		n := fmntest.StartNATS(t)
		b.proxy.rateLimit(1, 300)
		out := senderstest.Start(t, n, b.sender(t, nil), senderstest.FastOptions(5), nil)
		senderstest.Publish(t, n, matrix.Channel, sample("limited", b.rcpt.ID, "after the limit"))
		fmntest.Eventually(t, 20*time.Second, "sent", func() bool { return out.Count(wire.Sent) == 1 })
		senderstest.Settled(t, n, matrix.Channel)
		o := out.All()
		if len(o) != 1 || o[0].Delivery != 1 || o[0].Duration < 300*time.Millisecond {
			t.Errorf("outcomes %+v, want one sent on the first delivery after waiting 300ms", o)
		}
		sends := b.proxy.Requests("/send/m.room.message/")
		if len(sends) != 2 || sends[0] != sends[1] {
			t.Errorf("sends %v, want the same transaction twice", sends)
		}
		if got := bodies(b.rcpt.waitMessages(t, b.bot.ID, 1), b.bot.ID); !slices.Equal(got, []string{"after the limit"}) {
			t.Errorf("received %q", got)
		}
	})

	t.Run("LongRateLimitIsTransient", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		cfg := config(t, b.proxy.URL, b.bot.Token)
		cfg.MaxRateLimitWait = 100 * time.Millisecond
		s := newSender(t, cfg, nil)
		b.proxy.rateLimit(1, 5000)
		start := time.Now()
		err := s.Send(fmntest.Context(t), sample("slow", b.rcpt.ID, "later"))
		var rl *matrix.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != 5*time.Second || senders.IsPermanent(err) {
			t.Fatalf("Send() = %v, want a transient rate limit error of 5s", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Send waited %s, more than its bound", took)
		}
		if !strings.Contains(err.Error(), "M_LIMIT_EXCEEDED") {
			t.Errorf("error does not say why: %v", err)
		}
		// The retry goes through, in the same room, once.
		if err := s.Send(fmntest.Context(t), sample("slow", b.rcpt.ID, "later")); err != nil {
			t.Fatal(err)
		}
		if got := bodies(b.rcpt.waitMessages(t, b.bot.ID, 1), b.bot.ID); !slices.Equal(got, []string{"later"}) {
			t.Errorf("received %q", got)
		}
	})

	t.Run("UnknownUserIsDeadLettered", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		n := fmntest.StartNATS(t)
		out := senderstest.Start(t, n, b.sender(t, nil), senderstest.FastOptions(5), nil)
		senderstest.Publish(t, n, matrix.Channel, sample("ghost", "@ghost:localhost", "nobody reads this"))
		senderstest.Publish(t, n, matrix.Channel, sample("typo", "alice", "nor this"))
		dls := senderstest.WaitDeadLetters(t, n, matrix.Channel, 2)
		senderstest.Settled(t, n, matrix.Channel)
		wants := []string{
			"permanent failure: Matrix user @ghost:localhost does not exist: GET /profile/@ghost:localhost: 404 M_NOT_FOUND: The user does not exist or does not have a profile",
			`permanent failure: recipient "alice" is not a Matrix user id (@username:server.tld)`,
		}
		for i, want := range wants {
			if got := dls[i].Header.Get(wire.HeaderReason); got != want {
				t.Errorf("reason\n got %q\nwant %q", got, want)
			}
		}
		if got := b.proxy.Requests("POST /createRoom"); len(got) != 0 {
			t.Errorf("rooms created for nobody: %v", got)
		}
		if out.Count(wire.Dead) != 2 || out.Count(wire.Retry) != 0 {
			t.Errorf("outcomes %+v", out.All())
		}
	})

	t.Run("RetryAfterLostReplyPostsOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		s := b.sender(t, nil)
		ctx := fmntest.Context(t)
		// Run sends again when the first outcome was lost (a crash
		// before the ack): the transaction id makes it a no-op.
		for range 2 {
			if err := s.Send(ctx, sample("twice", b.rcpt.ID, "only once")); err != nil {
				t.Fatal(err)
			}
		}
		// A marker sent after: a second copy would arrive before it.
		if err := s.Send(ctx, sample("marker", b.rcpt.ID, "marker")); err != nil {
			t.Fatal(err)
		}
		msgs := b.rcpt.waitMessages(t, b.bot.ID, 2)
		if got := bodies(msgs, b.bot.ID); !slices.Equal(got, []string{"only once", "marker"}) {
			t.Errorf("received %q", got)
		}
	})

	t.Run("RecipientWhoLeftGetsANewRoom", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		cfg := config(t, b.proxy.URL, b.bot.Token)
		cfg.RoomRecheck = time.Nanosecond
		s := newSender(t, cfg, nil)
		ctx := fmntest.Context(t)
		if err := s.Send(ctx, sample("a", b.rcpt.ID, "before")); err != nil {
			t.Fatal(err)
		}
		msgs := b.rcpt.waitMessages(t, b.bot.ID, 1)
		if len(msgs) != 1 {
			t.Fatalf("received %+v", msgs)
		}
		first := msgs[0].Room
		b.rcpt.call(t, http.MethodPost, "/rooms/"+url.PathEscape(first)+"/leave", map[string]any{}, nil)
		fmntest.Eventually(t, 20*time.Second, "the bot sees the recipient leave", func() bool {
			var member struct {
				Membership string `json:"membership"`
			}
			b.bot.call(t, http.MethodGet, "/rooms/"+url.PathEscape(first)+"/state/m.room.member/"+url.PathEscape(b.rcpt.ID), nil, &member)
			return member.Membership == "leave"
		})
		if err := s.Send(ctx, sample("b", b.rcpt.ID, "after")); err != nil {
			t.Fatal(err)
		}
		msgs = b.rcpt.waitMessages(t, b.bot.ID, 1)
		if len(msgs) != 1 || msgs[0].Body != "after" || msgs[0].Room == first {
			t.Errorf("received %+v, want %q in a new room", msgs, "after")
		}
		if d := b.direct(t)[b.rcpt.ID]; len(d) != 2 || d[0] != first {
			t.Errorf("m.direct lists %v, want the old and the new room", d)
		}
	})

	t.Run("BadTokenIsTransientAndSaysSo", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hs)
		s := newSender(t, config(t, b.proxy.URL, "not-the-token"), nil)
		err := s.Send(fmntest.Context(t), sample("x", b.rcpt.ID, "x"))
		if err == nil || senders.IsPermanent(err) {
			t.Fatalf("Send() = %v, want a transient error", err)
		}
		for _, want := range []string{"401 M_UNKNOWN_TOKEN", "FMN_MATRIX_TOKEN"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
}

// TestWithoutHomeserver covers what needs no homeserver.
func TestWithoutHomeserver(t *testing.T) {
	t.Parallel()
	const token = "syt_Zm1uYm90_VeryS3cretToken_0a1b2c"

	t.Run("Config", func(t *testing.T) {
		t.Parallel()
		cfg, err := matrix.NewConfig("https://matrix.example.org/?timeout=5s&max_rate_limit_wait=1m&room_recheck=1h&bot_catch_up=2h", token)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Homeserver.String() != "https://matrix.example.org" || cfg.RequestTimeout != 5*time.Second ||
			cfg.MaxRateLimitWait != time.Minute || cfg.RoomRecheck != time.Hour || cfg.BotCatchUp != 2*time.Hour {
			t.Errorf("config %+v", cfg)
		}
		cfg, err = matrix.NewConfig("http://127.0.0.1:8008", token)
		if err != nil || cfg.RequestTimeout != 30*time.Second || cfg.MaxRateLimitWait != 30*time.Second || cfg.RoomRecheck != 10*time.Minute ||
			cfg.BotCatchUp != 24*time.Hour {
			t.Errorf("defaults %+v (%v)", cfg, err)
		}
		senderstest.NoSecret(t, token, "config", fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg))
		logger, logs := senderstest.Logger()
		logger.Info("config", "cfg", cfg, "token", cfg.Token)
		senderstest.NoSecret(t, token, "log", logs.String())
	})

	t.Run("ConfigErrors", func(t *testing.T) {
		t.Parallel()
		cases := []struct{ url, token, want string }{
			{"", token, "FMN_MATRIX_URL: must be set"},
			{"matrix.example.org", token, "FMN_MATRIX_URL: scheme must be http or https"},
			{"https://", token, "FMN_MATRIX_URL: URL has no host"},
			{"http://matrix.example.org", token, "FMN_MATRIX_URL: http:// would send the access token in clear text"},
			{"https://bot:" + token + "@matrix.example.org", "x", "FMN_MATRIX_URL: must not hold credentials"},
			{"https://matrix.example.org?timeout=soon", token, "FMN_MATRIX_URL: parameter timeout must be a positive duration"},
			{"https://matrix.example.org?tiemout=1s", token, `FMN_MATRIX_URL: unknown parameter "tiemout"`},
			{"https://matrix.example.org", "", "FMN_MATRIX_TOKEN: must be set"},
			{"https://matrix.example.org", "two words", "FMN_MATRIX_TOKEN: holds a space"},
		}
		for _, c := range cases {
			_, err := matrix.NewConfig(c.url, c.token)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewConfig(%q) = %v, want %q", c.url, err, c.want)
				continue
			}
			senderstest.NoSecret(t, token, "config error", err.Error())
		}
		if _, err := matrix.NewConfig("http://matrix.internal?insecure_http=true", token); err != nil {
			t.Errorf("insecure_http=true: %v", err)
		}
	})

	t.Run("BadNotificationsArePermanent", func(t *testing.T) {
		t.Parallel()
		// Nothing listens: a request would fail transiently.
		s := newSender(t, config(t, "http://127.0.0.1:1", token), nil)
		ctx := fmntest.Context(t)
		noLine := sample("a", "@alice:example.org", "")
		for _, c := range []struct {
			n    *notification.Notification
			want string
		}{
			{sample("a", "alice@example.org", "x"), `recipient "alice@example.org" is not a Matrix user id`},
			{sample("a", "@alice", "x"), `recipient "@alice" is not a Matrix user id`},
			{sample("a", "@alice :example.org", "x"), "is not a Matrix user id"},
			{noLine, "notification a has no rendered line"},
			{sample("", "@alice:example.org", "x"), "notification has no id"},
		} {
			err := s.Send(ctx, c.n)
			if !senders.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Send(%q) = %v, want permanent %q", c.n.Address, err, c.want)
			}
		}
		err := s.Send(ctx, sample("b", "@alice:example.org", "x"))
		if err == nil || senders.IsPermanent(err) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Send to an unreachable homeserver = %v, want transient connection refused", err)
		}
	})
}
