package fmnmsg_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmnmsg"
	"github.com/fmn-project/fmn/rules"
)

// TestBody: the body is what FMN's json.dumps of model_dump() writes, byte
// for byte: its key order, ", " and ": " separators, non-ASCII as \uXXXX,
// null for a missing name and for related-events' params, [] for unset
// filter lists.
func TestBody(t *testing.T) {
	t.Parallel()
	topic := "org.fedoraproject.prod.bodhi.*"
	uid := int64(7)
	for _, c := range []struct {
		name string
		rule rules.Rule
		user fmnmsg.User
		want string
	}{{
		name: "full",
		rule: rules.Rule{ID: 3, Name: "Über <b>&\"bodhi\"", Disabled: true,
			TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsFollowed, Params: json.RawMessage(`[{"name":"kernel","type":"rpms"}]`)},
			GenerationRules: []rules.GenerationRule{
				{Destinations: []rules.Destination{{Protocol: "matrix", Address: "@zoë:fedora.im"}},
					Filters: rules.Filters{Severities: []string{"error"}, Topic: &topic, MyActions: true}},
				{},
			}},
		user: fmnmsg.User{ID: &uid, Name: "zoë"},
		want: `{"rule": {"name": "\u00dcber <b>&\"bodhi\"", "disabled": true, "tracking_rule": {"name": "artifacts-followed", "params": [{"name": "kernel", "type": "rpms"}]}, ` +
			`"generation_rules": [{"id": 96, "destinations": [{"protocol": "matrix", "address": "@zo\u00eb:fedora.im"}], "filters": {"applications": [], "excluded_applications": [], "severities": ["error"], "topic": "org.fedoraproject.prod.bodhi.*", "my_actions": true}}, ` +
			`{"id": 97, "destinations": [], "filters": {"applications": [], "excluded_applications": [], "severities": [], "topic": null, "my_actions": false}}], ` +
			`"id": 3, "user": {"id": 7, "name": "zo\u00eb", "is_admin": false}, "generated_last_week": 0}, "user": {"id": 7, "name": "zo\u00eb", "is_admin": false}}`,
	}, {
		name: "unnamed, related-events, user without id",
		rule: rules.Rule{ID: 1, TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents},
			GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "email", Address: "a@example.org"}}}}},
		user: fmnmsg.User{Name: "a"},
		want: `{"rule": {"name": null, "disabled": false, "tracking_rule": {"name": "related-events", "params": null}, ` +
			`"generation_rules": [{"id": 32, "destinations": [{"protocol": "email", "address": "a@example.org"}], "filters": {"applications": [], "excluded_applications": [], "severities": [], "topic": null, "my_actions": false}}], ` +
			`"id": 1, "user": {"id": null, "name": "a", "is_admin": false}, "generated_last_week": 0}, "user": {"id": null, "name": "a", "is_admin": false}}`,
	}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := fmnmsg.Body(c.rule, c.user)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestMessageIDAndHeaders(t *testing.T) {
	t.Parallel()
	a, b := fmnmsg.MessageID("RULES", 41), fmnmsg.MessageID("RULES", 42)
	if a != fmnmsg.MessageID("RULES", 41) || a == b || a == fmnmsg.MessageID("RULES2", 41) || len(a) != 36 || a[14] != '5' {
		t.Errorf("message ids %s %s: want stable, distinct UUIDv5s", a, b)
	}
	m := fmnmsg.Message{Schema: fmnmsg.SchemaCreate, Topic: fmnmsg.TopicCreate,
		SentAt: time.Date(2024, 6, 1, 14, 0, 0, 999_000_000, time.FixedZone("CEST", 2*3600))}
	h := m.Headers()
	if h["sent-at"] != "2024-06-01T12:00:00+00:00" || h["fedora_messaging_schema"] != "fmn.rule.create.v1" ||
		h["fedora_messaging_schema_package"] != "fmn_messages" || h["fedora_messaging_severity"] != int32(20) || h["priority"] != int32(0) || len(h) != 5 {
		t.Errorf("headers %v", h)
	}
	for prefix, want := range map[string]string{
		"": "fmn.rule.update.v1", "org.fedoraproject.stg": "org.fedoraproject.stg.fmn.rule.update.v1",
		"org.fedoraproject.stg.": "org.fedoraproject.stg.fmn.rule.update.v1",
	} {
		if got := m.RoutingKey(prefix); got != want {
			t.Errorf("RoutingKey(%q) = %q, want %q", prefix, got, want)
		}
	}
}
