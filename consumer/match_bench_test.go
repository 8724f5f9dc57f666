package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// BenchmarkMatch measures Matcher.Match alone (candidates from the index,
// exact checks, one notification per destination, rendering) over 20,000
// rules of every kind but ownership, for messages that meet no rule, one
// rule, and several rules sharing destinations.
func BenchmarkMatch(b *testing.B) {
	const users = 5000
	var list []rules.Rule
	id := int64(0)
	add := func(user, tracking string, params any, f rules.Filters) {
		id++
		raw, _ := json.Marshal(params)
		if params == nil {
			raw = nil
		}
		list = append(list, rules.Rule{ID: id, Name: "r", User: rules.User{Name: user},
			TrackingRule: rules.TrackingRule{Name: tracking, Params: raw},
			GenerationRules: []rules.GenerationRule{{Filters: f, Destinations: []rules.Destination{
				{Protocol: rules.ProtocolEmail, Address: user + "@example.org"}, {Protocol: rules.ProtocolIRC, Address: user}}}}})
	}
	for i := range users {
		u := fmt.Sprintf("user%d", i)
		add(u, rules.TrackRelatedEvents, nil, rules.Filters{})
		add(u, rules.TrackUsersFollowed, []string{fmt.Sprintf("user%d", (i+1)%users), fmt.Sprintf("user%d", (i+2)%users)}, rules.Filters{MyActions: true})
		add(u, rules.TrackArtifactsFollowed, []rules.FollowedArtifact{{Name: fmt.Sprintf("pkg%d", i%2000), Type: rules.ArtifactRPMs}},
			rules.Filters{Severities: []string{"info", "error"}})
		add(u, rules.TrackArtifactsFollowed, []rules.FollowedArtifact{{Name: fmt.Sprintf("pkg%d", (i+7)%2000), Type: rules.ArtifactRPMs}},
			rules.Filters{Applications: []string{"bodhi", "koji"}})
	}
	src := &listSource{}
	src.put(list...)
	m := NewMatcher(src, nil, notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"}, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if err := m.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	msgs := []struct {
		name string
		p    bus.Parsed
	}{
		{"no rule", bus.Parsed{Topic: "org.fedoraproject.prod.copr.build.end", App: "Copr", Severity: bus.SeverityInfo,
			Agent: "nobody", Usernames: []string{"nobody"}, Packages: []string{"unknown"}}},
		{"one rule", bus.Parsed{Topic: "org.fedoraproject.prod.fas.user.update", App: "FAS", Severity: bus.SeverityInfo,
			Agent: "user10", Usernames: []string{"user10"}, Summary: "user10 updated their account"}},
		{"many rules", bus.Parsed{Topic: "org.fedoraproject.prod.bodhi.update.comment", App: "Bodhi", Severity: bus.SeverityInfo,
			Agent: "user20", Usernames: []string{"user20", "user21"}, Packages: []string{"pkg5", "pkg12"}, Summary: "user20 commented"}},
	}
	for _, msg := range msgs {
		b.Run(msg.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				out, err := m.Match(ctx, &msg.p, now)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.ReportMetric(float64(n), "notifications")
		})
	}
}
