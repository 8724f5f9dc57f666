package notification_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fmn-project/fmn/notification"
)

func TestRenderMeta(t *testing.T) {
	t.Parallel()

	p := comment()
	p.Usernames = []string{"alice", "bob"}
	p.Packages = []string{"kernel", "python-requests"}
	p.Groups = []string{"packager"}
	n := notification.Render(p, "alice", email, []int64{1}, site, now)
	want := &notification.Meta{Agent: "bob", Usernames: []string{"alice", "bob"}, Groups: []string{"packager"}, Packages: []string{"kernel", "python-requests"}}
	if !reflect.DeepEqual(n.Meta, want) {
		t.Fatalf("Meta = %+v, want %+v", n.Meta, want)
	}
	p.Usernames[0] = "mallory"
	if n.Meta.Usernames[0] != "alice" {
		t.Error("Meta shares the parsed message's lists")
	}
	got := n.Meta.Headers()
	wantH := []notification.Header{
		{notification.HeaderAgent, "bob"},
		{notification.HeaderUsername, "alice"}, {notification.HeaderUsername, "bob"}, {notification.HeaderNumUsernames, "2"},
		{notification.HeaderGroup, "packager"}, {notification.HeaderNumGroups, "1"},
		{notification.HeaderPackage, "kernel"}, {notification.HeaderPackage, "python-requests"}, {notification.HeaderNumPackages, "2"},
	}
	if !reflect.DeepEqual(got, wantH) {
		t.Errorf("Headers =\n%v\nwant\n%v", got, wantH)
	}

	// Chat notifications carry no Meta; an email about nothing says it
	// names no package, as the old FMN did.
	if n := notification.Render(p, "alice", irc, nil, site, now); n.Meta != nil {
		t.Errorf("IRC notification has Meta %+v", n.Meta)
	}
	q := comment()
	q.Agent = ""
	n = notification.Render(q, "alice", email, nil, site, now)
	if got := n.Meta.Headers(); !reflect.DeepEqual(got, []notification.Header{{notification.HeaderNumPackages, "0"}}) {
		t.Errorf("Headers of a message about nothing = %v", got)
	}
	if (*notification.Meta)(nil).Headers() != nil {
		t.Error("a nil Meta has headers")
	}
}

// TestRenderMetaBounds: at most MaxMetaNames of each kind with the full
// number, long names cut, hostile names made one line.
func TestRenderMetaBounds(t *testing.T) {
	t.Parallel()

	p := comment()
	for i := range 250 {
		p.Packages = append(p.Packages, fmt.Sprintf("pkg%03d", i))
	}
	p.Usernames = []string{
		"eve\r\nBcc: victim@example.org", "  spaced  ", "", "comma, name", "zoë", strings.Repeat("x", 1000), "\x00\x1b[31m", "zoë",
	}
	p.Agent = "agent\nX-Evil: 1"
	n := notification.Render(p, "alice", email, nil, site, now)
	m := n.Meta
	if len(m.Packages) != notification.MaxMetaNames || m.Packages[0] != "pkg000" || m.Packages[9] != "pkg009" || m.NumPackages != 250 {
		t.Errorf("packages %v, num %d", m.Packages, m.NumPackages)
	}
	wantUsers := []string{"[31m", "comma, name", "eve Bcc: victim@example.org", "spaced", strings.Repeat("x", notification.MaxMetaName-1) + "…", "zoë"}
	if !reflect.DeepEqual(m.Usernames, wantUsers) || m.NumUsernames != 0 {
		t.Errorf("usernames %q, num %d", m.Usernames, m.NumUsernames)
	}
	if m.Agent != "agent X-Evil: 1" {
		t.Errorf("agent %q", m.Agent)
	}
	var packages, num int
	for _, h := range m.Headers() {
		if strings.ContainsAny(h.Value, "\r\n\x00") || utf8.RuneCountInString(h.Value) > notification.MaxMetaName {
			t.Errorf("header %s: %q", h.Name, h.Value)
		}
		switch h.Name {
		case notification.HeaderPackage:
			packages++
		case notification.HeaderNumPackages:
			num++
			if h.Value != "250" {
				t.Errorf("%s: %s", h.Name, h.Value)
			}
		}
	}
	if packages != 10 || num != 1 {
		t.Errorf("%d package headers, %d count headers", packages, num)
	}

	// A Meta decoded from NOTIFY is not trusted to be clean either.
	hs := (&notification.Meta{Agent: "a\r\nb", Modules: []string{"m\nX: y", ""}}).Headers()
	want := []notification.Header{{notification.HeaderAgent, "a b"}, {notification.HeaderNumPackages, "0"}, {notification.HeaderModule, "m X: y"}, {notification.HeaderNumModules, "1"}}
	if !reflect.DeepEqual(hs, want) {
		t.Errorf("Headers = %q", hs)
	}
}
