package bus

import "strings"

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
	if !x.Display() {
		return // the class derives nothing matching reads
	}
	b := x.Body
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
// that is no object: None has no get; a non-string test type), fmn reads
// on as if the member were absent (Value.Get) or renders the type with
// str().
func ciSummary(topic string, b Body) (string, bool) {
	parts := strings.Split(topic, ".")
	if len(parts) < 3 {
		return "", false
	}
	artifact, event, status := parts[len(parts)-3], parts[len(parts)-2], parts[len(parts)-1]
	if event == "promote" {
		event = "promotion"
	}
	if event == "test" {
		if ttype := b.Get("test", "type"); ttype.Truthy() {
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
func ciArtifactID(b Body) string {
	artifact := b.Get("artifact")
	for _, k := range []string{"descriptor", "nvr", "alias", "id"} {
		if v := artifact.Get(k); v.Truthy() {
			return PyStr(v)
		}
	}
	return "<unknown>"
}

// ciURL is CIMessageV1.url: run.url, else artifact.url, else "".
func ciURL(b Body) string {
	for _, k := range []string{"run", "artifact"} {
		if u := b.Get(k, "url"); u.Truthy() {
			return PyStr(u)
		}
	}
	return ""
}
