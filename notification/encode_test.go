package notification

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

func TestFastEncodingOn(t *testing.T) {
	if !fastEncoding {
		t.Fatal("Notification or Email changed: Marshal falls back to encoding/json; update encode.go to the new fields")
	}
}

var tricky = []string{
	"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "tab\tnl\nnr\rbs\bff\f", "\x00\x01\x1f\x7f",
	"héllo wörld ✓ 日本語 🎉", "line\u2028sep\u2029para", "bad \xff utf8 \xc3", "\xe2\x80", "trailing \\",
}

var (
	encSite  = Site{Name: "fmn <&>", PublicURL: "https://notifications.example.org/"}
	encNow   = time.Date(2025, 5, 1, 12, 30, 45, 123456789, time.UTC)
	encDests = []rules.Destination{
		{Protocol: rules.ProtocolEmail, Address: "a@example.org"},
		{Protocol: rules.ProtocolIRC, Address: "nick"},
		{Protocol: rules.ProtocolMatrix, Address: "@a:fedora.im"},
	}
)

// corpus is every valid message of bus/testdata/corpus (real Fedora
// messages of 21 apps), parsed, loaded once.
var corpus = sync.OnceValues(func() ([]*bus.Parsed, error) {
	f, err := os.Open("../bus/testdata/corpus/fedora-messages.jsonl")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*bus.Parsed
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct {
			bus.Message
			Expect struct {
				BodyValid bool `json:"body_valid"`
			} `json:"expect"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, err
		}
		if !line.Expect.BodyValid {
			continue
		}
		m, err := line.Message.NATSMsg()
		if err != nil {
			return nil, err
		}
		p, err := bus.ParseNATS(m.Subject, m.Header, m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, sc.Err()
})

func corpusMessages(tb testing.TB) []*bus.Parsed {
	tb.Helper()
	ps, err := corpus()
	if err != nil {
		tb.Fatal(err)
	}
	if len(ps) < 100 {
		tb.Fatalf("%d corpus messages", len(ps))
	}
	return ps
}

func checkSame(t *testing.T, n *Notification) {
	t.Helper()
	want, werr := json.Marshal(n)
	got, gerr := Marshal(n)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("errors differ: json %v, fast %v", werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodings differ:\n json %s\n fast %s", want, got)
	}
}

func TestMarshalMatchesJSON(t *testing.T) {
	t.Parallel()
	// Rendered notifications of real Fedora messages.
	for _, p := range corpusMessages(t) {
		for _, d := range encDests {
			checkSame(t, Render(p, "alice", d, []int64{3, 1, 3}, encSite, encNow))
		}
	}
	// Tricky strings in every field.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EDT", -4*3600)
	}
	times := []time.Time{{}, encNow, encNow.In(ny), encNow.In(time.FixedZone("odd", 5*3600+30*60+17)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))}
	for i, s := range tricky {
		p := &bus.Parsed{ID: s, Topic: s, App: s, Summary: s, Text: s, URL: s, Severity: i * 10, SentAt: times[i%len(times)]}
		for _, proto := range []string{rules.ProtocolEmail, rules.ProtocolIRC} {
			n := Render(p, s, rules.Destination{Protocol: proto, Address: s}, nil, encSite, times[(i+1)%len(times)])
			checkSame(t, n)
		}
	}
	// Shapes Render does not make.
	checkSame(t, &Notification{})
	checkSame(t, &Notification{RuleIDs: []int64{}, Email: &Email{}})
	checkSame(t, &Notification{Email: &Email{Headers: map[string]string{}}, Line: "x"})
	h := map[string]string{}
	for _, s := range tricky {
		h[s] = s
	}
	for i := range 20 {
		h[string(rune('a'+i))+"-Header"] = "v"
	}
	checkSame(t, &Notification{RuleIDs: []int64{-1, 0, 1 << 62}, Severity: -5, Email: &Email{Subject: "s", Body: "b", Headers: h}})
	checkSame(t, &Notification{Meta: &Meta{}})
	checkSame(t, &Notification{Meta: &Meta{Usernames: []string{}, NumFlatpaks: -1}})
	checkSame(t, &Notification{Meta: &Meta{NumUsernames: 1, NumGroups: 2, NumPackages: 3, NumContainers: 4, NumModules: 5, NumFlatpaks: 6}})
	checkSame(t, &Notification{Meta: &Meta{Modules: []string{"m"}}, Email: &Email{}})
	checkSame(t, &Notification{Meta: &Meta{Agent: tricky[2], Usernames: tricky, Groups: tricky, Packages: tricky, Containers: tricky, Modules: tricky, Flatpaks: tricky, NumPackages: 1 << 40}})
	for i, s := range tricky {
		p := &bus.Parsed{ID: s, Agent: s, Usernames: tricky[:i], Packages: tricky[i:], Groups: []string{s}, Flatpaks: []string{s, s}}
		checkSame(t, Render(p, s, encDests[0], nil, encSite, encNow))
	}
	checkSame(t, &Notification{Email: &Email{Subject: "s", Body: "b", PatchURL: "https://src.example.org/rpms/x/c/1.patch?a=<b>&c"}})
}

func TestMarshalOneAllocation(t *testing.T) {
	site := Site{Name: "fmn", PublicURL: "https://notifications.example.org"}
	for _, p := range corpusMessages(t) {
		for _, d := range []rules.Destination{encDests[0], encDests[2]} {
			n := Render(p, "alice", d, []int64{1, 2, 3}, site, time.Now())
			if allocs := testing.AllocsPerRun(1, func() { _, _ = Marshal(n) }); allocs > 1 {
				t.Fatalf("%v allocations encoding a notification of %s; want 1 (size estimate too small)", allocs, p.Topic)
			}
		}
	}
}

// BenchmarkMarshalNotification encodes the email notification of each
// valid corpus message in turn: ns/op is the mean over real Fedora
// messages of 21 apps.
func BenchmarkMarshalNotification(b *testing.B) {
	site := Site{Name: "fmn", PublicURL: "https://notifications.example.org"}
	var ns []*Notification
	for _, p := range corpusMessages(b) {
		ns = append(ns, Render(p, "alice", rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@example.org"}, []int64{1, 2}, site, encNow))
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = json.Marshal(ns[i%len(ns)])
			i++
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = Marshal(ns[i%len(ns)])
			i++
		}
	})
}
