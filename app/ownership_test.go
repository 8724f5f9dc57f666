package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go/jetstream"
)

// The system wired with FMN_FASJSON_URL and FMN_DISTGIT_URL: ownership
// rules match through dist-git, an access change message takes effect for
// the next message, and the rules of a deleted account are disabled.
func TestSystemFollowsAccountsAndOwnership(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	n, pg := fmntest.StartNATS(t), fmntest.StartPostgres(t)
	fas, dg := fmntest.StartFASJSON(t), fmntest.StartDistGit(t)
	for _, u := range []string{"alice", "carol"} {
		fas.AddUser(u, []string{u + "@example.org"}, nil)
	}
	dg.AddProject("rpms", "foo", "alice")
	dg.AddProject("rpms", "bar", "carol")

	cfg := config.Defaults()
	cfg.NATSURL, cfg.DatabaseURL = n.URL, pg.URL
	cfg.RedisURL, cfg.RedisPrefix = fmntest.RedisURL(), fmntest.RedisPrefix(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.FASJSONURL, cfg.DistGitURL = fas.URL, dg.URL+"/"
	log := slog.New(slog.DiscardHandler)

	cmds, err := rulelog.NewCommands(ctx, n.JS, pg.Pool, rulelog.CommandsConfig{Stream: n.Streams.Rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)

	started, done := make(chan *app.System, 1), make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		done <- app.RunSystem(sctx, cfg, []string{"projector", "consumer"}, app.Options{Log: log, Started: func(s *app.System) { started <- s }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	var sys *app.System
	select {
	case sys = <-started:
	case err := <-done:
		done <- err
		t.Fatalf("system did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("system did not start within 20s")
	}
	if sys.Directory == nil {
		t.Fatal("no directory although FASJSON and dist-git are configured")
	}

	create := func(user, tracking, params string) rulelog.StoredRule {
		r := rules.Rule{Name: tracking, TrackingRule: rules.TrackingRule{Name: tracking}, GenerationRules: []rules.GenerationRule{{
			Destinations: []rules.Destination{{Protocol: rules.ProtocolEmail, Address: user + "@example.org"}}}}}
		if params != "" {
			r.TrackingRule.Params = json.RawMessage(params)
		}
		sr, err := cmds.Create(ctx, user, r, rulelog.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		return sr
	}
	create("alice", rules.TrackArtifactsOwned, `["alice"]`)
	carol := create("carol", rules.TrackArtifactsOwned, `["carol"]`)
	ghost := create("ghost", rules.TrackRelatedEvents, "")
	fmntest.Eventually(t, 5*time.Second, "matcher has the rules", func() bool { return sys.Matcher.Version() >= uint64(ghost.Version) })

	publish := func(id, topic string, body map[string]any) {
		raw, _ := json.Marshal(body)
		m := bus.Message{ID: id, Topic: topic, Body: raw}
		nm, err := m.NATSMsg()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.JS.PublishMsg(ctx, nm); err != nil {
			t.Fatal(err)
		}
	}
	notified := func(id string) []string {
		var out []string
		s, err := n.JS.Stream(ctx, n.Streams.Notify)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			raw, err := s.GetMsg(ctx, seq)
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgNotFound) {
					continue
				}
				t.Fatal(err)
			}
			var note notification.Notification
			if err := json.Unmarshal(raw.Data, &note); err != nil {
				t.Fatal(err)
			}
			if note.MessageID == id {
				out = append(out, note.Address)
			}
		}
		slices.Sort(out)
		return out
	}

	publish("m1", "org.fedoraproject.prod.fmntest.news", map[string]any{"packages": []string{"foo"}})
	fmntest.Eventually(t, 10*time.Second, "alice notified about foo", func() bool {
		return slices.Equal(notified("m1"), []string{"alice@example.org"})
	})

	dg.SetUserAccess("rpms", "foo", "carol", "commit")
	publish("m2", "org.fedoraproject.prod.pagure.project.user.added",
		map[string]any{"agent": "alice", "new_user": "carol", "project": dg.ProjectJSON("rpms", "foo")})
	publish("m3", "org.fedoraproject.prod.fmntest.news", map[string]any{"packages": []string{"foo"}})
	fmntest.Eventually(t, 10*time.Second, "carol notified about foo after the access change", func() bool {
		return slices.Equal(notified("m3"), []string{"alice@example.org", "carol@example.org"})
	})

	// The owner check runs within seconds of start.
	fmntest.Eventually(t, 15*time.Second, "ghost's rule disabled", func() bool {
		r, err := cmds.Store().Rule(ctx, ghost.ID)
		return err == nil && r.Disabled
	})
	if r, err := cmds.Store().Rule(ctx, carol.ID); err != nil || r.Disabled {
		t.Fatalf("carol's rule: disabled %v, %v", r.Disabled, err)
	}
}
