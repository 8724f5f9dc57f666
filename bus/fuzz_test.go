package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// FuzzParse feeds arbitrary subjects, header lines and bodies to the
// parser. It must never panic, must accept exactly the bodies encoding/json
// accepts (within the limits), and must only fail with an *InvalidError.
// Run: go test ./bus/ -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	seeds := []struct{ subject, headers, body string }{
		{"bus." + bodhiTopic, "fedora_messaging_schema:bodhi.update.comment.v1\nfedora_messaging_user_bob:true",
			`{"comment":{"user":{"name":"bob"},"karma":1,"text":"@al hi","update":{"alias":"A","user":{"name":"al"},"builds":[{"nvr":"a-1-1"}]}}}`},
		{"bus.org.fedoraproject.prod.copr.build.end", "fedora_messaging_schema:copr.build.end",
			`{"msg":{"build":1,"owner":"@g","copr":"p","chroot":"c","status":1,"user":"u:x"}}`},
		{"bus.x.y.z.koji", "fedora_messaging_schema:koji_fedoramessaging.build.BuildStateChangeV1", `{"name":"n","new":9}`},
		{"bus.a.b.c.pagure", "fedora_messaging_schema:pagure.pull-request.comment.added",
			`{"pullrequest":{"id":1,"comments":[{"id":2}],"project":{"namespace":"rpms","name":"x"}}}`},
		{"bus.a.b.c.pagure", "fedora_messaging_schema:pagure.git.receive", `{"repo":{"fullname":"r","full_url":"u"},"total_commits":1e400}`},
		{"bus.a", "fedora_messaging_severity:40\nsent-at:2024-01-01T00:00:00+01:00", `{"usernames":["a",1,null],"summary":"\u00e9"}`},
		{"bus.a..b", "", `[`},
		{"bus.a", "", `{"a":"\ud800"}`},
		{"dlq.bus", "", `1`},
	}
	for _, s := range seeds {
		f.Add(s.subject, s.headers, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, subject, headers string, body []byte) {
		h := nats.Header{"Nats-Msg-Id": {"fuzz"}}
		for _, line := range bytes.Split([]byte(headers), []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte(":")); ok {
				h[string(k)] = []string{string(v)}
			}
		}
		p, err := ParseNATS(subject, h, body)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error is not an *InvalidError: %v", err)
			}
			// The scanner must agree with encoding/json, except that it
			// refuses deeper nesting.
			if strings.HasPrefix(ie.Reason, "body is not valid JSON") && json.Valid(body) && !strings.Contains(ie.Reason, "nesting") {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		if p.Summary == "" || p.DisplayText() == "" {
			t.Fatalf("empty summary or text: %+v", p)
		}
	})
}

// FuzzReadFile: the file reader must never panic or loop, whatever it reads.
func FuzzReadFile(f *testing.F) {
	for _, s := range []string{fedoraMessage, "[" + rec(1) + "," + rec(2) + "]", rec(1) + "\n{\"id\":\n" + rec(3),
		"{\n\"id\": \"a\"\n}", `["x", 1, {"id":"a"}]`, `[{"a":"\"]"}`, `"str" 12 {"id":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data), Limits{})
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("more records than bytes")
			}
			_, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var re *RecordError
			if err != nil && !errors.As(err, &re) {
				return
			}
		}
	})
}

// FuzzLookup checks the lazy lookups against encoding/json: for every
// top-level key of an object, Body.Get, Value.Get and Value.Object().Get
// must find the value encoding/json finds (the last of duplicates).
func FuzzLookup(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x\\","c":{"d":[1,"]"]},"a":2}`, `{"k\u0031":"v","e":"\"\\\""}`, `{}`, `{"x":[{"y":"}"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want map[string]json.RawMessage
		if json.Unmarshal(data, &want) != nil || want == nil {
			return
		}
		b, err := scanBody(data, nil, true)
		if err != nil {
			if strings.Contains(err.Error(), "nesting") {
				return
			}
			t.Fatalf("valid object refused: %v", err)
		}
		obj := Value{raw: bytes.TrimSpace(data)}.Object()
		for k, w := range want {
			if strings.ContainsRune(k, '\uFFFD') {
				continue // encoding/json replaced invalid UTF-8 in the key
			}
			for name, got := range map[string]Value{"Body.Get": b.Get(k), "Value.Get": Value{raw: bytes.TrimSpace(data)}.Get(k), "Object.Get": obj.Get(k)} {
				if !bytes.Equal(got.Raw(), w) {
					t.Fatalf("%s(%q) = %s, want %s", name, k, got.Raw(), w)
				}
			}
		}
	})
}
