package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// encodingJSON is what huma's own JSON format writes.
func encodingJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func handEncoded(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jsonFormat.Marshal(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// odd are strings that need escaping, or not: quotes, backslashes, control
// characters, HTML, non-ASCII, invalid UTF-8, U+2028 and U+2029, DEL.
var odd = []string{"", "alice", `a"b\c`, "tab\there\nnew\rret\bback\fform", "\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>",
	"élodie@example.org", "日本語", "\xff\xfe", "a\xe2\x80\xa8b\xe2\x80\xa9c", "\xe2\x80", "🙂", "\u2027\u202a"}

func randomRule(r *rand.Rand) Rule {
	pick := func() string { return odd[r.IntN(len(odd))] }
	ptr := func() *string {
		if r.IntN(3) == 0 {
			return nil
		}
		s := pick()
		return &s
	}
	list := func() []string {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		out := make([]string, 1+r.IntN(3))
		for i := range out {
			out[i] = pick()
		}
		return out
	}
	rule := Rule{ID: r.Int64(), Name: ptr(), Disabled: r.IntN(2) == 0, User: User{Name: pick(), IsAdmin: r.IntN(2) == 0},
		TrackingRule: TrackingRule{Name: pick()}, GeneratedLastWeek: r.Int64N(1000) - 10, Origin: ptr()}
	if r.IntN(2) == 0 {
		id := r.Int64N(100)
		rule.User.ID = &id
	}
	switch r.IntN(4) {
	case 0:
	case 1:
		rule.TrackingRule.Params = json.RawMessage("null")
	case 2:
		rule.TrackingRule.Params = json.RawMessage(` [ {"name": "firefox", "type" : "rpms"}, "a\u00e9<&>\u2028" ] `)
	case 3:
		p, _ := json.Marshal([]string{pick(), pick()})
		rule.TrackingRule.Params = p
	}
	if r.IntN(5) > 0 {
		rule.GenerationRules = make([]GenerationRule, r.IntN(3))
		for i := range rule.GenerationRules {
			g := &rule.GenerationRules[i]
			if r.IntN(3) > 0 {
				id := r.Int64()
				g.ID = &id
			}
			if r.IntN(4) > 0 {
				g.Destinations = make([]Destination, r.IntN(3))
				for j := range g.Destinations {
					g.Destinations[j] = Destination{Protocol: pick(), Address: pick()}
				}
			}
			g.Filters = Filters{Applications: list(), ExcludedApplications: list(), Severities: list(), Topic: ptr(), MyActions: r.IntN(2) == 0}
		}
	}
	return rule
}

// TestRuleEncoding: rules written by hand are byte for byte what
// encoding/json writes, alone and in lists.
func TestRuleEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 16))
	for range 2000 {
		list := make([]Rule, r.IntN(4))
		for i := range list {
			list[i] = randomRule(r)
		}
		if r.IntN(10) == 0 {
			list = nil
		}
		for _, v := range []any{list, randomRule(r)} {
			if got, want := handEncoded(t, v), encodingJSON(t, v); !bytes.Equal(got, want) {
				t.Fatalf("hand-written:\n%s\nencoding/json:\n%s", got, want)
			}
		}
	}
	// Params that are not JSON: encoding/json's error, from encoding/json.
	bad := Rule{TrackingRule: TrackingRule{Params: json.RawMessage("[1,")}}
	if err := jsonFormat.Marshal(&bytes.Buffer{}, bad); err == nil {
		t.Error("invalid params encoded")
	}
	// Anything else goes to encoding/json.
	other := map[string]any{"a": "<b>", "rules": []Rule{{ID: 1}}}
	if got, want := handEncoded(t, other), encodingJSON(t, other); !bytes.Equal(got, want) {
		t.Errorf("got %s, want %s", got, want)
	}
}

func FuzzRuleEncodingString(f *testing.F) {
	for _, s := range odd {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rule := Rule{Name: &s, User: User{Name: s}, TrackingRule: TrackingRule{Name: s, Params: json.RawMessage("null")},
			GenerationRules: []GenerationRule{{Destinations: []Destination{{Address: s}}, Filters: Filters{Applications: []string{s}, Topic: &s}}}}
		if got, want := handEncoded(t, rule), encodingJSON(t, rule); !bytes.Equal(got, want) {
			t.Fatalf("hand-written:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}

func BenchmarkRuleEncoding(b *testing.B) {
	list := make([]Rule, 20)
	for i := range list {
		name := "rule"
		topic := "org.fedoraproject.prod.bodhi.*"
		id := int64(i)
		list[i] = Rule{ID: int64(i), Name: &name, User: User{Name: "alice", ID: &id},
			TrackingRule: TrackingRule{Name: "artifacts-followed", Params: json.RawMessage(`[{"name": "firefox", "type": "rpms"}]`)},
			GenerationRules: []GenerationRule{{ID: &id, Destinations: []Destination{{Protocol: "email", Address: "alice@example.org"}},
				Filters: Filters{Applications: []string{}, ExcludedApplications: []string{}, Severities: []string{}, Topic: &topic}}}}
	}
	for _, f := range []struct {
		name string
		fn   func(*bytes.Buffer) error
	}{
		{"hand-written", func(w *bytes.Buffer) error { return jsonFormat.Marshal(w, list) }},
		{"encoding/json", func(w *bytes.Buffer) error {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			return enc.Encode(list)
		}},
	} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := f.fn(&buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
