package matrix_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/bot/bottest"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders/matrix"
	"github.com/fmn-project/fmn/senders/senderstest"
)

// resumeBundle is a bot on a real Dendrite that can be stopped and started
// again, as fmn is by a deploy or a crash, with its /sync position in a
// real JetStream bucket.
type resumeBundle struct {
	*bundle
	env       *bottest.Env
	positions matrix.SyncPositions
	room      string // alice's direct room with the bot
	txn       int
}

func setupResume(t *testing.T, positions func(n *fmntest.NATS) matrix.SyncPositions) *resumeBundle {
	t.Helper()
	hs := startDendrite(t)
	b := setup(t, hs)
	n := fmntest.StartNATS(t)
	env := bottest.Start(t)
	local, _, _ := strings.Cut(strings.TrimPrefix(b.rcpt.ID, "@"), ":")
	env.FAS.AddUser("alice", []string{"alice@example.org"}, []string{"matrix://localhost/" + local})
	// The direct room the sender makes for alice.
	s := b.sender(t, nil)
	if err := s.Send(env.Ctx, sample("n1", b.rcpt.ID, "first notification")); err != nil {
		t.Fatal(err)
	}
	room := b.rcpt.waitMessages(t, b.bot.ID, 1)[0].Room
	return &resumeBundle{bundle: b, env: env, positions: positions(n), room: room}
}

// listen runs a new bot in a new Sender (a new process, the same access
// token) until the returned stop is called.
func (r *resumeBundle) listen(t *testing.T, catchUp time.Duration, logger *slog.Logger) (stop func()) {
	t.Helper()
	if logger == nil {
		logger = fmntest.Logger(t, -4)
	}
	cfg := config(t, r.proxy.URL, r.bot.Token)
	cfg.BotCatchUp = catchUp
	s := newSender(t, cfg, logger)
	// A new process has a new bot, whose rate limits start afresh.
	answer, err := bot.New(bot.Config{
		Owners: r.env.Dir, Rules: r.env.Ops.Cmds.Store(), Pauser: r.env.Ops.Cmds,
		PublicURL: bottest.PublicURL, Log: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(r.env.Ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Listen(ctx, answer, r.positions) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// position is the bot's saved /sync position.
func (r *resumeBundle) position(t *testing.T) matrix.Position {
	t.Helper()
	pos, err := r.positions.Load(r.env.Ctx, r.bot.ID)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// waitPosition waits until the saved position is set and is not old.
func (r *resumeBundle) waitPosition(t *testing.T, old string) matrix.Position {
	t.Helper()
	var pos matrix.Position
	fmntest.Eventually(t, 20*time.Second, "the /sync position saved past "+old, func() bool {
		pos = r.position(t)
		return pos.Since != "" && pos.Since != old
	})
	return pos
}

// settled waits until the bot has saved the position of the batches it
// handled so far: the next /sync starts after the save.
func (r *resumeBundle) settled(t *testing.T) {
	t.Helper()
	n := len(r.proxy.Requests("GET /sync"))
	fmntest.Eventually(t, 20*time.Second, "the bot's next /sync", func() bool {
		return len(r.proxy.Requests("GET /sync")) > n
	})
}

// say sends text as u in room.
func (r *resumeBundle) say(t *testing.T, u *user, room, msgtype, text string) {
	t.Helper()
	r.txn++
	u.call(t, http.MethodPut, "/rooms/"+url.PathEscape(room)+"/send/m.room.message/r"+fmt.Sprint(r.txn),
		map[string]string{"msgtype": msgtype, "body": text}, nil)
}

// replies are the bot's notices in alice's room that start with prefix.
func (r *resumeBundle) replies(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for _, n := range notices(t, r.rcpt, r.room, r.bot.ID) {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// help asks for help as alice and waits for its answer: once it is there,
// the bot has handled everything before it.
func (r *resumeBundle) help(t *testing.T) {
	t.Helper()
	before := len(r.replies(t, "fmn commands"))
	r.say(t, r.rcpt, r.room, "m.text", "help")
	fmntest.Eventually(t, 20*time.Second, "the answer to help", func() bool {
		return len(r.replies(t, "fmn commands")) > before
	})
}

// TestBotResume stops and starts the bot on a real Dendrite: what alice
// sent while it was down is answered once when it is back (even behind
// more messages than a /sync timeline holds), again after a crash that
// lost the saved position (the transaction ids make the homeserver drop
// the repeated replies), not after a second restart, and not when it is
// older than bot_catch_up; an invite sent while it was down is accepted.
func TestBotResume(t *testing.T) {
	t.Parallel()
	r := setupResume(t, func(n *fmntest.NATS) matrix.SyncPositions {
		return matrix.NewKVSyncPositions(n.JS, matrix.KVSyncPositionsConfig{})
	})
	const day = 24 * time.Hour

	// First start: no saved position; the bot saves one after each batch.
	stop := r.listen(t, day, nil)
	r.waitPosition(t, "")
	r.help(t)
	r.settled(t)
	p1 := r.position(t)
	stop()

	// While it is down: alice says stop, then more than a /sync timeline
	// holds (notices, which the bot does not answer); carol opens a
	// direct room with the bot.
	r.say(t, r.rcpt, r.room, "m.text", "stop")
	for i := range 60 {
		r.say(t, r.rcpt, r.room, "m.notice", fmt.Sprint("filler ", i))
	}
	carol := r.hs.register(t, "carol-"+fmntest.RandomID())
	var created struct {
		RoomID string `json:"room_id"`
	}
	carol.call(t, http.MethodPost, "/createRoom", map[string]any{"is_direct": true, "invite": []string{r.bot.ID}, "preset": "trusted_private_chat"}, &created)

	// Back: the stop is answered and acted on, the invite accepted.
	stop = r.listen(t, day, nil)
	fmntest.Eventually(t, 30*time.Second, "the stop sent while the bot was down answered", func() bool {
		return len(r.replies(t, "Paused")) == 1
	})
	if got := r.env.Paused(t, "alice"); !slices.Equal(got, []string{"matrix/" + r.rcpt.ID}) {
		t.Errorf("after the stop sent while down, paused = %q", got)
	}
	fmntest.Eventually(t, 20*time.Second, "the bot joins carol's direct room, invited while it was down", func() bool {
		return slices.Contains(r.bot.joinedRooms(t), created.RoomID)
	})
	if got := r.proxy.Requests("/messages"); len(got) == 0 {
		t.Error("the limited timeline was not read back with /messages")
	}
	r.settled(t)
	stop()

	// A crash after the replies and before the save: the next process
	// handles the batch again, and the homeserver drops the replies it
	// already has (same transaction ids, same access token).
	if err := r.positions.Save(r.env.Ctx, r.bot.ID, p1); err != nil {
		t.Fatal(err)
	}
	stop = r.listen(t, day, nil)
	r.waitPosition(t, p1.Since)
	r.help(t)
	if got := r.replies(t, "Paused"); len(got) != 1 {
		t.Errorf("after a crash before the save, the stop was answered %d times: %q", len(got), got)
	}
	resent := map[string]int{}
	// The stop's reply was sent again, with the same transaction id.
	sentTwice := 0
	for _, req := range r.proxy.Requests("/send/m.room.message/fmn.bot.") {
		resent[req]++
		if resent[req] == 2 {
			sentTwice++
		}
	}
	if sentTwice != 1 {
		t.Errorf("%d replies sent again after the crash, want the stop's: %v", sentTwice, resent)
	}
	stop()

	// A second restart from the saved position answers nothing again.
	stop = r.listen(t, day, nil)
	r.help(t)
	if got := r.replies(t, "Paused"); len(got) != 1 {
		t.Errorf("after a second restart, the stop was answered %d times: %q", len(got), got)
	}
	stop()

	// A message older than bot_catch_up when the bot is back is not
	// answered.
	catchUp := fmntest.Scaled(2 * time.Second)
	r.say(t, r.rcpt, r.room, "m.text", "start")
	time.Sleep(catchUp + 500*time.Millisecond) // the message ages past bot_catch_up
	logger, logs := senderstest.Logger()
	stop = r.listen(t, catchUp, logger)
	r.help(t)
	if got := r.replies(t, "Resumed"); len(got) != 0 {
		t.Errorf("a start older than bot_catch_up was answered: %q", got)
	}
	if got := r.env.Paused(t, "alice"); len(got) != 1 {
		t.Errorf("a start older than bot_catch_up resumed: paused = %q", got)
	}
	stop()
	if !strings.Contains(logs.String(), "older than bot_catch_up") {
		t.Errorf("skipping an old message is not logged:\n%s", logs)
	}
	senderstest.NoSecret(t, r.bot.Token, "log", logs.String())
}

// brokenPositions is a position store that never works (NATS down, no
// permission on the bucket).
type brokenPositions struct{}

func (brokenPositions) Load(context.Context, string) (matrix.Position, error) {
	return matrix.Position{}, errors.New("nats: no responders available for request")
}

func (brokenPositions) Save(context.Context, string, matrix.Position) error {
	return errors.New("nats: no responders available for request")
}

// TestBotResumeFallbacks: a saved position the homeserver refuses makes
// the bot start from now, saying so; a position store that fails leaves
// the bot working as without one, said once.
func TestBotResumeFallbacks(t *testing.T) {
	t.Parallel()

	t.Run("RefusedPosition", func(t *testing.T) {
		t.Parallel()
		r := setupResume(t, func(n *fmntest.NATS) matrix.SyncPositions {
			return matrix.NewKVSyncPositions(n.JS, matrix.KVSyncPositionsConfig{})
		})
		const bogus = "not-a-position-of-this-homeserver"
		if err := r.positions.Save(r.env.Ctx, r.bot.ID, matrix.Position{Since: bogus, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		logger, logs := senderstest.Logger()
		r.listen(t, time.Hour, logger)
		r.waitPosition(t, bogus)
		r.help(t)
		if got := strings.Count(logs.String(), "refused the /sync position"); got != 1 {
			t.Errorf("the refused position is logged %d times, want once:\n%s", got, logs)
		}
		senderstest.NoSecret(t, r.bot.Token, "log", logs.String())
	})

	t.Run("StoreDown", func(t *testing.T) {
		t.Parallel()
		r := setupResume(t, func(*fmntest.NATS) matrix.SyncPositions { return brokenPositions{} })
		logger, logs := senderstest.Logger()
		r.listen(t, time.Hour, logger)
		// Listen starts from now without a position: wait for its first
		// /sync before talking.
		time.Sleep(fmntest.Scaled(time.Second))
		r.help(t)
		r.help(t)
		if got := strings.Count(logs.String(), "cannot read or save the /sync position"); got != 1 {
			t.Errorf("the failing store is logged %d times, want once:\n%s", got, logs)
		}
		senderstest.NoSecret(t, r.bot.Token, "log", logs.String())
	})
}

// TestSyncKey: every Matrix user id is a valid key of its own.
func TestSyncKey(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	p := matrix.NewKVSyncPositions(n.JS, matrix.KVSyncPositionsConfig{})
	ctx := fmntest.Context(t)
	ids := []string{"@fmn:fedora.im", "@FMN:fedora.im", "@fmn.bot:example.org:8448", "@a/b=c:[::1]", "", "@é*>:x", "@fmn=3A:fedora.im"}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	for i, id := range ids {
		if err := p.Save(ctx, id, matrix.Position{Since: fmt.Sprint("pos", i), At: at}); err != nil {
			t.Fatalf("Save(%q): %v (key %q)", id, err, matrix.SyncKey(id))
		}
	}
	for i, id := range ids {
		if got, err := p.Load(ctx, id); err != nil || got.Since != fmt.Sprint("pos", i) || !got.At.Equal(at) {
			t.Errorf("Load(%q) = %+v, %v; want pos%d", id, got, err, i)
		}
	}
	if got, err := p.Load(ctx, "@nobody:fedora.im"); err != nil || got.Since != "" {
		t.Errorf("Load of an account without a position = %+v, %v", got, err)
	}
	if got := matrix.SyncKey("@fmn:fedora.im"); got != "=40fmn=3Afedora=2Eim" {
		t.Errorf("SyncKey = %q", got)
	}
}
