package bus

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// A bodhi comment as it arrives on the bus: ~1 KB body, the usual headers.
var benchBody = []byte(`{"comment": {"karma": 1, "text": "Works for me on F40, thanks! @carol please have a look at the regression in the docs build.",
 "timestamp": "2024-05-01 12:30:45", "user": {"name": "bob", "openid": "bob.id.fedoraproject.org", "groups": [{"name": "packager"}]},
 "update": {"alias": "FEDORA-2024-1a2b3c4d5e", "status": "testing", "request": null, "release": {"name": "F40", "long_name": "Fedora 40"},
  "user": {"name": "alice"}, "title": "python-foo-1.2-3.fc40 bar-2.0-1.fc40",
  "builds": [{"nvr": "python-foo-1.2-3.fc40", "signed": true}, {"nvr": "bar-2.0-1.fc40", "signed": true}],
  "notes": "Update to 1.2 with bug fixes: https://github.com/example/foo/releases/tag/v1.2 and a long changelog text to make the body realistic."}},
 "agent": "bob"}`)

func benchHeaders() nats.Header {
	return nats.Header{
		"Nats-Msg-Id":                     {"2f3ff7b2-4f3a-4b2e-9a7a-0d0c5e4c1a11"},
		"fedora_messaging_schema":         {"bodhi.update.comment.v1"},
		"fedora_messaging_severity":       {"20"},
		"sent-at":                         {"2024-05-01T12:30:45+00:00"},
		"priority":                        {"0"},
		"fedora_messaging_user_bob":       {"true"},
		"fedora_messaging_user_alice":     {"true"},
		"fedora_messaging_rpm_python-foo": {"true"},
		"fedora_messaging_rpm_bar":        {"true"},
	}
}

// BenchmarkParse: go test ./bus/ -run '^$' -bench Parse -benchmem
func BenchmarkParse(b *testing.B) {
	h := benchHeaders()
	b.Run("bodhi", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchBody)))
		for b.Loop() {
			if _, err := ParseNATS("bus.org.fedoraproject.prod.bodhi.update.comment", h, benchBody); err != nil {
				b.Fatal(err)
			}
		}
	})
	g := benchHeaders()
	g["fedora_messaging_schema"] = []string{"base.message"}
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchBody)))
		for b.Loop() {
			if _, err := ParseNATS("bus.org.fedoraproject.prod.bodhi.update.comment", g, benchBody); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ParseNATS("bus.org.fedoraproject.prod.bodhi.update.comment", h, benchBody); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkParseCorpus parses every valid corpus message (real Fedora
// messages of 21 apps) as the consumer does, one op = one message:
//
//	go test ./bus/ -run '^$' -bench ParseCorpus -benchmem
//
// "parse" is the matcher's lazy parse (what matching reads); "render" adds
// the texts of a notification (Parsed.Display, DisplayText), which only
// notified messages pay; "eager" derives everything at once.
func BenchmarkParseCorpus(b *testing.B) {
	msgs, err := corpusOnce()
	if err != nil {
		b.Fatal(err)
	}
	type natsMsg struct {
		subject string
		h       nats.Header
		data    []byte
	}
	var in []natsMsg
	size := 0
	for _, m := range msgs {
		if !m.bodyValid() {
			continue
		}
		nm, err := m.NATSMsg()
		if err != nil {
			b.Fatal(err)
		}
		in = append(in, natsMsg{nm.Subject, nm.Header, nm.Data})
		size += len(nm.Data)
	}
	for _, c := range []struct {
		name           string
		lazy, rendered bool
	}{{"parse", true, false}, {"render", true, true}, {"eager", false, false}} {
		b.Run(c.name, func(b *testing.B) {
			p := Parser{Lazy: c.lazy}
			b.ReportAllocs()
			b.SetBytes(int64(size / len(in)))
			i := 0
			for b.Loop() {
				m := &in[i%len(in)]
				i++
				pd, err := p.ParseNATS(m.subject, m.h, m.data)
				if err != nil {
					b.Fatal(err)
				}
				if c.rendered {
					_ = pd.DisplayText()
				}
			}
		})
	}
}
