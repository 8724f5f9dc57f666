package bus

import "testing"

// Bodies from fmn's tests (tests/messages/test_base.py): every class is the
// base class but for its app name.
func TestFmnMessages(t *testing.T) {
	t.Parallel()
	base := schemaWant{App: "FMN"}
	schemaRun(t, []schemaCase{
		{name: "create", schema: "fmn.rule.create.v1", topic: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": {"id": 1}, "user": {"name": "dummy"}}`,
			want: base},
		{name: "update", schema: "fmn.rule.update.v1", topic: "org.fedoraproject.prod.fmn.rule.update.v1",
			body: `{"rule": {"id": 1, "name": null}, "user": {"name": "dummy"}}`,
			want: base},
		{name: "delete", schema: "fmn.rule.delete.v1", topic: "org.fedoraproject.prod.fmn.rule.delete.v1",
			body: `{"rule": {"id": 1, "name": "my rule"}, "user": {"name": "dummy"}}`,
			want: base},
		{name: "invalid", schema: "fmn.rule.delete.v1", topic: "org.fedoraproject.prod.fmn.rule.delete.v1",
			body: `{"rule": {}, "user": {}}`,
			want: base},
	})
	p := mustParse(t, "org.fedoraproject.prod.fmn.rule.delete.v1", hdr("fedora_messaging_schema", "fmn.rule.delete.v1"),
		`{"rule": {"id": 1, "name": "r\u00e9gle"}, "user": {"name": "dummy"}}`)
	want := "Id: id-1\nTopic: org.fedoraproject.prod.fmn.rule.delete.v1\nHeaders: {\n    \"fedora_messaging_schema\": \"fmn.rule.delete.v1\"\n}\n" +
		"Body: {\n    \"rule\": {\n        \"id\": 1,\n        \"name\": \"r\\u00e9gle\"\n    },\n    \"user\": {\n        \"name\": \"dummy\"\n    }\n}"
	if got := p.DisplayText(); got != want {
		t.Errorf("text:\n got  %q\n want %q", got, want)
	}
}
