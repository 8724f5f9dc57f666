package bus

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// fedocal-messages 1.5.0 (fedora-infra/fedocal-messages): the calendar and
// meeting events of fedocal, and its meeting reminders.
//
// Every class has app "fedocal", no agent_name (the base class's None: the
// package names its actor `agent`, a property FMN does not read), the
// body's agent as only username (when truthy) and the URL body.thing.url,
// which no fedocal body has. The texts are str.format of body values; a
// value the body lacks (only in bodies the schema rejects, where Python
// raises KeyError) renders as None.

func init() {
	RegisterPackage(Package{Name: "fedocal-messages", Version: "1.5.0", Source: "fedora-infra/fedocal-messages",
		Schemas: []Schema{
			{Name: "fedocal.calendar.new", Class: "fedocal_messages.messages:CalendarNewV1", App: "fedocal",
				Extract: fedocalCalendar("has created a new calendar")},
			{Name: "fedocal.calendar.update", Class: "fedocal_messages.messages:CalendarUpdateV1", App: "fedocal",
				Extract: fedocalCalendar("has updated a calendar")},
			{Name: "fedocal.calendar.upload", Class: "fedocal_messages.messages:CalendarUploadV1", App: "fedocal",
				Extract: fedocalCalendar("has uploaded meetings in the calendar")},
			{Name: "fedocal.calendar.delete", Class: "fedocal_messages.messages:CalendarDeleteV1", App: "fedocal",
				Extract: fedocalCalendar("has deleted the calendar")},
			{Name: "fedocal.calendar.clear", Class: "fedocal_messages.messages:CalendarClearV1", App: "fedocal",
				Extract: fedocalCalendar("has cleared the calendar")},
			{Name: "fedocal.meeting.new", Class: "fedocal_messages.messages:MeetingNewV1", App: "fedocal",
				Extract: fedocalMeeting("has created a new meeting", "in calendar")},
			{Name: "fedocal.meeting.update", Class: "fedocal_messages.messages:MeetingUpdateV1", App: "fedocal",
				Extract: fedocalMeeting("has updated meeting", "in calendar")},
			{Name: "fedocal.meeting.delete", Class: "fedocal_messages.messages:MeetingDeleteV1", App: "fedocal",
				Extract: fedocalMeeting("has deleted the meeting", "from the calendar")},
			{Name: "fedocal.meeting.reminder", Class: "fedocal_messages.messages:ReminderV1", App: "fedocal",
				Extract: fedocalReminder},
		}})
}

// fedocalBase sets what FedocalMessage defines: usernames and, when
// displayed, url. It reports whether the texts are wanted (x.Display()).
func fedocalBase(x *Extraction) bool {
	// usernames: [agent] when body.get("agent") is truthy.
	if a := x.Body.Get("agent"); a.Truthy() {
		x.Usernames = Strs(a)
	}
	if !x.Display() {
		return false
	}
	// url: body["thing"]["url"], None on a KeyError.
	x.URL = x.Body.Get("thing", "url").Str()
	return true
}

// fedocalCalendar is a calendar.* class: "{agent} <what> {calendar_name}",
// as both text and summary.
func fedocalCalendar(what string) func(*Extraction) {
	return func(x *Extraction) {
		if !fedocalBase(x) {
			return
		}
		x.Text = PyStr(x.Body.Get("agent")) + " " + what + " " + PyStr(x.Body.Get("calendar", "calendar_name"))
		x.Summary = x.Text
	}
}

// fedocalMeeting is a meeting.* class: "{agent} <what> {meeting_name}
// <where> {calendar_name}", as both text and summary.
func fedocalMeeting(what, where string) func(*Extraction) {
	return func(x *Extraction) {
		if !fedocalBase(x) {
			return
		}
		x.Text = PyStr(x.Body.Get("agent")) + " " + what + " " + PyStr(x.Body.Get("meeting", "meeting_name")) +
			" " + where + " " + PyStr(x.Body.Get("calendar", "calendar_name"))
		x.Summary = x.Text
	}
}

// fedocalReminder is ReminderV1: the text says when the meeting starts,
// relative to the time the reminder was sent (FMN says it relative to the
// time it reads the message: sent-at keeps fmn's text deterministic).
func fedocalReminder(x *Extraction) {
	if !fedocalBase(x) {
		return
	}
	meeting := x.Body.Get("meeting")
	name := PyStr(meeting.Get("meeting_name"))
	calendar := PyStr(x.Body.Get("calendar", "calendar_name"))
	x.Summary = "Remember about the meeting '" + name + "' from the '" + calendar + "' calendar"
	x.Text = "Friendly reminder!  The '" + name + "' meeting from the '" + calendar + "' calendar starts " +
		fedocalWhen(meeting, x.Headers.Get(HeaderSentAt))
}

// fedocalWhen is _casual_timedelta_string with now = sent-at: "in 2
// hours", "in 1 minute", "in -10 years", "right now". Where Python raises
// (a meeting date or time strptime rejects) or sent-at is missing, it
// says "at <date> <time>" as the body gives them.
func fedocalWhen(meeting Value, sentAt string) string {
	dt := PyStr(meeting.Get("meeting_date")) + " " + PyStr(meeting.Get("meeting_time_start"))
	start, ok := fedocalStrptime(dt)
	now, nowOK := ParseSentAt(sentAt)
	if !ok || !nowOK {
		return "at " + dt
	}
	// datetime.utcnow(): naive UTC, microsecond resolution.
	now = now.UTC().Truncate(time.Microsecond)
	for _, d := range fedocalRelativeDelta(start, now) {
		if d.value != 0 {
			unit := d.unit
			if d.value == 1 {
				unit = unit[:len(unit)-1]
			}
			return "in " + strconv.FormatInt(d.value, 10) + " " + unit
		}
	}
	return "right now"
}

// fedocalDateTime is the regular expression Python's strptime builds for
// "%Y-%m-%d %H:%M:%S" (the space matches any run of whitespace), anchored
// at both ends as strptime requires the whole string to match.
var fedocalDateTime = regexp.MustCompile(`(?i)^(\d\d\d\d)-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])` +
	`[\t\n\v\f\r\x1c-\x1f\x85\p{Z}]+(2[0-3]|[0-1]\d|\d):([0-5]\d|\d):(6[0-1]|[0-5]\d|\d)$`)

// fedocalStrptime is datetime.strptime(s, "%Y-%m-%d %H:%M:%S"): false
// where Python raises ValueError (no match, or no such date or time).
func fedocalStrptime(s string) (time.Time, bool) {
	m := fedocalDateTime.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	var n [6]int
	for i := range n {
		v, err := strconv.Atoi(strings.TrimLeft(m[i+1], " ")) // %d allows " 1"
		if err != nil {
			return time.Time{}, false
		}
		n[i] = v
	}
	y, mo, d, h, mi, sec := n[0], n[1], n[2], n[3], n[4], n[5]
	if y < 1 || sec > 59 || d > fedocalDaysIn(y, mo) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
}

func fedocalDaysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

type fedocalUnit struct {
	value int64
	unit  string
}

// fedocalRelativeDelta is dateutil's relativedelta(dt1, dt2) as far as
// _casual_timedelta_string reads it: years, months, days, hours, minutes.
// Months are counted first (the day clamped to the target month's
// length), the rest is a time difference floored to whole seconds and
// split with each part taking the sign of the whole, as relativedelta's
// _fix does.
func fedocalRelativeDelta(dt1, dt2 time.Time) []fedocalUnit {
	addMonths := func(m int) time.Time {
		total := dt2.Year()*12 + int(dt2.Month()) - 1 + m
		y, mo := total/12, total%12+1 // total >= 0: both dates are after year 1
		d := min(dt2.Day(), fedocalDaysIn(y, mo))
		return time.Date(y, time.Month(mo), d, dt2.Hour(), dt2.Minute(), dt2.Second(), dt2.Nanosecond(), time.UTC)
	}
	months := (dt1.Year()-dt2.Year())*12 + int(dt1.Month()) - int(dt2.Month())
	dtm := addMonths(months)
	if dt1.Before(dt2) {
		for dt1.After(dtm) {
			months++
			dtm = addMonths(months)
		}
	} else {
		for dt1.Before(dtm) {
			months--
			dtm = addMonths(months)
		}
	}
	micro := dt1.Sub(dtm).Microseconds()
	secs := micro / 1e6
	if micro%1e6 < 0 {
		secs-- // timedelta: days*86400 + seconds is the floor
	}
	split := func(v, by int64) (high, low int64) { // sign-preserving divmod of relativedelta._fix
		s := int64(1)
		if v < 0 {
			s, v = -1, -v
		}
		return s * (v / by), s * (v % by)
	}
	minutes, _ := split(secs, 60)
	hours, minutes := split(minutes, 60)
	days, hours := split(hours, 24)
	years, mons := split(int64(months), 12)
	return []fedocalUnit{{years, "years"}, {mons, "months"}, {days, "days"}, {hours, "hours"}, {minutes, "minutes"}}
}
