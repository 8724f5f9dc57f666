package consumer_test

import (
	"testing"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// The live feed's notifications go to notify.sse.<user>, the user's
// name encoded as one subject token, in their one-line form.
func TestConsumerLiveFeed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const user = "al.ice"
	r := b.createRule(t, user, rules.TrackRelatedEvents, "null",
		genTo(rules.Filters{}, rules.Destination{Protocol: rules.ProtocolSSE, Address: user}))
	b.startConsumer(t, b.newMatcher(t), consumer.Config{})
	b.publish(t, busMsg(t, "m1", bodhiTopic, map[string]any{"agent": "carol", "summary": "a comment", "url": "https://x.example/1"},
		map[string]string{bus.FilterHeader("user", user): "true"}))
	waitSettled(t, b.ctx, b.nats, "matcher", settleWithin)
	// notifications checks each one's subject.
	ns := notifications(t, b.ctx, b.nats)
	if len(ns) != 1 {
		t.Fatalf("%d notifications, want 1", len(ns))
	}
	n := ns[0]
	if n.ID != notification.ID("m1", "sse", user) || n.User != user || n.RuleID != r.ID ||
		n.Line != "[bodhi] a comment https://x.example/1" || n.Email != nil {
		t.Errorf("notification %+v", n)
	}
}
