package bus

import "testing"

// Bodies from maubot-fedora-messages' tests (tests/conftest.py,
// tests/test_cookie.py).
func TestMaubotFedoraMessages(t *testing.T) {
	t.Parallel()
	const schema = "maubot.cookie.give.v1"
	users := []string{"dummy-user", "foobar"}
	const summary = "dummy-user gave a cookie to foobar"
	miscRun(t, []miscCase{
		{"give", schema, "maubot.cookie.give.v1",
			`{"sender": "dummy-user", "recipient": "foobar", "fedora_release": "39", "total": 1, "count_by_release": {"39": 1}}`,
			miscWant{App: "Maubot Fedora", Agent: "dummy-user", Users: users, Summary: summary,
				Text: "dummy-user gave a cookie to foobar. They now have 1 cookie(s), 1 of which were obtained in the Fedora 39 release cycle"}},
		{"float total", schema, "maubot.cookie.give.v1",
			`{"sender": "dummy-user", "recipient": "foobar", "fedora_release": "40", "total": 12.0, "count_by_release": {"39": 1, "40": 3}}`,
			miscWant{App: "Maubot Fedora", Agent: "dummy-user", Users: users, Summary: summary,
				Text: "dummy-user gave a cookie to foobar. They now have 12.0 cookie(s), 3 of which were obtained in the Fedora 40 release cycle"}},
		// Properties that raise in Python.
		{"no count for the release (valid): the text raises", schema, "maubot.cookie.give.v1",
			`{"sender": "dummy-user", "recipient": "foobar", "fedora_release": "40", "total": 1, "count_by_release": {"39": 1}}`,
			miscWant{App: "Maubot Fedora", Agent: "dummy-user", Users: users, Summary: summary, Text: miscBase}},
		{"missing fields (test_missing_fields): the text raises", schema, "maubot.cookie.give.v1",
			`{"sender": "dummy", "recipient": "foobar"}`,
			miscWant{App: "Maubot Fedora", Agent: "dummy", Users: []string{"dummy", "foobar"},
				Summary: "dummy gave a cookie to foobar", Text: miscBase}},
		{"no recipient: usernames has the sender", schema, "maubot.cookie.give.v1", `{"sender": "dummy"}`,
			miscWant{App: "Maubot Fedora", Agent: "dummy", Users: []string{"dummy"}, Text: miscBase}},
	})
}
