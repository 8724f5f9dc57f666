package rulelog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
)

// decodeEvents are events as fmn appends them, of every kind and with the
// strings the fast decoder must leave to encoding/json.
func decodeEvents() []Event {
	topic, odd := "org.*.bodhi.#", "<a&b> \u2028 \"q\" \\ é 日本"
	at := time.Date(2026, 12, 7, 5, 0, 0, 123456000, time.UTC)
	full := rules.Rule{
		ID: 7, Name: "Règle: mes paquets", Disabled: true, User: rules.User{Name: "alice"},
		TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsFollowed,
			Params: json.RawMessage(`[{"name":"pkg","type":"rpms"},{"name":"x\u00e9\n","type":"containers"}]`)},
		GenerationRules: []rules.GenerationRule{
			{Destinations: []rules.Destination{{Protocol: "email", Address: "a@example.org"}, {Protocol: "irc", Address: "alice"}},
				Filters: rules.Filters{Applications: []string{"bodhi", "koji"}, ExcludedApplications: []string{},
					Severities: []string{"error"}, Topic: &topic, MyActions: true}},
			{Destinations: []rules.Destination{}, Filters: rules.Filters{}},
		},
		GeneratedLastWeek: 12, Origin: rules.OriginDefault,
	}
	escaped := full
	escaped.GenerationRules = []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "email", Address: odd}}}}
	unicode := full
	unicode.GenerationRules = []rules.GenerationRule{{Destinations: []rules.Destination{{Protocol: "matrix", Address: "@élan:日本.example"}}}}
	bare := rules.Rule{Name: "bare", TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents}}
	named := rules.Rule{Name: odd, TrackingRule: rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: json.RawMessage(`["bob"]`)},
		GenerationRules: []rules.GenerationRule{}}
	return []Event{
		{Type: EventRuleCreated, User: "alice", Rule: &full, Actor: "alice", RequestID: "r1", Time: at},
		{Type: EventRuleCreated, User: "alice", RuleID: 42, Rule: &bare, Actor: "admin", Time: at},
		{Type: EventRuleCreated, User: "alice", Rule: &escaped, Actor: "alice", Time: at},
		{Type: EventRuleCreated, User: "alice", Rule: &unicode, Actor: "alice", Time: at},
		{Type: EventRuleCreated, User: "alice", Rule: &named, Actor: "alice", Time: at.In(time.FixedZone("x", 3600))},
		{Type: EventRuleUpdated, User: "alice", RuleID: 9, Rule: &full, Actor: "alice", Time: at},
		{Type: EventRuleDeleted, User: "alice", RuleID: 9, Actor: "alice", Time: at},
		{Type: EventRuleDisabled, User: "alice", RuleID: 9, Actor: "admin", Time: at},
		{Type: EventRuleEnabled, User: "alice", RuleID: 9, Actor: "admin", Time: at},
		{Type: EventUserCreated, User: "alice", Actor: "alice", Time: at},
		{Type: EventDeliveryUpdated, User: "alice", Actor: "alice", Time: at,
			Settings: []delivery.Setting{{Protocol: "email", Address: "a@example.org", Paused: true}}},
	}
}

// wantApplied is what decodeApplied must return: DecodeEvent's event and
// ruleColumns' generation rules.
func wantApplied(subject string, header nats.Header, data []byte) (Event, json.RawMessage, error) {
	ev, err := DecodeEvent(subject, header, data)
	if err != nil || ev.Rule == nil {
		return ev, nil, err
	}
	_, gen, err := ruleColumns(ev.Rule)
	ev.Rule.GenerationRules = nil
	return ev, gen, err
}

func checkApplied(t *testing.T, subject string, header nats.Header, data []byte) {
	t.Helper()
	wev, wgen, werr := wantApplied(subject, header, data)
	gev, ggen, gerr := decodeApplied(subject, header, data)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) {
		t.Fatalf("%s: error %v; want %v", data, gerr, werr)
	}
	if werr != nil {
		return
	}
	if !reflect.DeepEqual(gev, wev) {
		t.Fatalf("%s: event\n%+v\nwant\n%+v", data, gev, wev)
	}
	if !bytes.Equal(ggen, wgen) {
		t.Fatalf("%s: generation rules %s; want %s", data, ggen, wgen)
	}
}

func TestDecodeApplied(t *testing.T) {
	t.Parallel()
	subject := wire.RulesUserSubject("alice")
	header := nats.Header{wire.HeaderEvent: []string{EventRuleCreated}}
	var msgs [][]byte
	for _, ev := range decodeEvents() {
		m, err := ev.Message()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m.Data)
	}

	t.Run("AsAppended", func(t *testing.T) {
		t.Parallel()
		for _, data := range msgs {
			checkApplied(t, subject, header, data)
		}
		// The fast path reads the events fmn writes, escapes in the
		// strings and settings aside.
		for i, data := range msgs {
			var ev Event
			_, ok := fastEvent(data, &ev)
			if want := i != 2 && i != 4 && i != 10; ok != want {
				t.Errorf("fast path for %s: %v; want %v", data, ok, want)
			}
		}
	})

	t.Run("HandMade", func(t *testing.T) {
		t.Parallel()
		gen := `[{"destinations":[{"protocol":"email","address":"a@b.c"}],"filters":{"applications":null,"excluded_applications":null,"severities":null,"topic":null,"my_actions":false}}]`
		for _, data := range []string{
			``, `null`, `{}`, `[]`, `"x"`, `{"type":"rule.deleted","rule_id":3}`, `{"type":"rule.deleted","rule_id":3} x`,
			` { "type" : "rule.deleted" , "rule_id" : 3 } `, `{"type":"rule.deleted","rule_id":3.0}`,
			`{"type":"rule.deleted","rule_id":1e3}`, `{"type":"rule.deleted","rule_id":03}`, `{"type":"rule.deleted","rule_id":-0}`,
			`{"type":"rule.deleted","rule_id":"3"}`, `{"type":"rule.deleted","rule_id":null}`, `{"type":"rule.deleted","rule_id":99999999999999999999}`,
			`{"Type":"rule.deleted","RULE_ID":3}`, `{"type":"rule.deleted","rule_id":3,"rule_id":4}`, `{"type":"rule.deleted","rule_id":3,"extra":[1,{"a":null}]}`,
			`{"type":"rule.del\u0065ted","rule_id":3}`, "{\"type\":\"rule.deleted\xff\",\"rule_id\":3}", `{"rule_id":3}`,
			`{"type":"rule.created"}`, `{"type":"rule.created","rule":null}`, `{"type":"rule.created","rule":{}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":null}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":[]}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":` + gen + `}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules": ` + gen + ` }}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":[ ]}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":[{"filters":{},"destinations":[]}]}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":[{"destinations":[],"filters":{},"x":1}]}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":{}}}`,
			`{"type":"rule.created","rule":{"name":"n","generation_rules":[1]}}`,
			`{"type":"rule.created","rule":{"name":"n","user":{"name":"bob"},"user":{"name":"eve"}}}`,
			`{"type":"rule.created","rule":{"name":"n","user":{"name":""}}}`,
			`{"type":"rule.created","rule":{"name":"n","user":null}}`,
			`{"type":"rule.created","rule":{"name":"n","tracking_rule":{"name":"related-events","params":null}}}`,
			`{"type":"rule.created","rule":{"name":"n","tracking_rule":{"name":"x","params":[ "a" , {"b":[true,false,null,-1.5e+3]} ]}}}`,
			`{"type":"rule.created","rule":{"name":"n","tracking_rule":{"name":"x","params":["\u00e9\"\\\/\b\f\n\r\t"]}}}`,
			`{"type":"rule.created","rule":{"name":"n","tracking_rule":{"name":"x","params":["\x"]}}}`,
			`{"type":"rule.created","rule":{"name":"n","tracking_rule":{"name":"x","params":[01]}}}`,
			`{"type":"rule.created","rule":{"name":"n","tracking_rule":{"name":"x","params":[1.]}}}`,
			`{"type":"rule.created","rule":{"name":"n","tracking_rule":{"name":"x","params":[}}}`,
			`{"type":"rule.created","rule":{"name":"n","disabled":null}}`,
			`{"type":"rule.created","rule":{"name":"n","disabled":true,"id":5,"generated_last_week":-2,"origin":"default"}}`,
			`{"type":"rule.created","rule":{"name":"n"},"time":"2026-12-07T05:00:00Z"}`,
			`{"type":"rule.created","rule":{"name":"n"},"time":"2026-12-07"}`,
			`{"type":"rule.created","rule":{"name":"n"},"time":null}`,
			`{"type":"rule.created","rule":{"name":"n"},"settings":[]}`,
			`{"type":"rule.updated","rule":{"name":"n"}}`,
			`{"type":"rule.exploded","rule_id":3}`,
		} {
			checkApplied(t, subject, header, []byte(data))
			checkApplied(t, subject, nil, []byte(data))
		}
		checkApplied(t, "rules.other", header, msgs[0])
		checkApplied(t, wire.RulesUserSubject("b.o%b"), header, msgs[0])
	})

	t.Run("Mutated", func(t *testing.T) {
		t.Parallel()
		// Bytes that move JSON between valid and invalid, and between the
		// fast path and encoding/json.
		alphabet := []byte(" \t\n{}[],:\"\\0123456789.-eEtruefalsn<&\x7f\xc3\xa9\xff")
		rng := rand.New(rand.NewPCG(16, 1))
		for range 20000 {
			data := bytes.Clone(msgs[rng.IntN(len(msgs))])
			for range 1 + rng.IntN(3) {
				i := rng.IntN(len(data))
				switch rng.IntN(3) {
				case 0:
					data = append(data[:i], data[i+1:]...)
				case 1:
					data = append(data[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, data[i:]...)...)
				default:
					data[i] = alphabet[rng.IntN(len(alphabet))]
				}
			}
			checkApplied(t, subject, header, data)
		}
	})
}

func FuzzDecodeApplied(f *testing.F) {
	for _, ev := range decodeEvents() {
		m, err := ev.Message()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.Data)
	}
	subject := wire.RulesUserSubject("alice")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkApplied(t, subject, nil, data)
	})
}

func BenchmarkDecodeApplied(b *testing.B) {
	ev := decodeEvents()[0]
	m, err := ev.Message()
	if err != nil {
		b.Fatal(err)
	}
	subject := wire.RulesUserSubject("alice")
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := decodeApplied(subject, m.Header, m.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := wantApplied(subject, m.Header, m.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
