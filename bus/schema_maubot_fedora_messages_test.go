package bus

import "testing"

// Bodies from maubot-fedora-messages' tests (tests/conftest.py,
// tests/test_cookie.py).
func TestMaubotFedoraMessages(t *testing.T) {
	t.Parallel()
	const schema = "maubot.cookie.give.v1"
	users := []string{"dummy-user", "foobar"}
	const summary = "dummy-user gave a cookie to foobar"
	schemaRun(t, []schemaCase{
		{name: "give", schema: schema, topic: "org.fedoraproject.prod.maubot.cookie.give.v1",
			body: `{"sender": "dummy-user", "recipient": "foobar", "fedora_release": "39", "total": 1, "count_by_release": {"39": 1}}`,
			want: schemaWant{App: "Maubot Fedora", Agent: "dummy-user", Users: users, Summary: summary,
				Text: "dummy-user gave a cookie to foobar. They now have 1 cookie(s), 1 of which were obtained in the Fedora 39 release cycle"}},
		{name: "float total", schema: schema, topic: "org.fedoraproject.prod.maubot.cookie.give.v1",
			body: `{"sender": "dummy-user", "recipient": "foobar", "fedora_release": "40", "total": 12.0, "count_by_release": {"39": 1, "40": 3}}`,
			want: schemaWant{App: "Maubot Fedora", Agent: "dummy-user", Users: users, Summary: summary,
				Text: "dummy-user gave a cookie to foobar. They now have 12.0 cookie(s), 3 of which were obtained in the Fedora 40 release cycle"}},
		// Properties that raise in Python.
		{name: "no count for the release (valid): the text raises", schema: schema, topic: "org.fedoraproject.prod.maubot.cookie.give.v1",
			body: `{"sender": "dummy-user", "recipient": "foobar", "fedora_release": "40", "total": 1, "count_by_release": {"39": 1}}`,
			want: schemaWant{App: "Maubot Fedora", Agent: "dummy-user", Users: users, Summary: summary}},
		{name: "missing fields (test_missing_fields): the text raises", schema: schema, topic: "org.fedoraproject.prod.maubot.cookie.give.v1",
			body: `{"sender": "dummy", "recipient": "foobar"}`,
			want: schemaWant{App: "Maubot Fedora", Agent: "dummy", Users: []string{"dummy", "foobar"},
				Summary: "dummy gave a cookie to foobar"}},
		{name: "no recipient: usernames has the sender", schema: schema, topic: "org.fedoraproject.prod.maubot.cookie.give.v1",
			body: `{"sender": "dummy"}`,
			want: schemaWant{App: "Maubot Fedora", Agent: "dummy", Users: []string{"dummy"}}},
	})
}
