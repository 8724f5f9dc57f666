package irc_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fmn-project/fmn/senders/irc"
	"github.com/fmn-project/fmn/senders/senderstest"
)

const pw = "pa55-W0rd-9137"

func TestNewConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url   string
		check func(c irc.Config) bool
		str   string
	}{
		{"ircs://notifybot:" + pw + "@irc.libera.chat", func(c irc.Config) bool {
			return c.TLS && c.Port == 6697 && c.Nick == "notifybot" && string(c.Password) == pw && c.Account == "notifybot" &&
				c.AltNick == "notifybot_" && c.SASL == irc.SASLPlain && !c.NoNickServ && c.TLSServerName == "irc.libera.chat" &&
				c.Rate == 1 && c.Burst == 5 && c.ConnectWait == 30*time.Second
		}, "ircs://notifybot:<secret>@irc.libera.chat:6697?nickserv=true&sasl=plain"},
		{"irc://fmn@127.0.0.1:16667", func(c irc.Config) bool {
			return !c.TLS && c.Port == 16667 && c.Password == "" && c.User == "fmn"
		}, "irc://fmn@127.0.0.1:16667"},
		{"irc://fmn:" + pw + "@[::1]?insecure_auth=true&sasl=none&account=fmn-bot&alt_nick=fmn2&user=bot&realname=Fedora+Notifications&rate=0.5&burst=2&connect_wait=5s&timeout=10s&dial_timeout=2s", func(c irc.Config) bool {
			return c.Host == "::1" && c.Port == 6667 && c.SASL == irc.SASLNone && c.Account == "fmn-bot" && c.AltNick == "fmn2" &&
				c.User == "bot" && c.RealName == "Fedora Notifications" && c.Rate == 0.5 && c.Burst == 2 &&
				c.ConnectWait == 5*time.Second && c.ConfirmTimeout == 10*time.Second && c.DialTimeout == 2*time.Second
		}, "irc://fmn:<secret>@[::1]:6667?account=fmn-bot&insecure_auth=true&nickserv=true&sasl=none"},
		{"ircs://fmn:" + pw + "@irc.example.org:7000?nickserv=false&tls_server_name=irc.example.net&insecure_skip_verify=true", func(c irc.Config) bool {
			return c.NoNickServ && c.TLSServerName == "irc.example.net" && c.InsecureSkipVerify
		}, "ircs://fmn:<secret>@irc.example.org:7000?insecure_skip_verify=true&nickserv=false&sasl=plain&tls_server_name=irc.example.net"},
	}
	for _, c := range cases {
		cfg, err := irc.NewConfig(c.url)
		if err != nil {
			t.Errorf("NewConfig(%q): %v", c.url, err)
			continue
		}
		if !c.check(cfg) {
			t.Errorf("NewConfig(%q) = %#v", c.url, cfg)
		}
		if got := cfg.String(); got != c.str {
			t.Errorf("String()\n got %s\nwant %s", got, c.str)
		}
		for _, text := range []string{cfg.String(), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.Password)} {
			senderstest.NoSecret(t, pw, "printed config", text)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("no certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ url, want string }{
		{"", "not set"},
		{"http://fmn@irc.example.org", "scheme must be irc or ircs"},
		{"ircs://irc.example.org", "nick is missing"},
		{"ircs://fmn:" + pw + "@", "host is missing"},
		{"ircs://fmn@irc.example.org:99999", "port must be"},
		{"ircs://fmn@irc.example.org:x", "not a URL"},
		{"ircs://1fmn@irc.example.org", "not a valid nick"},
		{"ircs://fmn@irc.example.org/chan", "without a path"},
		{"irc://fmn:" + pw + "@irc.example.org", "clear text"},
		{"ircs://fmn:" + pw + "@irc.example.org?sasl=external", "plain or none"},
		{"ircs://fmn:" + pw + "@irc.example.org?sasl=none&nickserv=false", "never be used"},
		{"ircs://fmn@irc.example.org?rate=0", "rate must be"},
		{"ircs://fmn@irc.example.org?burst=-1", "burst must be"},
		{"ircs://fmn@irc.example.org?timeout=soon", "positive duration"},
		{"ircs://fmn@irc.example.org?alt_nick=fmn", "must differ"},
		{"ircs://fmn@irc.example.org?ca_file=" + notPEM, "no PEM certificate"},
		{"ircs://fmn@irc.example.org?ca_file=" + filepath.Join(dir, "missing"), "ca_file"},
		{"ircs://fmn@irc.example.org?color=red", `unknown parameter "color"`},
	}
	for _, c := range cases {
		_, err := irc.NewConfig(c.url)
		if err == nil {
			t.Errorf("NewConfig(%q): no error, want %q", c.url, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewConfig(%q) = %v, want %q", c.url, err, c.want)
		}
		if !strings.Contains(err.Error(), "FMN_IRC_URL") {
			t.Errorf("NewConfig(%q) = %v, does not name the setting", c.url, err)
		}
		senderstest.NoSecret(t, pw, "config error", err.Error())
	}
}

func TestSplitText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ünïcödé ", 100) + "https://example.org/" + strings.Repeat("x", 300)
	for _, limit := range []int{7, 50, 100, 399, 400} {
		parts := irc.SplitText(long, limit)
		var b strings.Builder
		for i, p := range parts {
			if len(p) > limit || p == "" || !utf8.ValidString(p) {
				t.Fatalf("limit %d: part %d is %d bytes, valid %v: %q", limit, i, len(p), utf8.ValidString(p), p)
			}
			b.WriteString(p)
		}
		if strings.ReplaceAll(b.String(), " ", "") != strings.ReplaceAll(long, " ", "") {
			t.Errorf("limit %d: parts do not add up to the text", limit)
		}
	}
	// Words stay whole when they can.
	if got := irc.SplitText("aaa bbb ccc ddd", 8); strings.Join(got, "|") != "aaa bbb|ccc ddd" {
		t.Errorf("split at spaces: %q", got)
	}
	if got := irc.SplitText("short", 400); len(got) != 1 || got[0] != "short" {
		t.Errorf("short text: %q", got)
	}
	// Not UTF-8 at all: still cut, never looping.
	if got := irc.SplitText(strings.Repeat("\x80", 20), 8); len(got) != 3 {
		t.Errorf("invalid UTF-8 split into %q", got)
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"  [app] summary url ":         "[app] summary url",
		"two\r\nlines":                 "two  lines",
		"\x01ACTION waves\x01":         "ACTION waves",
		"nul\x00byte":                  "nulbyte",
		"bad \xff utf8":                "bad \uFFFD utf8",
		"\x02bold\x02 stays \x0304red": "\x02bold\x02 stays \x0304red",
	}
	for in, want := range cases {
		if got := irc.CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		line          string
		source, cmd   string
		params        []string
		nick, trailer string
	}{
		{":irc.localhost 401 notifybot ghost :No such nick\r\n", "irc.localhost", "401", []string{"notifybot", "ghost", "No such nick"}, "irc.localhost", "No such nick"},
		{"@account=x;time=2024 :a!b@c PRIVMSG me :hi :there", "a!b@c", "PRIVMSG", []string{"me", "hi :there"}, "a", "hi :there"},
		{"PING :tok", "", "PING", []string{"tok"}, "", "tok"},
		{":irc.localhost CAP * LS * :sasl=PLAIN multi-prefix", "irc.localhost", "CAP", []string{"*", "LS", "*", "sasl=PLAIN multi-prefix"}, "irc.localhost", "sasl=PLAIN multi-prefix"},
		{":old!u@h nick new", "old!u@h", "NICK", []string{"new"}, "old", "new"},
	}
	for _, c := range cases {
		m, ok := irc.ParseMessage(c.line)
		if !ok || m.Source != c.source || m.Command != c.cmd || strings.Join(m.Params, "|") != strings.Join(c.params, "|") ||
			m.Nick() != c.nick || m.Trailing() != c.trailer {
			t.Errorf("parse %q = %+v, %v", c.line, m, ok)
		}
	}
	for _, bad := range []string{"", ":only-source", "@tags-only"} {
		if _, ok := irc.ParseMessage(bad); ok {
			t.Errorf("parse %q: ok", bad)
		}
	}
}
