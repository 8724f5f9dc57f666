package bus

import "testing"

func TestMeetbotSchemas(t *testing.T) {
	start := `{"start_time": "2011-08-12T20:17:46+0000", "start_user": "dummy-user",
		"location": "#fedora-meeting:fedoraproject.org", "meeting_name": "epel"}`
	complete := `{"start_time": "2023-08-12T20:17:46+0000", "start_user": "dummy-user",
		"end_time": "2023-08-12T20:45:59+0000", "end_user": "dudemcpants",
		"location": "#fedora-meeting:fedoraproject.org", "meeting_name": "epel",
		"url": "https://meetbot-raw.test/epel.2023-08-12-20.17",
		"attendees": [{"name": "dummy-user", "lines_said": 23}, {"name": "dudemcpants", "lines_said": 3}],
		"logs": [{"log_type": "HTML Minutes", "log_url": "https://meetbot-raw.test/epel.html"},
		         {"log_type": "Text Minutes", "log_url": "https://meetbot-raw.test/epel.txt"}],
		"chairs": ["dummy-user", "joansmith"]}`
	fedocalRun(t, []fedocalCase{
		{name: "start", schema: "meetbot.meeting.start", body: start, app: "meetbot", agent: "dummy-user",
			summary:   "Meeting 'epel' started in #fedora-meeting:fedoraproject.org",
			text:      "dummy-user started meeting 'epel' in #fedora-meeting:fedoraproject.org at 2011-08-12T20:17:46+0000",
			usernames: []string{"dummy-user"}},
		{name: "start with url", schema: "meetbot.meeting.start",
			body: `{"start_time": "t", "start_user": "u", "location": "#l", "meeting_name": "m", "url": "https://meetbot.example/m"}`,
			app:  "meetbot", agent: "u", summary: "Meeting 'm' started in #l", text: "u started meeting 'm' in #l at t",
			url: "https://meetbot.example/m", usernames: []string{"u"}},
		{name: "complete", schema: "meetbot.meeting.complete", body: complete, app: "meetbot", agent: "dudemcpants",
			summary: "Meeting 'epel' in #fedora-meeting:fedoraproject.org finished",
			text: "dudemcpants ended meeting 'epel' in #fedora-meeting:fedoraproject.org at 2023-08-12T20:45:59+0000\n\n" +
				"# Attendees\n\n* dummy-user: 23 lines said\n* dudemcpants: 3 lines said\n\n" +
				"# Logs\n\n* [HTML Minutes](https://meetbot-raw.test/epel.html)\n* [Text Minutes](https://meetbot-raw.test/epel.txt)\n",
			url: "https://meetbot-raw.test/epel.2023-08-12-20.17", usernames: []string{"dudemcpants", "dummy-user", "joansmith"}},
		{name: "complete, no attendees nor logs", schema: "meetbot.meeting.complete",
			body: `{"start_time": "s", "start_user": "a", "end_time": "e", "end_user": "b", "location": "#l",
				"meeting_name": "m", "url": "https://u", "attendees": [], "logs": [], "chairs": []}`,
			app: "meetbot", agent: "b", summary: "Meeting 'm' in #l finished",
			text: "b ended meeting 'm' in #l at e\n\n# Attendees\n\n\n# Logs\n\n", url: "https://u", usernames: []string{"b"}},
		// Items the draft-4 schema does not check: an attendee without a
		// name (Python: KeyError in __str__ and usernames) and a chair
		// that is not a string (Python: TypeError sorting the names). fmn
		// reads None in the text and lists the string names.
		{name: "complete, odd items", schema: "meetbot.meeting.complete",
			body: `{"start_time": "s", "start_user": "a", "end_time": "e", "end_user": "b", "location": "#l",
				"meeting_name": "m", "url": "https://u", "attendees": [{"lines_said": 2}, "c", {"name": "d", "lines_said": 1}],
				"logs": [{"log_type": "HTML"}], "chairs": [null, 7, "e"]}`,
			app: "meetbot", agent: "b", summary: "Meeting 'm' in #l finished",
			text: "b ended meeting 'm' in #l at e\n\n# Attendees\n\n* None: 2 lines said\n* None: None lines said\n" +
				"* d: 1 lines said\n\n# Logs\n\n* [HTML](None)\n",
			url: "https://u", usernames: []string{"b", "d", "e"}},
	})
}
