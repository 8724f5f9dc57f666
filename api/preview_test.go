package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/preview"
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

// splitLookups gives users and groups their own sets.
type splitLookups struct{ owned, group rules.ArtifactSet }

func (s splitLookups) OwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return s.owned, nil
}

func (s splitLookups) GroupOwnedArtifacts(context.Context, string) (rules.ArtifactSet, error) {
	return s.group, nil
}

// previewHistory is a generated history of n messages on BUS, with a
// recent index caught up with it. Users own the first 100 packages, groups
// all of them.
type previewHistory struct {
	b      *bundle
	w      *workload
	lk     splitLookups
	msgs   []*bus.Message
	start  time.Time
	index  *preview.RecentIndex
	drafts map[string]rules.Rule
}

func newPreviewHistory(t *testing.T, seed uint64, n int) *previewHistory {
	t.Helper()
	h := &previewHistory{w: newWorkload(seed, 300, 600)}
	var all []rules.Artifact
	for _, p := range h.w.pkgs {
		all = append(all, rules.Artifact{Type: rules.ArtifactRPMs, Name: p})
	}
	h.lk = splitLookups{rules.NewArtifactSet(all[:100]...), rules.NewArtifactSet(all...)}
	h.b = setup(t, setupOpts{lookups: h.lk})
	h.start = time.Now()
	h.msgs = make([]*bus.Message, n)
	for i := range h.msgs {
		h.msgs[i] = h.w.next(h.start.Add(time.Duration(i) * 20 * time.Millisecond))
	}
	publishMessages(t, h.b.ctx, h.b.nats.JS, h.msgs)

	h.index = preview.NewRecentIndex(h.b.nats.JS, h.b.nats.Streams.Bus, time.Hour, nil)
	go func() { _ = h.index.Run(h.b.ctx) }()
	deadline := time.Now().Add(fmntest.Scaled(60 * time.Second))
	for !h.index.Ready() || h.index.Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("index not ready: %d of %d messages", h.index.Len(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	w := h.w
	owner, u2, u3 := w.users[0], w.users[2], w.users[3]
	email := []rules.Destination{{Protocol: "email", Address: owner + "@example.org"}}
	two := append(slices.Clone(email), rules.Destination{Protocol: "irc", Address: owner})
	params := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	followed := params([]rules.FollowedArtifact{{Name: w.pkgs[0], Type: "rpms"}, {Name: w.pkgs[5], Type: "rpms"}, {Name: w.pkgs[1], Type: "containers"}})
	h.drafts = map[string]rules.Rule{
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
		// Most messages hold a package: thousands of candidates.
		"artifacts-group-owned, every package, two generation rules": {TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsGroupOwned, Params: params([]string{"packagers"})},
			GenerationRules: []rules.GenerationRule{
				{Destinations: email, Filters: rules.Filters{Severities: []string{"warning", "error"}}},
				{Destinations: two, Filters: rules.Filters{Topic: ptr("org.fedoraproject.prod.bodhi.*"), MyActions: true}}}},
	}
	for name, d := range h.drafts {
		d.User = rules.User{Name: owner}
		d.Name = "draft"
		h.drafts[name] = d
	}
	return h
}

func (h *previewHistory) preview(t *testing.T, draft rules.Rule, source string, maxResults int) *preview.Result {
	t.Helper()
	pv := preview.New(h.b.nats.JS, h.b.nats.Streams.Bus, h.lk, notification.Site{Name: "fmn", PublicURL: "https://fmn.example.org"})
	if source == "index" {
		pv.Index = h.index
	}
	res, err := pv.Preview(h.b.ctx, preview.Request{Rule: draft, Since: h.start.Add(-time.Minute), MaxResults: maxResults})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != source {
		t.Fatalf("answered by %s, want %s", res.Source, source)
	}
	return res
}

// TestPreviewMatchesTheMatcher runs drafts of every kind over a generated
// history and checks the preview against a brute-force pass that parses
// every message and matches it: the subject narrowing, the content
// prefilter and the index's views of the messages must not lose a
// notification or add one.
func TestPreviewMatchesTheMatcher(t *testing.T) {
	t.Parallel()
	// More than 10,000 messages of the history hold a package.
	h := newPreviewHistory(t, 42, 15000)
	parsed := make([]*bus.Parsed, len(h.msgs))
	for i, m := range h.msgs {
		nm, _ := m.NATSMsg()
		p, err := bus.ParseNATS(nm.Subject, nm.Header, nm.Data)
		if err != nil {
			t.Fatal(err)
		}
		parsed[i] = p
	}
	for name, draft := range h.drafts {
		for _, source := range []string{"scan", "index"} {
			t.Run(name+" by "+source, func(t *testing.T) {
				want := map[string]bool{}
				c, err := rules.Compile(draft)
				if err != nil {
					t.Fatal(err)
				}
				for i, p := range parsed {
					dests, err := c.Match(h.b.ctx, p, h.lk)
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range dests {
						want[h.msgs[i].ID+" "+d.Protocol+" "+d.Address] = true
					}
				}
				res := h.preview(t, draft, source, 100000)
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
				if res.Messages == 0 || !res.Complete || res.Total != len(want) || len(res.Notifications) != len(want) {
					t.Errorf("result: messages %d complete %v total %d, %d notifications (want %d)", res.Messages, res.Complete, res.Total, len(res.Notifications), len(want))
				}
				if strings.Contains(name, "every package") && res.Parsed <= 10000 {
					t.Errorf("%d candidates; the case wants more than 10,000", res.Parsed)
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

// TestPreviewIndexAgreesWithScan checks that the index and the scan give
// the same answer, with and without truncation, also when messages were
// deleted from BUS after the index took them in.
func TestPreviewIndexAgreesWithScan(t *testing.T) {
	t.Parallel()
	h := newPreviewHistory(t, 7, 3000)
	st, err := h.b.nats.JS.Stream(h.b.ctx, h.b.nats.Streams.Bus)
	if err != nil {
		t.Fatal(err)
	}
	last := st.CachedInfo().State.LastSeq
	for _, seq := range []uint64{last, last - 2, last - 40, 1500} {
		if err := st.DeleteMsg(h.b.ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	for name, draft := range h.drafts {
		for _, max := range []int{1, 7, 100000} {
			t.Run(fmt.Sprintf("%s, at most %d", name, max), func(t *testing.T) {
				scan := h.preview(t, draft, "scan", max)
				index := h.preview(t, draft, "index", max)
				if scan.Total != index.Total || scan.Truncated != index.Truncated || !scan.Complete || !index.Complete {
					t.Errorf("scan: total %d truncated %v complete %v; index: total %d truncated %v complete %v",
						scan.Total, scan.Truncated, scan.Complete, index.Total, index.Truncated, index.Complete)
				}
				if len(scan.Notifications) == 0 {
					t.Error("nothing matches")
				}
				if !reflect.DeepEqual(scan.Notifications, index.Notifications) {
					t.Errorf("notifications differ: scan %d, index %d", len(scan.Notifications), len(index.Notifications))
					for i := range min(len(scan.Notifications), len(index.Notifications)) {
						if !reflect.DeepEqual(scan.Notifications[i], index.Notifications[i]) {
							t.Errorf("first difference at %d:\n%+v\n%+v", i, scan.Notifications[i], index.Notifications[i])
							break
						}
					}
				}
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
