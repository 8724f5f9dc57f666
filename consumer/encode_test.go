package consumer

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

func TestFastEncodingOn(t *testing.T) {
	if !fastEncoding {
		t.Fatal("notification.Notification or Email changed: marshalNotification falls back to encoding/json; update encode.go to the new fields")
	}
}

var tricky = []string{
	"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "tab\tnl\nnr\rbs\bff\f", "\x00\x01\x1f\x7f",
	"héllo wörld ✓ 日本語 🎉", "line\u2028sep\u2029para", "bad \xff utf8 \xc3", "\xe2\x80", "trailing \\",
}

func checkSame(t *testing.T, n *notification.Notification) {
	t.Helper()
	want, werr := json.Marshal(n)
	got, gerr := marshalNotification(n)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("errors differ: json %v, fast %v", werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodings differ:\n json %s\n fast %s", want, got)
	}
}

func TestMarshalNotificationMatchesJSON(t *testing.T) {
	site := notification.Site{Name: "fmn <&>", PublicURL: "https://notifications.example.org/"}
	now := time.Date(2025, 5, 1, 12, 30, 45, 123456789, time.UTC)
	// Rendered notifications of generated Fedora-like messages.
	w := newBenchWorld(3, 200, 300)
	for _, bm := range w.benchMessages(300) {
		p, err := bus.ParseNATS(bm.Msg.Subject, bm.Msg.Header, bm.Msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []rules.Destination{
			{Protocol: rules.ProtocolEmail, Address: "a@example.org"},
			{Protocol: rules.ProtocolIRC, Address: "nick"},
			{Protocol: rules.ProtocolMatrix, Address: "@a:fedora.im"},
		} {
			checkSame(t, notification.Render(p, "alice", d, []int64{3, 1, 3}, site, now))
		}
	}
	// Tricky strings in every field.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EDT", -4*3600)
	}
	times := []time.Time{{}, now, now.In(ny), now.In(time.FixedZone("odd", 5*3600+30*60+17)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))}
	for i, s := range tricky {
		p := &bus.Parsed{ID: s, Topic: s, App: s, Summary: s, Text: s, URL: s, Severity: i * 10, SentAt: times[i%len(times)]}
		for _, proto := range []string{rules.ProtocolEmail, rules.ProtocolIRC} {
			n := notification.Render(p, s, rules.Destination{Protocol: proto, Address: s}, nil, site, times[(i+1)%len(times)])
			checkSame(t, n)
		}
	}
	// Shapes Render does not make.
	checkSame(t, &notification.Notification{})
	checkSame(t, &notification.Notification{RuleIDs: []int64{}, Email: &notification.Email{}})
	checkSame(t, &notification.Notification{Email: &notification.Email{Headers: map[string]string{}}, Line: "x"})
	h := map[string]string{}
	for _, s := range tricky {
		h[s] = s
	}
	for i := range 20 {
		h[string(rune('a'+i))+"-Header"] = "v"
	}
	checkSame(t, &notification.Notification{RuleIDs: []int64{-1, 0, 1 << 62}, Severity: -5, Email: &notification.Email{Subject: "s", Body: "b", Headers: h}})
	checkSame(t, &notification.Notification{Email: &notification.Email{Subject: "s", Body: "b", PatchURL: "https://src.example.org/rpms/x/c/1.patch?a=<b>&c"}})
}

func BenchmarkMarshalNotification(b *testing.B) {
	w := newBenchWorld(3, 200, 300)
	bm := w.benchMessages(1)[0]
	p, err := bus.ParseNATS(bm.Msg.Subject, bm.Msg.Header, bm.Msg.Data)
	if err != nil {
		b.Fatal(err)
	}
	n := notification.Render(p, "alice", rules.Destination{Protocol: rules.ProtocolEmail, Address: "a@example.org"}, []int64{1, 2},
		notification.Site{Name: "fmn", PublicURL: "https://n.example.org"}, time.Now())
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(n)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = marshalNotification(n)
		}
	})
}

func TestMarshalNotificationOneAllocation(t *testing.T) {
	w := newBenchWorld(5, 200, 300)
	site := notification.Site{Name: "fmn", PublicURL: "https://notifications.example.org"}
	for _, bm := range w.benchMessages(200) {
		p, err := bus.ParseNATS(bm.Msg.Subject, bm.Msg.Header, bm.Msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []rules.Destination{{Protocol: rules.ProtocolEmail, Address: "a@example.org"}, {Protocol: rules.ProtocolMatrix, Address: "@a:fedora.im"}} {
			n := notification.Render(p, "alice", d, []int64{1, 2, 3}, site, time.Now())
			if allocs := testing.AllocsPerRun(1, func() { _, _ = marshalNotification(n) }); allocs > 1 {
				t.Fatalf("%v allocations encoding a notification of %s; want 1 (size estimate too small)", allocs, bm.Msg.Subject)
			}
		}
	}
}
