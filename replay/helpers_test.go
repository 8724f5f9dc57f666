package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// busMsg is a small fedora-messaging message.
type busMsg struct {
	ID    string
	Topic string
	Users []string
	Agent string
	App   string
}

func (m busMsg) nats() *nats.Msg {
	out := nats.NewMsg(wire.BusSubject(m.Topic))
	out.Header.Set(wire.HeaderMsgID, m.ID)
	out.Header.Set("fedora_messaging_schema", "base.message")
	out.Header.Set("fedora_messaging_severity", "20")
	out.Header.Set("sent-at", "2026-11-23T10:15:00+00:00")
	for _, u := range m.Users {
		out.Header.Set("fedora_messaging_user_"+u, "true")
	}
	body := map[string]any{"agent_name": m.Agent, "summary": m.Agent + " did something on " + m.App}
	if m.App != "" {
		body["app"] = m.App
	}
	out.Data, _ = json.Marshal(body)
	return out
}

// publishAll stores msgs in BUS with pipelined publishes.
func publishAll(tb testing.TB, js jetstream.JetStream, n int, gen func(i int) *nats.Msg) {
	tb.Helper()
	ctx := context.Background()
	const window = 4000
	futures := make([]jetstream.PubAckFuture, 0, window)
	flush := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				tb.Fatal(err)
			case <-time.After(30 * time.Second):
				tb.Fatal("no PubAck within 30s")
			}
		}
		futures = futures[:0]
	}
	for i := range n {
		f, err := js.PublishMsgAsync(gen(i))
		if err != nil {
			tb.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) == window {
			flush()
		}
	}
	flush()
	_ = ctx
}

// syntheticMsg is message i of a workload where users user0…user(users-1)
// appear in turn and apps rotate.
func syntheticMsg(i, users int) *nats.Msg {
	apps := []string{"bodhi", "koji", "pagure", "copr"}
	app := apps[i%len(apps)]
	return busMsg{
		ID:    fmt.Sprintf("msg-%08d", i),
		Topic: "org.fedoraproject.prod." + app + ".thing.happened",
		Users: []string{"user" + strconv.Itoa(i%users), "user" + strconv.Itoa((i*7+3)%users)},
		Agent: "user" + strconv.Itoa((i*13+5)%users),
		App:   app,
	}.nats()
}

// syntheticRules gives every user a related-events rule to email, and
// every third one a users-followed rule with an applications filter.
func syntheticRules(users int) []rules.Rule {
	var out []rules.Rule
	id := int64(1)
	for u := range users {
		name := "user" + strconv.Itoa(u)
		out = append(out, rules.Rule{ID: id, Name: "mine", User: rules.User{Name: name},
			TrackingRule:    rules.TrackingRule{Name: rules.TrackRelatedEvents, Params: json.RawMessage("null")},
			GenerationRules: []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "email", Address: name + "@example.org"}}}}})
		id++
		if u%3 == 0 {
			out = append(out, rules.Rule{ID: id, Name: "friends", User: rules.User{Name: name},
				TrackingRule: rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: json.RawMessage(fmt.Sprintf(`["user%d"]`, (u+2)%users))},
				GenerationRules: []rules.GenerationRule{{
					Destinations: []rules.Destination{{Protocol: "irc", Address: name}},
					Filters:      rules.Filters{Applications: []string{"koji"}},
				}}})
			id++
		}
	}
	return out
}

func startNATS(tb testing.TB) *fmntest.NATS {
	tb.Helper()
	return fmntest.StartNATS(tb)
}
