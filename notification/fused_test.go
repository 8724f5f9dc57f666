package notification

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// checkAppendJSON: AppendJSON writes, after what dst holds, the bytes
// AppendMarshal writes for Render's notification, and returns its id.
func checkAppendJSON(t *testing.T, pr *Prepared, user string, d rules.Destination, ids []int64) {
	t.Helper()
	n := pr.Render(user, d, ids)
	want, werr := AppendMarshal([]byte("prefix"), n)
	id, got, err := pr.AppendJSON([]byte("prefix"), user, d, ids)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%s %s: AppendJSON error %v, AppendMarshal's %v", d.Protocol, d.Address, err, werr)
	}
	if err != nil {
		return
	}
	if id != n.ID || !bytes.Equal(got, want) {
		t.Fatalf("%s %s, rules %v: AppendJSON\n%s (id %s)\nwant\n%s (id %s)", d.Protocol, d.Address, ids, got, id, want, n.ID)
	}
}

// TestAppendJSONIsRenderAndMarshal: on every corpus message, every
// protocol, rule lists of each shape, hostile strings in every field, odd
// and unencodable times (the fallback), several notifications of one
// prepared message in any order.
func TestAppendJSONIsRenderAndMarshal(t *testing.T) {
	t.Parallel()
	idLists := [][]int64{nil, {}, {7}, {3, 1, 3}, {1 << 40, -2, 5, 5, 5, 9, 11, 13, 17, 19, 23}}
	sites := []Site{encSite, {Name: "", PublicURL: ""}, {Name: tricky[3], PublicURL: "https://ex.org/fmn/" + tricky[8]}}
	for _, p := range corpusMessages(t) {
		for si, site := range sites {
			pr := Prepare(p, site, encNow)
			for i := range encDests {
				// IRC first for some: the email parts are made on demand.
				d := encDests[(i+si)%len(encDests)]
				for _, ids := range idLists {
					checkAppendJSON(t, pr, "alice", d, ids)
				}
			}
		}
	}
	ny := time.FixedZone("EDT", -4*3600)
	times := []time.Time{{}, encNow, encNow.In(ny), encNow.In(time.FixedZone("odd", 5*3600+30*60+17)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))}
	for i, s := range tricky {
		p := &bus.Parsed{ID: s, Topic: s, App: s, Summary: s, Text: s, URL: s, Severity: i * 10, SentAt: times[i%len(times)],
			Agent: s, Usernames: tricky[:i], Packages: tricky[i:], Groups: []string{s}, Flatpaks: []string{s, s}, PatchURL: "https://src.example.org/x.patch?a=<b>&" + s}
		for _, site := range sites {
			pr := Prepare(p, Site{Name: s + site.Name, PublicURL: site.PublicURL + s}, times[(i+1)%len(times)])
			for _, proto := range []string{rules.ProtocolEmail, rules.ProtocolIRC, rules.ProtocolMatrix} {
				for _, ids := range idLists {
					checkAppendJSON(t, pr, s, rules.Destination{Protocol: proto, Address: s}, ids)
				}
			}
		}
	}
}

// TestReleaseReusesParts: once released, a prepared message's buffers
// serve the next messages' parts; what AppendJSON returned earlier is
// the caller's and stays as it was, and the next encodings are still
// Render's.
func TestReleaseReusesParts(t *testing.T) {
	t.Parallel()
	type kept struct{ got, want []byte }
	var earlier []kept
	for i, p := range corpusMessages(t) {
		pr := Prepare(p, encSite, encNow)
		for _, d := range encDests {
			checkAppendJSON(t, pr, "alice", d, []int64{int64(i)})
			_, got, err := pr.AppendJSON(nil, "alice", d, []int64{int64(i)})
			if err != nil {
				t.Fatal(err)
			}
			want, err := AppendMarshal(nil, pr.Render("alice", d, []int64{int64(i)}))
			if err != nil {
				t.Fatal(err)
			}
			earlier = append(earlier, kept{got, want})
		}
		pr.Release()
		pr.Release() // twice is harmless
	}
	for i, k := range earlier {
		if !bytes.Equal(k.got, k.want) {
			t.Fatalf("encoding %d changed after its message was released:\n%s\nwant\n%s", i, k.got, k.want)
		}
	}
}

// BenchmarkEncodeNotifications: a corpus message prepared and its
// notifications encoded, by AppendJSON and by Render then AppendMarshal,
// for one email, five emails (the pipeline benchmark's worst case has
// ~5 notifications a message) and an email, an IRC and a Matrix one.
func BenchmarkEncodeNotifications(b *testing.B) {
	email := func(i int) rules.Destination {
		return rules.Destination{Protocol: rules.ProtocolEmail, Address: "user" + strconv.Itoa(i) + "@example.org"}
	}
	fans := []struct {
		name  string
		dests []rules.Destination
	}{
		{"1-email", []rules.Destination{email(0)}},
		{"5-emails", []rules.Destination{email(0), email(1), email(2), email(3), email(4)}},
		{"email-irc-matrix", encDests},
	}
	ps := corpusMessages(b)
	for _, f := range fans {
		for _, fused := range []bool{true, false} {
			name := f.name + "/render+marshal"
			if fused {
				name = f.name + "/AppendJSON"
			}
			b.Run(name, func(b *testing.B) {
				buf := make([]byte, 0, 64<<10)
				for i := range b.N {
					pr := Prepare(ps[i%len(ps)], encSite, encNow)
					for _, d := range f.dests {
						if fused {
							_, buf, _ = pr.AppendJSON(buf[:0], "alice", d, []int64{3, 1})
						} else {
							buf, _ = AppendMarshal(buf[:0], pr.Render("alice", d, []int64{3, 1}))
						}
					}
				}
			})
		}
	}
}
