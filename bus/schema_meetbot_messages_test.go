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
	schemaRun(t, []schemaCase{
		{name: "start", schema: "meetbot.meeting.start",
			body: start,
			want: schemaWant{App: "meetbot", Agent: "dummy-user",
				Summary: "Meeting 'epel' started in #fedora-meeting:fedoraproject.org",
				Text:    "dummy-user started meeting 'epel' in #fedora-meeting:fedoraproject.org at 2011-08-12T20:17:46+0000",
				Users:   []string{"dummy-user"}}},
		{name: "start with url", schema: "meetbot.meeting.start",
			body: `{"start_time": "t", "start_user": "u", "location": "#l", "meeting_name": "m", "url": "https://meetbot.example/m"}`,
			want: schemaWant{App: "meetbot", Agent: "u", Summary: "Meeting 'm' started in #l",
				Text: "u started meeting 'm' in #l at t", URL: "https://meetbot.example/m",
				Users: []string{"u"}}},
		{name: "complete", schema: "meetbot.meeting.complete",
			body: complete,
			want: schemaWant{App: "meetbot", Agent: "dudemcpants",
				Summary: "Meeting 'epel' in #fedora-meeting:fedoraproject.org finished",
				Text: "dudemcpants ended meeting 'epel' in #fedora-meeting:fedoraproject.org at 2023-08-12T20:45:59+0000\n\n" +
					"# Attendees\n\n* dummy-user: 23 lines said\n* dudemcpants: 3 lines said\n\n" +
					"# Logs\n\n* [HTML Minutes](https://meetbot-raw.test/epel.html)\n* [Text Minutes](https://meetbot-raw.test/epel.txt)\n",
				URL:   "https://meetbot-raw.test/epel.2023-08-12-20.17",
				Users: []string{"dudemcpants", "dummy-user", "joansmith"}}},
		{name: "complete, no attendees nor logs", schema: "meetbot.meeting.complete",
			body: `{"start_time": "s", "start_user": "a", "end_time": "e", "end_user": "b", "location": "#l",
				"meeting_name": "m", "url": "https://u", "attendees": [], "logs": [], "chairs": []}`,
			want: schemaWant{App: "meetbot", Agent: "b", Summary: "Meeting 'm' in #l finished",
				Text: "b ended meeting 'm' in #l at e\n\n# Attendees\n\n\n# Logs\n\n", URL: "https://u",
				Users: []string{"b"}}},
		// Items the draft-4 schema does not check: an attendee without a
		// name (Python: KeyError in __str__ and usernames) and a chair
		// that is not a string (Python: TypeError sorting the names). fmn
		// reads None in the text and lists the string names.
		{name: "complete, odd items", schema: "meetbot.meeting.complete",
			body: `{"start_time": "s", "start_user": "a", "end_time": "e", "end_user": "b", "location": "#l",
				"meeting_name": "m", "url": "https://u", "attendees": [{"lines_said": 2}, "c", {"name": "d", "lines_said": 1}],
				"logs": [{"log_type": "HTML"}], "chairs": [null, 7, "e"]}`,
			want: schemaWant{App: "meetbot", Agent: "b", Summary: "Meeting 'm' in #l finished",
				Text: "b ended meeting 'm' in #l at e\n\n# Attendees\n\n* None: 2 lines said\n* None: None lines said\n" +
					"* d: 1 lines said\n\n# Logs\n\n* [HTML](None)\n",
				URL: "https://u", Users: []string{"b", "d", "e"}}},
	})
}
