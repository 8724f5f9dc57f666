package irc_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bot/bottest"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/senders/irc"
)

// TestBotCommands talks to fmn's nick on the real InspIRCd + Anope: a nick
// identified to services and listed in its FAS account pauses, resumes and
// lists; an unidentified nick, and an identified one no account lists, are
// refused; a flood gets a bounded number of replies.
func TestBotCommands(t *testing.T) {
	d := startIRCd(t, ircdOptions{})
	env := bottest.Start(t)
	env.FAS.AddUser("alice", []string{"alice@example.org"}, []string{"irc:/alice", "matrix:/alice"})
	ircRule := env.AddRule(t, "alice", "My updates on IRC", false,
		rules.Destination{Protocol: rules.ProtocolIRC, Address: "alice"},
		rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@example.org"})
	env.AddRule(t, "alice", "Mail only", false, rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@example.org"})
	off := env.AddRule(t, "alice", "Disabled IRC rule", true, rules.Destination{Protocol: rules.ProtocolIRC, Address: "alice"})

	s, err := irc.NewWithBot(config(t, d.url(false, botNick, botPass, "")), env.Bot, fmntest.Logger(t, -4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	waitStatus(t, s, "fmn connected and logged in", func(st irc.Status) bool { return st.Connected && st.Account == botNick })

	alice := d.connectClient(t, "alice")
	register(t, alice, "alice")

	say := func(c *client, text string, want int) []string {
		t.Helper()
		before := len(notices(c, botNick))
		c.send("PRIVMSG " + botNick + " :" + text)
		var got []string
		fmntest.Eventually(t, 15*time.Second, fmt.Sprintf("%d replies to %q", want, text), func() bool {
			got = notices(c, botNick)[before:]
			return len(got) >= want
		})
		return got
	}

	help := say(alice, "help", 3)
	if !strings.Contains(help[0], "help") || !strings.Contains(help[0], "stop") || !strings.Contains(help[2], bottest.PublicURL) {
		t.Errorf("help = %q", help)
	}

	if got := say(alice, "stop", 1); !strings.HasPrefix(got[0], "Paused") {
		t.Errorf("stop = %q", got)
	}
	if got := env.Paused(t, "alice"); !slices.Equal(got, []string{"irc/alice"}) {
		t.Errorf("after stop, paused = %q, want irc/alice", got)
	}
	if got := say(alice, "START", 1); !strings.HasPrefix(got[0], "Resumed") {
		t.Errorf("start = %q", got)
	}
	if got := env.Paused(t, "alice"); len(got) != 0 {
		t.Errorf("after start, paused = %q, want none", got)
	}
	say(alice, "stop", 1) // stays paused for the refusals below

	list := say(alice, "list", 2)
	wantLine := fmt.Sprintf("#%d My updates on IRC %s/rules/%d", ircRule, bottest.PublicURL, ircRule)
	if !strings.Contains(list[0], "1 of your rules") || list[1] != wantLine {
		t.Errorf("list = %q, want a header and %q", list, wantLine)
	}
	time.Sleep(300 * time.Millisecond)
	for _, l := range notices(alice, botNick) {
		if strings.Contains(l, "Mail only") || strings.Contains(l, fmt.Sprintf("#%d ", off)) {
			t.Errorf("list shows a rule that does not send to IRC or is disabled: %q", l)
		}
	}

	// Not identified: told how to identify.
	mallory := d.connectClient(t, "mallory")
	if got := say(mallory, "stop", 1); !strings.Contains(got[0], "not identified") || !strings.Contains(got[0], "NickServ IDENTIFY") {
		t.Errorf("unidentified stop = %q", got)
	}
	// Identified, but no FAS account lists the nick.
	carol := d.connectClient(t, "carol")
	register(t, carol, "carol")
	if got := say(carol, "stop", 1); !strings.Contains(got[0], "No Fedora account lists the nick carol") {
		t.Errorf("unknown account stop = %q", got)
	}
	// Every command needs the identification.
	if got := say(mallory, "list", 1); !strings.Contains(got[0], "not identified") {
		t.Errorf("unidentified list = %q", got)
	}
	if got := env.Paused(t, "alice"); !slices.Equal(got, []string{"irc/alice"}) {
		t.Errorf("after the refusals, alice's paused = %q", got)
	}
	for _, u := range []string{"carol", "mallory"} {
		if got := env.Paused(t, u); len(got) != 0 {
			t.Errorf("a refused command paused %s's %q", u, got)
		}
	}

	// A flood: 30 commands at once (what the server's receive queue
	// takes) get at most the burst of replies.
	flooder := d.connectClient(t, "flooder")
	for i := range 30 {
		flooder.send(fmt.Sprintf("PRIVMSG %s :bogus%d \x01\x02 %s", botNick, i, strings.Repeat("x", 200)))
	}
	say(flooder, "help", 0)
	time.Sleep(2 * time.Second)
	got := notices(flooder, botNick)
	if len(got) == 0 || len(got) > 6 {
		t.Errorf("flood of 31 messages got %d replies, want 1 to 6: %q", len(got), got)
	}
	for _, l := range got {
		if strings.ContainsAny(l, "\x01\x02") {
			t.Errorf("reply echoes control characters: %q", l)
		}
	}
	if st := s.Status(); !st.Connected {
		t.Errorf("fmn disconnected after the flood: %+v", st)
	}
}

// register makes nick a services account (Anope: registered and
// identified at once) and waits until the server knows it.
func register(t *testing.T, c *client, nick string) {
	t.Helper()
	c.send("PRIVMSG NickServ :REGISTER pw-" + nick + "-12345 " + nick + "@example.org")
	fmntest.Eventually(t, 15*time.Second, nick+" identified", func() bool { return c.whoisAccount(t, nick) == nick })
}

// notices are the texts of the NOTICEs c received from nick, in order.
func notices(c *client, from string) []string {
	var out []string
	for _, l := range c.allLines() {
		f := strings.SplitN(l, " ", 4)
		if len(f) == 4 && f[1] == "NOTICE" && strings.HasPrefix(f[0], ":"+from+"!") {
			out = append(out, strings.TrimPrefix(f[3], ":"))
		}
	}
	return out
}
