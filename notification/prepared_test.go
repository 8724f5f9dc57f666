package notification

import (
	"bytes"
	"testing"
	"time"

	"github.com/fmn-project/fmn/rules"
)

// One Prepared renders each destination of a message exactly as Render
// does alone, in any order, on every corpus message.
func TestPreparedRendersAsRender(t *testing.T) {
	site := Site{Name: "fmn", PublicURL: "https://notifications.example.org"}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dests := []struct {
		user string
		dest rules.Destination
		ids  []int64
	}{
		{"alice", rules.Destination{Protocol: rules.ProtocolEmail, Address: "alice@example.org"}, []int64{7, 3, 7}},
		{"bob", rules.Destination{Protocol: rules.ProtocolIRC, Address: "bob"}, []int64{5}},
		{"carol", rules.Destination{Protocol: rules.ProtocolEmail, Address: "carol@example.org"}, nil},
		{"dave", rules.Destination{Protocol: rules.ProtocolMatrix, Address: "@dave:example.org"}, []int64{9, 1}},
	}
	for _, p := range corpusMessages(t) {
		pr := Prepare(p, site, now)
		for _, d := range dests {
			got, err := Marshal(pr.Render(d.user, d.dest, d.ids))
			if err != nil {
				t.Fatal(err)
			}
			want, err := Marshal(Render(p, d.user, d.dest, d.ids, site, now))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("message %s to %s %s: prepared\n%s\nalone\n%s", p.ID, d.dest.Protocol, d.dest.Address, got, want)
			}
		}
	}
}
