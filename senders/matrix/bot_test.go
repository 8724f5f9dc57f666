package matrix_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bot/bottest"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
)

// TestBotCommands talks to the bot on a real Dendrite: in the direct room
// the sender made, the Matrix account a FAS account lists pauses, resumes
// and lists its rules; another account, in a direct room it opened with
// the bot, is refused.
func TestBotCommands(t *testing.T) {
	hs := startDendrite(t)
	b := setup(t, hs)
	eve := hs.register(t, "eve-"+fmntest.RandomID())
	env := bottest.Start(t)
	local, _, _ := strings.Cut(strings.TrimPrefix(b.rcpt.ID, "@"), ":")
	env.FAS.AddUser("alice", []string{"alice@example.org"}, []string{"irc:/alice", "matrix://localhost/" + local})
	dest := rules.Destination{Protocol: rules.ProtocolMatrix, Address: b.rcpt.ID}
	id := env.AddRule(t, "alice", "Updates in Matrix", false, dest)
	env.AddRule(t, "alice", "IRC only", false, rules.Destination{Protocol: rules.ProtocolIRC, Address: "alice"})

	s := b.sender(t, fmntest.Logger(t, -4))
	// The direct room the sender uses with alice.
	if err := s.Send(env.Ctx, sample("n1", b.rcpt.ID, "first notification")); err != nil {
		t.Fatal(err)
	}
	msgs := b.rcpt.waitMessages(t, b.bot.ID, 1)
	room := msgs[0].Room

	ctx, cancel := context.WithCancel(env.Ctx)
	listening := make(chan struct{})
	go func() { defer close(listening); s.Listen(ctx, env.Bot, nil) }()
	t.Cleanup(func() { cancel(); <-listening })
	// Listen skips what was said before it started: wait for its first
	// /sync before talking.
	time.Sleep(fmntest.Scaled(time.Second))

	n := 0
	say := func(u *user, room, text string, want int) []string {
		t.Helper()
		n++
		before := len(notices(t, u, room, b.bot.ID))
		u.call(t, http.MethodPut, "/rooms/"+url.PathEscape(room)+"/send/m.room.message/t"+fmt.Sprint(n),
			map[string]string{"msgtype": "m.text", "body": text}, nil)
		var got []string
		fmntest.Eventually(t, 20*time.Second, fmt.Sprintf("%d replies to %q", want, text), func() bool {
			got = notices(t, u, room, b.bot.ID)[before:]
			return len(got) >= want
		})
		return got
	}

	if got := say(b.rcpt, room, "help", 3); !strings.Contains(got[0], "stop") {
		t.Errorf("help = %q", got)
	}
	if got := say(b.rcpt, room, "stop", 1); !strings.HasPrefix(got[0], "Paused") || !strings.Contains(got[0], b.rcpt.ID) {
		t.Errorf("stop = %q", got)
	}
	if got := env.Paused(t, "alice"); !slices.Equal(got, []string{"matrix/" + b.rcpt.ID}) {
		t.Errorf("after stop, paused = %q", got)
	}
	if got := say(b.rcpt, room, "start", 1); !strings.HasPrefix(got[0], "Resumed") {
		t.Errorf("start = %q", got)
	}
	if got := env.Paused(t, "alice"); len(got) != 0 {
		t.Errorf("after start, paused = %q, want none", got)
	}
	list := say(b.rcpt, room, "list", 2)
	if wantLine := fmt.Sprintf("#%d Updates in Matrix %s/rules/%d", id, bottest.PublicURL, id); list[1] != wantLine || len(list) != 2 {
		t.Errorf("list = %q, want a header and %q", list, wantLine)
	}

	// Another account opens a direct room with the bot, which joins it;
	// no FAS account lists it, so it is refused.
	var created struct {
		RoomID string `json:"room_id"`
	}
	eve.call(t, http.MethodPost, "/createRoom", map[string]any{"is_direct": true, "invite": []string{b.bot.ID}, "preset": "trusted_private_chat"}, &created)
	fmntest.Eventually(t, 20*time.Second, "the bot joins eve's direct room", func() bool {
		return slices.Contains(b.bot.joinedRooms(t), created.RoomID)
	})
	if got := say(eve, created.RoomID, "stop", 1); !strings.Contains(got[0], "No Fedora account lists the Matrix account "+eve.ID) {
		t.Errorf("eve's stop = %q", got)
	}
	if got := env.Paused(t, "alice"); len(got) != 0 {
		t.Errorf("eve's refused stop paused %q", got)
	}
}

// notices are the bodies of the m.notice messages from sender in room,
// oldest first, as u reads them.
func notices(t *testing.T, u *user, room, sender string) []string {
	t.Helper()
	var out []string
	for _, m := range u.received(t) {
		if m.Room == room && m.Sender == sender && m.MsgType == "m.notice" {
			out = append(out, m.Body)
		}
	}
	return out
}
