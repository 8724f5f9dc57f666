package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// ownedLookups says that every user owns the same packages.
type ownedLookups struct{ set rules.ArtifactSet }

func (o ownedLookups) OwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return o.set, nil
}

func (o ownedLookups) GroupOwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return o.set, nil
}

func ptr[T any](v T) *T { return &v }

// TestPreviewMatchesTheMatcher runs drafts of every kind over a generated
// history and checks the preview against a brute-force pass that parses
// every message and matches it: the subject narrowing and the content
// prefilter must not lose a notification.
func TestPreviewMatchesTheMatcher(t *testing.T) {
	t.Parallel()
	w := newWorkload(42, 300, 600)
	var owned []rules.Artifact
	for _, p := range w.pkgs[:100] {
		owned = append(owned, rules.Artifact{Type: rules.ArtifactRPMs, Name: p})
	}
	lk := ownedLookups{rules.NewArtifactSet(owned...)}
	b := setup(t, setupOpts{lookups: lk})
	start := time.Now()
	msgs := make([]*bus.Message, 3000)
	for i := range msgs {
		msgs[i] = w.next(start.Add(time.Duration(i) * 20 * time.Millisecond))
	}
	publishMessages(t, b.ctx, b.nats.JS, msgs)

	index := api.NewRecentIndex(b.nats.JS, b.nats.Streams.Bus, time.Hour, nil)
	go func() { _ = index.Run(b.ctx) }()
	deadline := time.Now().Add(fmntest.Scaled(10 * time.Second))
	for !index.Ready() || index.Len() < len(msgs) {
		if time.Now().After(deadline) {
			t.Fatalf("index not ready: %d of %d messages", index.Len(), len(msgs))
		}
		time.Sleep(10 * time.Millisecond)
	}

	owner, u2, u3 := w.users[0], w.users[2], w.users[3]
	email := []rules.Destination{{Protocol: "email", Address: owner + "@example.org"}}
	two := append(slices.Clone(email), rules.Destination{Protocol: "irc", Address: owner})
	params := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	followed := params([]rules.FollowedArtifact{{Name: w.pkgs[0], Type: "rpms"}, {Name: w.pkgs[5], Type: "rpms"}, {Name: w.pkgs[1], Type: "containers"}})
	drafts := map[string]rules.Rule{
		"related-events": {TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents},
			GenerationRules: []rules.GenerationRule{{Destinations: email}}},
		"related-events, my actions, errors and debug": {TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents},
			GenerationRules: []rules.GenerationRule{{Destinations: two, Filters: rules.Filters{MyActions: true, Severities: []string{"error", "debug"}}}}},
		"users-followed, not Copr": {TrackingRule: rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: params([]string{u2, u3})},
			GenerationRules: []rules.GenerationRule{{Destinations: two, Filters: rules.Filters{ExcludedApplications: []string{"copr"}}}}},
		"artifacts-followed, bodhi topics": {TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsFollowed, Params: followed},
			GenerationRules: []rules.GenerationRule{{Destinations: email, Filters: rules.Filters{Topic: ptr("org.fedoraproject.prod.bodhi.*")}}}},
		"artifacts-followed, two topic filters": {TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsFollowed, Params: followed},
			GenerationRules: []rules.GenerationRule{
				{Destinations: email, Filters: rules.Filters{Topic: ptr("org.fedoraproject.prod.pagure.git.receive")}},
				{Destinations: two, Filters: rules.Filters{Topic: ptr("*.buildsys.build.state.change"), Applications: []string{"KOJI"}}}}},
		"artifacts-owned, 100 packages (no content prefilter)": {TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: params([]string{owner})},
			GenerationRules: []rules.GenerationRule{{Destinations: email, Filters: rules.Filters{Severities: []string{"info", "error"}}}}},
	}
	for name, draft := range drafts {
		for _, source := range []string{"scan", "index"} {
			t.Run(name+" by "+source, func(t *testing.T) {
				draft.User = rules.User{Name: owner}
				draft.Name = "draft"
				want := map[string]bool{}
				c, err := rules.Compile(draft)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					nm, _ := m.NATSMsg()
					p, err := bus.ParseNATS(nm.Subject, nm.Header, nm.Data)
					if err != nil {
						t.Fatal(err)
					}
					dests, err := c.Match(b.ctx, p, lk)
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range dests {
						want[m.ID+" "+d.Protocol+" "+d.Address] = true
					}
				}
				pv := api.NewPreviewer(b.nats.JS, b.nats.Streams.Bus, lk, notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"})
				if source == "index" {
					pv.Index = index
				}
				res, err := pv.Preview(b.ctx, api.PreviewRequest{Rule: draft, Since: start.Add(-time.Minute), MaxResults: 100000})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]bool{}
				for _, n := range res.Notifications {
					got[n.MessageID+" "+n.Protocol+" "+n.Address] = true
				}
				if len(want) == 0 {
					t.Fatalf("the workload gives this rule nothing to match")
				}
				for k := range want {
					if !got[k] {
						t.Errorf("preview lacks %s", k)
					}
				}
				for k := range got {
					if !want[k] {
						t.Errorf("preview has %s too many", k)
					}
				}
				if res.Messages == 0 || !res.Complete || res.Total != len(want) || res.Source != source {
					t.Errorf("result: messages %d complete %v total %d (want %d), source %s", res.Messages, res.Complete, res.Total, len(want), res.Source)
				}
				for i := 1; i < len(res.Notifications); i++ {
					if res.Notifications[i].SentAt.After(res.Notifications[i-1].SentAt) {
						t.Errorf("not newest first at %d", i)
						break
					}
				}
				t.Logf("%d notifications; %d messages in %v, parsed %d", res.Total, res.Messages, res.Subjects, res.Parsed)
			})
		}
	}
}

func TestPreviewAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	old := publish(t, b, 3, time.Now(), "org.fedoraproject.prod.badges.badge.award", "zodbot", "alice")
	time.Sleep(20 * time.Millisecond)
	mark := time.Now()
	time.Sleep(20 * time.Millisecond)
	fresh := publish(t, b, 4, time.Now(), "org.fedoraproject.prod.badges.badge.award", "zodbot", "alice")
	publish(t, b, 5, time.Now(), "org.fedoraproject.prod.badges.badge.award", "zodbot", "bob")
	mine := publish(t, b, 2, time.Now(), "org.fedoraproject.prod.fas.user.update", "alice", "alice")

	preview := func(body map[string]any) (api.PreviewResult, response) {
		r := b.do(t, "alice", http.MethodPost, "/api/v1/rule-preview", body)
		var res api.PreviewResult
		if r.status == http.StatusOK {
			r.json(t, &res)
		}
		return res, r
	}
	draft := func() map[string]any {
		return map[string]any{"tracking_rule": map[string]any{"name": "related-events"},
			"generation_rules": []map[string]any{{"filters": map[string]any{"my_actions": false}}}}
	}

	t.Run("default window, no destinations", func(t *testing.T) {
		res, r := preview(draft())
		expect(t, r, http.StatusOK)
		var ids []string
		for _, n := range res.Notifications {
			ids = append(ids, n.MessageID)
			if n.Protocol != "preview" || n.Summary == "" || n.Topic == "" || n.SentAt.IsZero() || n.App != "badges" {
				t.Errorf("notification %+v", n)
			}
		}
		want := append(slices.Clone(old), fresh...)
		slices.Reverse(want)
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("ids %v, want %v (newest first; alice's own actions left out)", ids, want)
		}
		var raw map[string]any
		r.json(t, &raw)
		n := raw["notifications"].([]any)[0].(map[string]any)
		for _, k := range []string{"message_id", "topic", "summary", "sent_at", "protocol", "address"} {
			if _, ok := n[k]; !ok {
				t.Errorf("notification lacks %q: %v", k, n)
			}
		}
	})

	t.Run("since", func(t *testing.T) {
		body := draft()
		body["since"] = mark.Format(time.RFC3339Nano)
		body["generation_rules"] = []map[string]any{{
			"destinations": []map[string]string{{"protocol": "email", "address": "alice@example.org"}},
			"filters":      map[string]any{"my_actions": true},
		}}
		res, r := preview(body)
		expect(t, r, http.StatusOK)
		if res.Total != len(fresh)+len(mine) || res.Notifications[0].Address != "alice@example.org" {
			t.Errorf("total %d, want %d: %+v", res.Total, len(fresh)+len(mine), res.Notifications)
		}
		body["since"] = time.Now().Add(time.Hour).Format(time.RFC3339)
		_, r = preview(body)
		expect(t, r, http.StatusUnprocessableEntity)
		body["since"] = time.Now().Add(-72 * time.Hour).Format(time.RFC3339)
		res, r = preview(body)
		expect(t, r, http.StatusOK)
		if time.Since(res.Since) > 24*time.Hour+time.Minute {
			t.Errorf("since %v not capped at 24h", res.Since)
		}
	})

	t.Run("topic narrows the subjects", func(t *testing.T) {
		body := draft()
		body["generation_rules"] = []map[string]any{{"filters": map[string]any{"topic": "org.fedoraproject.prod.fas.*", "my_actions": true}}}
		res, r := preview(body)
		expect(t, r, http.StatusOK)
		// The scan reads only those subjects; the index fetches only the
		// messages of the right topic.
		if res.Total != len(mine) || fmt.Sprint(res.Subjects) != "[bus.org.fedoraproject.prod.fas.>]" ||
			res.Source == "scan" && res.Messages != len(mine) || res.Parsed != len(mine) {
			t.Errorf("total %d, subjects %v, read %d, parsed %d by %s", res.Total, res.Subjects, res.Messages, res.Parsed, res.Source)
		}
	})

	t.Run("invalid drafts", func(t *testing.T) {
		body := draft()
		body["tracking_rule"] = map[string]any{"name": "users-followed", "params": []string{"bad name"}}
		_, r := preview(body)
		expect(t, r, http.StatusUnprocessableEntity)
		if p := r.problem(t); len(p.Errors) == 0 || p.Errors[0].Location != "body.tracking_rule.params[0]" {
			t.Errorf("problem %+v", p)
		}
		r = b.do(t, "", http.MethodPost, "/api/v1/rule-preview", draft())
		expect(t, r, http.StatusUnauthorized)
	})

	t.Run("truncated to the newest", func(t *testing.T) {
		s := setup(t, setupOpts{})
		publish(t, s, 30, time.Now(), "org.fedoraproject.prod.badges.badge.award", "zodbot", "alice")
		srv := api.New(api.Config{PreviewMaxResults: 10}, api.Deps{Commands: s.cmds, Auth: s.oidc, JS: s.nats.JS, Streams: s.nats.Streams})
		mux := http.NewServeMux()
		srv.Register(mux)
		req, _ := http.NewRequest(http.MethodPost, "/api/v1/rule-preview", strings.NewReader(`{"tracking_rule":{"name":"related-events"},"generation_rules":[{}]}`))
		req.Header.Set("Authorization", "Bearer "+s.token(t, "alice"))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var res api.PreviewResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if res.Total != 30 || len(res.Notifications) != 10 || !res.Truncated || !strings.HasSuffix(res.Notifications[0].MessageID, "-29") {
			t.Errorf("total %d, returned %d, truncated %v, first %s", res.Total, len(res.Notifications), res.Truncated, res.Notifications[0].MessageID)
		}
	})
}
