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
	schemaRun(t, []schemaCase{
		{name: "sponsor", schema: sponsor, topic: "org.fedoraproject.prod.fas.group.member.sponsor",
			body: `{"msg": {"agent": "dudemcpants", "user": "testuser", "group": "developers"}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: users, Groups: []string{"developers"},
				Summary: "Sponsor dudemcpants added testuser to the groupdevelopers",
				Text:    "Sponsor dudemcpants added testuser to the groupdevelopers"}},
		{name: "create for another", schema: create, topic: "org.fedoraproject.prod.fas.user.create",
			body: `{"msg": {"agent": "dudemcpants", "user": "testuser"}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants created a new Fedora Account for testuser",
				Text:    "dudemcpants created a new Fedora Account for testuser"}},
		{name: "create for oneself", schema: create, topic: "org.fedoraproject.prod.fas.user.create",
			body: `{"msg": {"agent": "dudemcpants", "user": "dudemcpants"}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: []string{"dudemcpants"},
				Summary: "dudemcpants created a new Fedora Account",
				Text:    "dudemcpants created a new Fedora Account"}},
		{name: "update of another", schema: update, topic: "org.fedoraproject.prod.fas.user.update",
			body: `{"msg": {"agent": "dudemcpants", "user": "testuser", "fields": ["firstname", "lastname", "gpgkeyid"]}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants edited 3 details of testuser's Fedora Account",
				Text:    "dudemcpants edited 3 details of testuser's Fedora Account\n\nDetails changed:\n\nfirstname\nlastname\ngpgkeyid "}},
		{name: "update of oneself", schema: update, topic: "org.fedoraproject.prod.fas.user.update",
			body: `{"msg": {"agent": "dudemcpants", "user": "dudemcpants", "fields": ["firstname", "lastname"]}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: []string{"dudemcpants"},
				Summary: "dudemcpants edited 2 details of their Fedora Account",
				Text:    "dudemcpants edited 2 details of their Fedora Account\n\nDetails changed:\n\nfirstname\nlastname "}},
		{name: "update, no fields changed", schema: update, topic: "org.fedoraproject.prod.fas.user.update",
			body: `{"msg": {"agent": "dudemcpants", "user": "testuser", "fields": []}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants edited 0 details of testuser's Fedora Account",
				Text:    "dudemcpants edited 0 details of testuser's Fedora Account\n\nDetails changed:\n\n "}},
		// Properties that raise in Python.
		{name: "update, a field that is no string: the text raises", schema: update, topic: "org.fedoraproject.prod.fas.user.update",
			body: `{"msg": {"agent": "dudemcpants", "user": "testuser", "fields": ["firstname", 3]}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: users,
				Summary: "dudemcpants edited 2 details of testuser's Fedora Account"}},
		{name: "update without fields: summary and text raise", schema: update, topic: "org.fedoraproject.prod.fas.user.update",
			body: `{"msg": {"agent": "dudemcpants", "user": "testuser"}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: users}},
		{name: "sponsor without group: groups, summary and text raise", schema: sponsor, topic: "org.fedoraproject.prod.fas.group.member.sponsor",
			body: `{"msg": {"agent": "dudemcpants", "user": "testuser"}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: users}},
		{name: "no user: usernames has the agent", schema: create, topic: "org.fedoraproject.prod.fas.user.create",
			body: `{"msg": {"agent": "dudemcpants"}}`,
			want: schemaWant{App: "FAS", Agent: "dudemcpants", Users: []string{"dudemcpants"}}},
		{name: "no msg", schema: create, topic: "org.fedoraproject.prod.fas.user.create",
			body: `{"agent": "dudemcpants"}`,
			want: schemaWant{App: "FAS"}},
	})
}
