package bus

import "testing"

func TestTahrirSchemas(t *testing.T) {
	const (
		user   = `{"username": "dudemcpants", "badges_user_id": 123456}`
		badge  = `{"badge_id": "white-hat", "description": "You submitted a bodhi update with type security", "image_url": "https://badges.fedoraproject.org/pngs/white-hat.png", "name": "White Hat"}`
		person = `{"bio": null, "email": "aaronhale@fedoraproject.org", "id": 1234, "nickname": "aaronhale", "rank": 1, "website": null}`
	)
	schemaRun(t, []schemaCase{
		{name: "login first", schema: "badges.person.login.first.v1", topic: "org.fedoraproject.prod.badges.person.login.first",
			body: `{"user": ` + user + `}`,
			want: schemaWant{App: "tahrir", Agent: "dudemcpants", Summary: "dudemcpants logged into badges for the first time",
				Text: "dudemcpants logged into badges for the first time", Users: []string{"dudemcpants"}}},
		{name: "badge award", schema: "badges.badge.award.v1", topic: "org.fedoraproject.prod.badges.badge.award",
			body: `{"user": ` + user + `, "badge": ` + badge + `}`,
			want: schemaWant{App: "tahrir", Summary: "dudemcpants was awarded the badge `White Hat`",
				Text: "You submitted a bodhi update with type security", Users: []string{"dudemcpants"}}},
		{name: "rank advance", schema: "badges.person.rank.advance.v1", topic: "org.fedoraproject.prod.badges.person.rank.advance",
			body: `{"old_rank": 2, "person": ` + person + `}`,
			want: schemaWant{App: "tahrir", Summary: "aaronhale's Badges rank changed from 2 to 1",
				Text: "aaronhale's Badges rank changed from 2 to 1", Users: []string{"aaronhale"}}},
		{name: "rank advance, first rank", schema: "badges.person.rank.advance.v1",
			body: `{"old_rank": null, "person": ` + person + `}`,
			want: schemaWant{App: "tahrir", Summary: "aaronhale's Badges rank changed from None to 1",
				Text: "aaronhale's Badges rank changed from None to 1", Users: []string{"aaronhale"}}},
		// A body the schema rejects (no user): Python raises KeyError in
		// usernames and summary.
		{name: "badge award, invalid: no user", schema: "badges.badge.award.v1",
			body: `{"badge": ` + badge + `}`,
			want: schemaWant{App: "tahrir", Summary: "None was awarded the badge `White Hat`",
				Text: "You submitted a bodhi update with type security"}},
	})
}
