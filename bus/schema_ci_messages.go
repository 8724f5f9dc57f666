package bus

import (
	"strings"
	"unicode/utf8"
)

// ci-messages 0.2.1 (python-ci_messages, Fedora CI): one class,
// CIMessageV1, for every message of the CI Messages spec
// (org.fedoraproject.prod.ci.<artifact>.<event>.<status>). It reads the
// last three tokens of the topic, and a few members of the body; it has
// no app_name (FMN's applications list names it "ci_messages" after the
// entry point, but the messages' app_name is None), no agent, no users and
// no packages.
//
// Source read: python-ci_messages 0.2.1 (setup.py, src/ci_messages/schema.py
// and tests/test_schema.py, upstream on pagure.io/fedora-ci/python-ci_messages);
// the stored copies carry no repository name.
//
// This file also holds the nc* helpers that the extractors of the four
// packages FMN v3 installs without corpus messages (ci-messages,
// fedora-elections-messages, fedora-image-uploader-messages,
// mdapi-messages) share: Python's subscripting, dict.get, iteration,
// len() and str.join on decoded JSON, each saying when Python raises.

func init() {
	RegisterPackage(Package{Name: "ci-messages", Version: "0.2.1", Source: "pagure.io/fedora-ci/python-ci_messages",
		Schemas: []Schema{
			{Name: "ci_messages.CIMessageV1", Class: "ci_messages.schema:CIMessageV1", App: "", Extract: ciExtract},
		}})
}

// ciStatus words a topic's last token as CIMessageV1.summary does (an
// unknown status is Python's None).
var ciStatus = map[string]string{
	"queued":   "was queued",
	"running":  "started",
	"complete": "finished",
	"error":    "failed",
}

func ciExtract(x *Extraction) {
	b := x.Body.Value
	if s, ok := ciSummary(x.Topic, b); ok {
		// __str__ is the summary.
		x.Summary, x.Text = s, s
	}
	x.URL = ciURL(b)
}

// ciSummary is CIMessageV1.summary: "CI: <event> of <artifact> <id>
// <status>". ok is false for a topic of fewer than three tokens, where
// Python fails to unpack them (fmn keeps the topic as summary and the
// base text). Where Python raises on a body of the wrong shape (a "test"
// that is no object, a non-string test type), fmn reads on as if the
// member were absent or renders the type with str().
func ciSummary(topic string, b Value) (string, bool) {
	parts := strings.Split(topic, ".")
	if len(parts) < 3 {
		return "", false
	}
	artifact, event, status := parts[len(parts)-3], parts[len(parts)-2], parts[len(parts)-1]
	if event == "promote" {
		event = "promotion"
	}
	if event == "test" {
		test, _ := ncGet(b, "test")
		ttype, _ := ncGet(test, "type")
		if ttype.Truthy() {
			event = PyStr(ttype) + " test"
		}
	}
	st, ok := ciStatus[status]
	if !ok {
		st = "None"
	}
	return "CI: " + event + " of " + artifact + " " + ciArtifactID(b) + " " + st, true
}

// ciArtifactID is CIMessageV1.artifact_id: the artifact's descriptor,
// nvr, alias or id, the first that is truthy, else "<unknown>".
func ciArtifactID(b Value) string {
	artifact, _ := ncGet(b, "artifact")
	for _, k := range []string{"descriptor", "nvr", "alias", "id"} {
		if v, _ := ncGet(artifact, k); v.Truthy() {
			return PyStr(v)
		}
	}
	return "<unknown>"
}

// ciURL is CIMessageV1.url: run.url, else artifact.url, else "".
func ciURL(b Value) string {
	for _, k := range []string{"run", "artifact"} {
		m, _ := ncGet(b, k)
		if u, _ := ncGet(m, "url"); u.Truthy() {
			return PyStr(u)
		}
	}
	return ""
}

// ncKey is Python's v[key] on a decoded JSON value: ok is false where
// Python raises (v is no dict, or has no such key). A JSON null member is
// found (Python's None).
func ncKey(v Value, key string) (Value, bool) {
	if v.Kind() != KindObject {
		return Value{}, false
	}
	m := v.Get(key)
	return m, m.Exists()
}

// ncPath subscripts v by each key in turn (v[k1][k2]…).
func ncPath(v Value, keys ...string) (Value, bool) {
	for _, k := range keys {
		var ok bool
		if v, ok = ncKey(v, k); !ok {
			return Value{}, false
		}
	}
	return v, true
}

// ncGet is Python's v.get(key) (or v.get(key, {}), whose default fmn
// reads the same as an absent value): ok is false where Python raises (v
// is no dict: None, a list or a string have no get). The value is absent
// when the key is.
func ncGet(v Value, key string) (Value, bool) {
	if v.Kind() != KindObject {
		return Value{}, false
	}
	return v.Get(key), true
}

// ncIter lists what Python's iteration over v yields, each rendered with
// str() (as an f-string or str.format shows it): a list's elements, a
// string's characters, a dict's keys. allStr tells whether every item is a
// str (what str.join needs). ok is false where v is not iterable (None, a
// number, a boolean, absent).
func ncIter(v Value) (items []string, allStr, ok bool) {
	switch v.Kind() {
	case KindArray:
		allStr = true
		v.Each(func(e Value) bool {
			if e.Kind() != KindString {
				allStr = false
			}
			items = append(items, PyStr(e))
			return true
		})
		return items, allStr, true
	case KindString:
		s := v.Str()
		items = make([]string, 0, utf8.RuneCountInString(s))
		for _, r := range s {
			items = append(items, string(r))
		}
		return items, true, true
	case KindObject:
		return v.Keys(), true, true
	}
	return nil, false, false
}

// ncJoin is Python's sep.join(v): ok is false where Python raises (v not
// iterable, or an item that is no str).
func ncJoin(sep string, v Value) (string, bool) {
	items, allStr, ok := ncIter(v)
	if !ok || !allStr {
		return "", false
	}
	return strings.Join(items, sep), true
}

// ncLen is Python's len(v): ok is false where Python raises.
func ncLen(v Value) (int, bool) {
	items, _, ok := ncIter(v)
	return len(items), ok
}

// ncURL renders a url property's value: None (or absent) is no URL.
func ncURL(v Value) string {
	if v.Kind() == KindNull || v.Kind() == KindAbsent {
		return ""
	}
	return PyStr(v)
}
