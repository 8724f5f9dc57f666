package bus

import (
	"strings"
	"testing"
)

// fedocalSentAt is the sent-at of the fedocal messages, the "now" of their
// reminders.
const fedocalSentAt = "2024-06-01T12:00:00+00:00"

const (
	fedocalCalendarJSON = `{"calendar_name": "test_calendar", "calendar_contact": "foo@example.com",
		"calendar_description": "A test calendar", "calendar_editor_group": null,
		"calendar_admin_group": "syadmin", "calendar_status": "active"}`
	fedocalMeetingJSON = `{"meeting_time_start": "12:00:00", "meeting_name": "wat", "meeting_id": 42,
		"meeting_time_stop": "12:00:00", "calendar_name": "awesome", "meeting_location": null,
		"meeting_date_end": "2013-09-21", "meeting_timezone": "UTC", "meeting_manager": ["ralph"],
		"meeting_date": "2013-09-20", "meeting_information": "awesome", "meeting_region": null}`
)

func fedocalReminderBody(date, start string) string {
	m := strings.Replace(fedocalMeetingJSON, `"2013-09-20"`, `"`+date+`"`, 1)
	m = strings.Replace(m, `"meeting_time_start": "12:00:00"`, `"meeting_time_start": "`+start+`"`, 1)
	return `{"meeting": ` + m + `, "calendar": ` + fedocalCalendarJSON + `}`
}

func TestFedocalSchemas(t *testing.T) {
	calendar := `{"agent": "dummy_user", "calendar": ` + fedocalCalendarJSON + `}`
	meeting := `{"agent": "dummy_user", "calendar": ` + fedocalCalendarJSON + `, "meeting": ` + fedocalMeetingJSON + `}`
	sent := []string{HeaderSentAt, fedocalSentAt}
	same := func(c schemaCase) schemaCase { c.headers, c.want.App = sent, "fedocal"; return c.strIsSummary() }
	reminder := "Remember about the meeting 'wat' from the 'test_calendar' calendar"
	friendly := "Friendly reminder!  The 'wat' meeting from the 'test_calendar' calendar starts "
	// remind is a reminder of the meeting at date and start, sent at
	// fedocalSentAt unless sentAt says otherwise ("": no sent-at), whose
	// text ends with when.
	remind := func(name, date, start, when string, sentAt ...string) schemaCase {
		return schemaCase{name: name, schema: "fedocal.meeting.reminder", headers: append(sent, sentAt...),
			body: fedocalReminderBody(date, start),
			want: schemaWant{App: "fedocal", Summary: reminder, Text: friendly + when}}
	}
	schemaRun(t, []schemaCase{
		same(schemaCase{name: "calendar.new", schema: "fedocal.calendar.new", body: calendar,
			want: schemaWant{Summary: "dummy_user has created a new calendar test_calendar", Users: []string{"dummy_user"}}}),
		same(schemaCase{name: "calendar.update", schema: "fedocal.calendar.update", body: calendar,
			want: schemaWant{Summary: "dummy_user has updated a calendar test_calendar", Users: []string{"dummy_user"}}}),
		same(schemaCase{name: "calendar.upload", schema: "fedocal.calendar.upload", body: calendar,
			want: schemaWant{Summary: "dummy_user has uploaded meetings in the calendar test_calendar", Users: []string{"dummy_user"}}}),
		same(schemaCase{name: "calendar.delete", schema: "fedocal.calendar.delete", body: calendar,
			want: schemaWant{Summary: "dummy_user has deleted the calendar test_calendar", Users: []string{"dummy_user"}}}),
		same(schemaCase{name: "calendar.clear", schema: "fedocal.calendar.clear", body: calendar,
			want: schemaWant{Summary: "dummy_user has cleared the calendar test_calendar", Users: []string{"dummy_user"}}}),
		same(schemaCase{name: "meeting.new", schema: "fedocal.meeting.new", body: meeting,
			want: schemaWant{Summary: "dummy_user has created a new meeting wat in calendar test_calendar", Users: []string{"dummy_user"}}}),
		same(schemaCase{name: "meeting.update", schema: "fedocal.meeting.update", body: meeting,
			want: schemaWant{Summary: "dummy_user has updated meeting wat in calendar test_calendar", Users: []string{"dummy_user"}}}),
		same(schemaCase{name: "meeting.delete", schema: "fedocal.meeting.delete", body: meeting,
			want: schemaWant{Summary: "dummy_user has deleted the meeting wat from the calendar test_calendar", Users: []string{"dummy_user"}}}),
		// The url property reads body.thing.url, which fedocal never sends;
		// an empty agent is falsy: no username.
		same(schemaCase{name: "thing url, empty agent", schema: "fedocal.calendar.new",
			body: `{"agent": "", "thing": {"url": "https://calendar.example/x"}, "calendar": ` + fedocalCalendarJSON + `}`,
			want: schemaWant{Summary: " has created a new calendar test_calendar", URL: "https://calendar.example/x"}}),
		// A body the schema rejects (no agent: Python raises KeyError in
		// str and summary): the missing value reads None.
		same(schemaCase{name: "invalid: no agent", schema: "fedocal.calendar.clear", body: `{"calendar": ` + fedocalCalendarJSON + `}`,
			want: schemaWant{Summary: "None has cleared the calendar test_calendar"}}),
		remind("reminder: long ago", "2013-09-20", "12:00:00", "in -10 years"),
		remind("reminder: now", "2024-06-01", "12:00:00", "right now"),
		remind("reminder: 59 seconds", "2024-06-01", "12:00:59", "right now"),
		remind("reminder: 1 minute", "2024-06-01", "12:01:00", "in 1 minute"),
		remind("reminder: 30 minutes", "2024-06-01", "12:30:00", "in 30 minutes"),
		remind("reminder: 2 hours", "2024-06-01", "14:15:32", "in 2 hours"),
		remind("reminder: 1 day", "2024-06-02", "13:00:00", "in 1 day"),
		// The sent-at of the reminder is its "now"; an offset is honoured.
		remind("reminder: sent-at offset", "2024-06-01", "12:00:00", "in 1 hour", HeaderSentAt, "2024-06-01T13:00:00+02:00"),
		// A date strptime rejects: Python raises ValueError in __str__;
		// fmn says when the meeting starts as the body gives it.
		remind("reminder: bad date", "2024-02-30", "12:00:00", "at 2024-02-30 12:00:00"),
		// No sent-at (fedora-messaging always sets it): fmn does not guess
		// a "now" from the clock, it gives the start as the body does.
		remind("reminder: no sent-at", "2024-06-01", "12:30:00", "at 2024-06-01 12:30:00", HeaderSentAt, ""),
		// A reminder the schema rejects (no meeting).
		{name: "reminder: invalid, no meeting", schema: "fedocal.meeting.reminder", headers: sent,
			body: `{"calendar": ` + fedocalCalendarJSON + `}`,
			want: schemaWant{App: "fedocal", Summary: "Remember about the meeting 'None' from the 'test_calendar' calendar",
				Text: "Friendly reminder!  The 'None' meeting from the 'test_calendar' calendar starts at None None"}},
	})
}

// TestFedocalWhen checks _casual_timedelta_string against values Python
// (dateutil 2.9.0) computed, with sub-second "now"s, month ends and the
// date/time shapes strptime accepts or rejects.
func TestFedocalWhen(t *testing.T) {
	for _, c := range [][4]string{
		{"2021-10-09", "19:18:42", "2021-10-10T06:59:27.605136+00:00", "in -11 hours"},
		{"2026-12-07", "04:01:37", "2026-12-07T04:00:29.081390+00:00", "in 1 minute"},
		{"2022-11-19", "00:58:19", "2021-10-20T00:58:19.063616+00:00", "in 1 year"},
		{"2022-10-19", "14:25:16", "2022-10-19T14:41:32.275509+00:00", "in -16 minutes"},
		{"2023-09-27", "14:53:04", "2022-04-08T14:53:04.953970+00:00", "in 1 year"},
		{"2024-08-01", "16:46:32", "2024-08-02T03:01:50.463594+00:00", "in -10 hours"},
		{"2022-11-29", "07:12:10", "2023-09-02T07:12:10.751438+00:00", "in -9 months"},
		{"2026-01-30", "18:33:13", "2026-10-29T18:33:13.153274+00:00", "in -8 months"},
		{"2022-10-30", "07:23:57", "2023-09-28T07:23:57+00:00", "in -10 months"},
		{"2022-12-30", "02:09:50", "2023-02-21T02:09:50.069858+00:00", "in -1 months"},
		{"2021-10-01", "17:33:33", "2021-10-31T17:33:33+00:00", "in -30 days"},
		{"2024-12-26", "00:37:56", "2024-12-30T01:44:35+00:00", "in -4 days"},
		{"2024-6-1", "9:5:0", "2024-06-01T12:00:00+00:00", "in -2 hours"},
		{"2024-06- 1", "12:00:00", "2024-06-01T12:00:00+00:00", "right now"},
		{"2024-06-01", "  12:00:00", "2024-06-01T12:00:00+00:00", "right now"},
		{"2024-06-01\t", "12:00:00", "2024-06-01T12:00:00+00:00", "right now"},
		{"2024-06-01\u00a0", "12:00:00", "2024-06-01T12:00:00+00:00", "right now"},
		{"2024-02-29", "01:00:00", "2024-06-01T12:00:00+00:00", "in -3 months"},
		{"2024-6-01", "12:30:5", "2024-06-01T12:00:00+00:00", "in 30 minutes"},
		// strptime raises ValueError on these.
		{"2024-02-30", "12:00:00", "2024-06-01T12:00:00+00:00", ""},
		{"2023-02-29", "01:00:00", "2024-06-01T12:00:00+00:00", ""},
		{"2024-06-01", "12:00:60", "2024-06-01T12:00:00+00:00", ""},
		{"0000-01-01", "00:00:00", "2024-06-01T12:00:00+00:00", ""},
		{"2024-06-01", "24:00:00", "2024-06-01T12:00:00+00:00", ""},
		{"2024-13-01", "00:00:00", "2024-06-01T12:00:00+00:00", ""},
		{"24-06-01", "00:00:00", "2024-06-01T12:00:00+00:00", ""},
		{"2024-06-01", "12:00", "2024-06-01T12:00:00+00:00", ""},
		{"2024-06-01T", "12:00:00", "2024-06-01T12:00:00+00:00", ""},
		{"2024-06-01", "12:00:00 ", "2024-06-01T12:00:00+00:00", ""},
		{"2024-06-01", "12:00:00.5", "2024-06-01T12:00:00+00:00", ""},
	} {
		meeting := `{"meeting_date": "` + strings.ReplaceAll(c[0], "\t", `\t`) + `", "meeting_time_start": "` + c[1] + `"}`
		want := c[3]
		if want == "" {
			want = "at " + c[0] + " " + c[1]
		}
		if got := fedocalWhen(ValueOf([]byte(meeting)), c[2]); got != want {
			t.Errorf("%q %q now %s: got %q, want %q", c[0], c[1], c[2], got, want)
		}
	}
}

// TestFedocalOddBodies feeds bodies of every wrong shape to the schemas of
// fedocal, discourse2fedmsg, meetbot, mediawiki, planet, nuancier and
// tahrir: none may make an extractor fail.
func TestFedocalOddBodies(t *testing.T) {
	schemas := []string{
		"fedocal.calendar.new", "fedocal.calendar.update", "fedocal.calendar.upload", "fedocal.calendar.delete",
		"fedocal.calendar.clear", "fedocal.meeting.new", "fedocal.meeting.update", "fedocal.meeting.delete",
		"fedocal.meeting.reminder", "discourse.event.v1", "meetbot.meeting.start", "meetbot.meeting.complete",
		"wiki.article.edit.v1", "planet.build", "planet.post.new", "nuancier.new", "badges.person.login.first.v1",
		"badges.badge.award.v1", "badges.person.rank.advance.v1",
	}
	var bodies []string
	for _, v := range []string{`null`, `1`, `1.5`, `"s"`, `true`, `[]`, `[null, 1, "x", {}]`, `{}`} {
		bodies = append(bodies, v, `{"agent": `+v+`, "calendar": `+v+`, "meeting": `+v+`, "thing": `+v+`}`,
			`{"meeting": {"meeting_date": `+v+`, "meeting_time_start": `+v+`, "meeting_name": `+v+`}}`,
			`{"webhook_headers": {"X-Discourse-Event-Type": "like", "X-Discourse-Event": "post_liked", "X-Discourse-Instance": `+v+`},
			  "webhook_body": {"like": {"post": `+v+`, "user": `+v+`}}}`,
			`{"webhook_headers": {"X-Discourse-Event-Type": `+v+`, "X-Discourse-Event": `+v+`}, "webhook_body": `+v+`}`,
			`{"attendees": `+v+`, "logs": [`+v+`], "chairs": `+v+`, "end_user": `+v+`, "start_user": `+v+`, "url": `+v+`}`,
			`{"title": `+v+`, "user": `+v+`, "diff_url": `+v+`, "post": `+v+`, "username": `+v+`}`,
			`{"user": `+v+`, "badge": `+v+`, "person": `+v+`, "old_rank": `+v+`, "agent_name": `+v+`}`)
	}
	for _, s := range schemas {
		for _, body := range bodies {
			p, err := ParseNATS("bus.org.fedoraproject.prod."+s, hdr(HeaderSchema, s, HeaderSentAt, fedocalSentAt), []byte(body))
			if err != nil {
				t.Fatalf("%s %s: %v", s, body, err)
			}
			if p.ExtractError != "" {
				t.Errorf("%s %s: %s", s, body, p.ExtractError)
			}
			_ = p.DisplayText()
		}
	}
}
