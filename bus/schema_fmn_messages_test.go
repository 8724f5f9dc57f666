package bus

import "testing"

// Bodies from fmn's tests (tests/messages/test_base.py): every class is the
// base class but for its app name.
func TestFmnMessages(t *testing.T) {
	t.Parallel()
	base := miscWant{App: "FMN", Text: miscBase}
	miscRun(t, []miscCase{
		{"create", "fmn.rule.create.v1", "fmn.rule.update.v1", `{"rule": {"id": 1}, "user": {"name": "dummy"}}`, base},
		{"update", "fmn.rule.update.v1", "fmn.rule.update.v1", `{"rule": {"id": 1, "name": null}, "user": {"name": "dummy"}}`, base},
		{"delete", "fmn.rule.delete.v1", "fmn.rule.delete.v1", `{"rule": {"id": 1, "name": "my rule"}, "user": {"name": "dummy"}}`, base},
		{"invalid", "fmn.rule.delete.v1", "fmn.rule.delete.v1", `{"rule": {}, "user": {}}`, base},
	})
	p := mustParse(t, "org.fedoraproject.prod.fmn.rule.delete.v1", hdr("fedora_messaging_schema", "fmn.rule.delete.v1"),
		`{"rule": {"id": 1, "name": "r\u00e9gle"}, "user": {"name": "dummy"}}`)
	want := "Id: id-1\nTopic: org.fedoraproject.prod.fmn.rule.delete.v1\nHeaders: {\n    \"fedora_messaging_schema\": \"fmn.rule.delete.v1\"\n}\n" +
		"Body: {\n    \"rule\": {\n        \"id\": 1,\n        \"name\": \"r\\u00e9gle\"\n    },\n    \"user\": {\n        \"name\": \"dummy\"\n    }\n}"
	if got := p.DisplayText(); got != want {
		t.Errorf("text:\n got  %q\n want %q", got, want)
	}
}
