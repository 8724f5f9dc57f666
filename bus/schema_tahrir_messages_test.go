package bus

import "testing"

func TestTahrirSchemas(t *testing.T) {
	const (
		user   = `{"username": "dudemcpants", "badges_user_id": 123456}`
		badge  = `{"badge_id": "white-hat", "description": "You submitted a bodhi update with type security", "image_url": "https://badges.fedoraproject.org/pngs/white-hat.png", "name": "White Hat"}`
		person = `{"bio": null, "email": "aaronhale@fedoraproject.org", "id": 1234, "nickname": "aaronhale", "rank": 1, "website": null}`
	)
	fedocalRun(t, []fedocalCase{
		{name: "login first", schema: "badges.person.login.first.v1", topic: "org.fedoraproject.prod.badges.person.login.first",
			body: `{"user": ` + user + `}`, app: "tahrir", agent: "dudemcpants",
			summary: "dudemcpants logged into badges for the first time", text: "dudemcpants logged into badges for the first time",
			usernames: []string{"dudemcpants"}},
		{name: "badge award", schema: "badges.badge.award.v1", topic: "org.fedoraproject.prod.badges.badge.award",
			body: `{"user": ` + user + `, "badge": ` + badge + `}`, app: "tahrir",
			summary: "dudemcpants was awarded the badge `White Hat`", text: "You submitted a bodhi update with type security",
			usernames: []string{"dudemcpants"}},
		{name: "rank advance", schema: "badges.person.rank.advance.v1", topic: "org.fedoraproject.prod.badges.person.rank.advance",
			body: `{"old_rank": 2, "person": ` + person + `}`, app: "tahrir",
			summary: "aaronhale's Badges rank changed from 2 to 1", text: "aaronhale's Badges rank changed from 2 to 1",
			usernames: []string{"aaronhale"}},
		{name: "rank advance, first rank", schema: "badges.person.rank.advance.v1",
			body: `{"old_rank": null, "person": ` + person + `}`, app: "tahrir",
			summary: "aaronhale's Badges rank changed from None to 1", text: "aaronhale's Badges rank changed from None to 1",
			usernames: []string{"aaronhale"}},
		// A body the schema rejects (no user): Python raises KeyError in
		// usernames and summary.
		{name: "badge award, invalid: no user", schema: "badges.badge.award.v1", body: `{"badge": ` + badge + `}`, app: "tahrir",
			summary: "None was awarded the badge `White Hat`", text: "You submitted a bodhi update with type security"},
	})
}
