package bus

import "testing"

// Bodies from noggin-messages' tests (noggin_messages/tests/test_schemas.py).
func TestNogginMessages(t *testing.T) {
	t.Parallel()
	const (
		sponsor = "noggin.group.member.sponsor.v1"
		create  = "noggin.user.create.v1"
		update  = "noggin.user.update.v1"
	)
	users := []string{"dudemcpants", "testuser"}
	miscRun(t, []miscCase{
		{"sponsor", sponsor, "fas.group.member.sponsor",
			`{"msg": {"agent": "dudemcpants", "user": "testuser", "group": "developers"}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: users, Groups: []string{"developers"},
				Summary: "Sponsor dudemcpants added testuser to the groupdevelopers",
				Text:    "Sponsor dudemcpants added testuser to the groupdevelopers"}},
		{"create for another", create, "fas.user.create",
			`{"msg": {"agent": "dudemcpants", "user": "testuser"}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants created a new Fedora Account for testuser",
				Text:    "dudemcpants created a new Fedora Account for testuser"}},
		{"create for oneself", create, "fas.user.create",
			`{"msg": {"agent": "dudemcpants", "user": "dudemcpants"}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: []string{"dudemcpants"},
				Summary: "dudemcpants created a new Fedora Account",
				Text:    "dudemcpants created a new Fedora Account"}},
		{"update of another", update, "fas.user.update",
			`{"msg": {"agent": "dudemcpants", "user": "testuser", "fields": ["firstname", "lastname", "gpgkeyid"]}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants edited 3 details of testuser's Fedora Account",
				Text:    "dudemcpants edited 3 details of testuser's Fedora Account\n\nDetails changed:\n\nfirstname\nlastname\ngpgkeyid "}},
		{"update of oneself", update, "fas.user.update",
			`{"msg": {"agent": "dudemcpants", "user": "dudemcpants", "fields": ["firstname", "lastname"]}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: []string{"dudemcpants"},
				Summary: "dudemcpants edited 2 details of their Fedora Account",
				Text:    "dudemcpants edited 2 details of their Fedora Account\n\nDetails changed:\n\nfirstname\nlastname "}},
		{"update, no fields changed", update, "fas.user.update",
			`{"msg": {"agent": "dudemcpants", "user": "testuser", "fields": []}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants edited 0 details of testuser's Fedora Account",
				Text:    "dudemcpants edited 0 details of testuser's Fedora Account\n\nDetails changed:\n\n "}},
		// Properties that raise in Python.
		{"update, a field that is no string: the text raises", update, "fas.user.update",
			`{"msg": {"agent": "dudemcpants", "user": "testuser", "fields": ["firstname", 3]}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants edited 2 details of testuser's Fedora Account", Text: miscBase}},
		{"update without fields: summary and text raise", update, "fas.user.update",
			`{"msg": {"agent": "dudemcpants", "user": "testuser"}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: users, Text: miscBase}},
		{"sponsor without group: groups, summary and text raise", sponsor, "fas.group.member.sponsor",
			`{"msg": {"agent": "dudemcpants", "user": "testuser"}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: users, Text: miscBase}},
		{"no user: usernames has the agent", create, "fas.user.create",
			`{"msg": {"agent": "dudemcpants"}}`,
			miscWant{App: "FAS", Agent: "dudemcpants", Users: []string{"dudemcpants"}, Text: miscBase}},
		{"no msg", create, "fas.user.create", `{"agent": "dudemcpants"}`,
			miscWant{App: "FAS", Text: miscBase}},
	})
}
