package bot

import (
	"context"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// TestCommandWord: the first word, lower case, without a command prefix;
// hostile text is cut and cleaned.
func TestCommandWord(t *testing.T) {
	for in, want := range map[string]string{
		"help":                     "help",
		"  STOP now":               "stop",
		"!list":                    "list",
		"":                         "",
		" \t ":                     "",
		"\x01VERSION\x01":          "version",
		strings.Repeat("a", 10000): strings.Repeat("a", 64),
		"st\x00op":                 "stop",
		"\xff\xfestart":            "start",
	} {
		if got := command(in); got != want {
			t.Errorf("command(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnknownAndHelpNeedNoIdentity: help and unknown commands are answered
// without looking anyone up, in one line each; a sender over the rate
// limit gets nothing.
func TestUnknownAndHelpNeedNoIdentity(t *testing.T) {
	b, err := New(Config{Owners: noLookups{t}, Rules: noLookups{t}, Pauser: noLookups{t}, PublicURL: "https://fmn.example.org/", Burst: 3, Rate: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := Message{Protocol: rules.ProtocolIRC, From: "zed", Text: "frobnicate\r\nPRIVMSG #x :hi"}
	got := b.Answer(ctx, m)
	if len(got) != 1 || got[0] != `Unknown command "frobnicate". Say help for the commands fmn knows.` {
		t.Errorf("unknown = %q", got)
	}
	m.Text = "help"
	got = b.Answer(ctx, m)
	if len(got) != 3 || !strings.HasSuffix(got[2], "https://fmn.example.org/") {
		t.Errorf("help = %q", got)
	}
	for _, l := range got {
		if strings.ContainsAny(l, "\r\n") {
			t.Errorf("reply spans lines: %q", l)
		}
	}
	b.Answer(ctx, m)
	if got := b.Answer(ctx, m); got != nil {
		t.Errorf("fourth command within the burst of 3 answered: %q", got)
	}
	m.From = "ZED2"
	if got := b.Answer(ctx, m); len(got) != 3 {
		t.Errorf("another sender is limited too: %q", got)
	}
}

// noLookups fails the test when the bot looks anything up.
type noLookups struct{ t *testing.T }

func (n noLookups) ChatOwners(context.Context, rules.Destination) ([]directory.ChatOwner, error) {
	n.t.Error("ChatOwners called")
	return nil, nil
}

func (n noLookups) UserRules(context.Context, string) ([]rulelog.StoredRule, error) {
	n.t.Error("UserRules called")
	return nil, nil
}

func (n noLookups) SetPaused(context.Context, string, string, string, bool) error {
	n.t.Error("SetPaused called")
	return nil
}
