// Package bottest is the harness of the bot's tests on the real chat peers
// (senders/irc, senders/matrix): a FASJSON test server behind a real
// directory (Redis cache), rules and delivery settings in a real
// projection (NATS, PostgreSQL), and the bot answering from them and
// pausing through the rule commands.
package bottest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/cli/clitest"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/fasjson"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/svccache"
)

// PublicURL is the web UI's address the bot's links start with.
const PublicURL = "https://fmn.example.org"

// Env is one test's bot and what it answers from.
type Env struct {
	Ctx context.Context
	FAS *fmntest.FASJSON
	Ops *clitest.Ops
	Dir *directory.Directory
	Bot *bot.Bot
}

// Start prepares an Env.
func Start(t *testing.T) *Env {
	t.Helper()
	e := &Env{Ops: clitest.Start(t, true), FAS: fmntest.StartFASJSON(t)}
	e.Ctx = e.Ops.Ctx
	opt, err := rueidis.ParseURL(fmntest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	inv := svccache.Hook(&opt)
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", fmntest.RedisURL(), err)
	}
	t.Cleanup(client.Close)
	fc, err := fasjson.New(fasjson.Config{URL: e.FAS.URL, Backoff: time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.Dir = directory.New(directory.Config{
		FASJSON: fc, Invalidations: inv,
		Cache: svccache.New(e.Ctx, client, inv, svccache.Config{Prefix: fmntest.RedisPrefix(t) + "svc:"}),
	})
	e.Bot, err = bot.New(bot.Config{
		Owners: e.Dir, Rules: e.Ops.Cmds.Store(), Pauser: e.Ops.Cmds,
		PublicURL: PublicURL, Log: fmntest.Logger(t, -4),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// AddRule creates an enabled (or disabled) rule of user that sends to dests
// and waits until it is projected.
func (e *Env) AddRule(t *testing.T, user, name string, disabled bool, dests ...rules.Destination) int64 {
	t.Helper()
	r := rules.Rule{
		Name:         name,
		TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsOwned, Params: json.RawMessage(fmt.Sprintf(`[%q]`, user))},
		GenerationRules: []rules.GenerationRule{{
			Destinations: dests,
			Filters:      rules.Filters{Applications: []string{"bodhi"}},
		}},
	}
	sr, err := e.Ops.Cmds.Create(e.Ctx, user, r, rulelog.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if disabled {
		if _, err := e.Ops.Cmds.SetDisabled(e.Ctx, sr.ID, true, rulelog.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	return sr.ID
}

// Paused lists user's paused destinations in the delivery settings
// projection, as "protocol/address".
func (e *Env) Paused(t *testing.T, user string) []string {
	t.Helper()
	ds, err := e.Ops.Cmds.Store().Delivery(e.Ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, s := range ds.Settings {
		if s.Paused {
			out = append(out, s.Protocol+"/"+s.Address)
		}
	}
	return out
}
