package rules_test

import (
	"context"
	"testing"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// BenchmarkMatch measures the exact check of one candidate rule against one
// message, the work the consumer does per (message, candidate) pair.
func BenchmarkMatch(b *testing.B) {
	msg := &bus.Parsed{
		Topic:     bodhiTopic,
		App:       "Bodhi",
		Severity:  bus.SeverityInfo,
		Agent:     "bob",
		Usernames: []string{"bob", "alice"},
		Packages:  []string{"python3", "python-requests", "firefox"},
	}
	filters := rules.Filters{
		Applications:         []string{"koji", "bodhi", "pagure"},
		ExcludedApplications: []string{"copr"},
		Severities:           []string{"info", "warning", "error"},
		Topic:                ptr("org.fedoraproject.*.bodhi.update.*"),
	}
	benchmarks := []struct {
		name string
		rule rules.Rule
		lk   rules.Lookups
	}{
		{"related-events", rule(rules.TrackRelatedEvents, "null", gen(filters, aliceMail, aliceIRC), gen(rules.Filters{}, aliceMatrix)), nil},
		{"users-followed", rule(rules.TrackUsersFollowed, `["carol", "dave", "bob"]`, gen(filters, aliceMail, aliceIRC), gen(rules.Filters{}, aliceMatrix)), nil},
		{"artifacts-followed", rule(rules.TrackArtifactsFollowed, `[{"name": "firefox", "type": "rpms"}]`, gen(filters, aliceMail, aliceIRC), gen(rules.Filters{}, aliceMatrix)), nil},
		{"artifacts-group-owned", rule(rules.TrackArtifactsGroupOwned, `["kde-sig", "python-sig"]`, gen(filters, aliceMail, aliceIRC), gen(rules.Filters{}, aliceMatrix)), distgit},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			c, err := rules.Compile(bm.rule)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			buf := make([]rules.Destination, 0, 8)
			b.ReportAllocs()
			for b.Loop() {
				buf, err = c.AppendMatch(ctx, buf[:0], msg, bm.lk)
				if err != nil || len(buf) != 3 {
					b.Fatalf("AppendMatch = %v, %v", buf, err)
				}
			}
		})
	}
}

func BenchmarkMessageKeys(b *testing.B) {
	msg := &bus.Parsed{
		Topic:     bodhiTopic,
		Agent:     "bob",
		Usernames: []string{"bob", "alice"},
		Packages:  []string{"python3", "python-requests", "firefox"},
	}
	buf := make([]rules.Key, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		buf = rules.AppendMessageKeys(buf[:0], msg)
	}
}
