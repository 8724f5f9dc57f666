package bus

import "strings"

// meetbot-messages 1.0.1 (fedora-infra/meetbot-messages): meetings held
// with the Matrix meeting bot, started and completed.
//
// The schema (draft 4) declares the items of attendees, chairs and logs
// with "contains", a keyword draft 4 does not know: their items are not
// checked. Where Python meets an item that is not what it expects (an
// attendee without a name: KeyError in __str__ and usernames; a chair that
// is not a string: TypeError when usernames sorts them), fmn reads None in
// the text and lists only the string names.

func init() {
	RegisterPackage(Package{Name: "meetbot-messages", Version: "1.0.1", Source: "fedora-infra/meetbot-messages",
		Schemas: []Schema{
			{Name: "meetbot.meeting.start", Class: "meetbot_messages.meeting:MeetingStartV1", App: "meetbot",
				Extract: meetbotStart},
			{Name: "meetbot.meeting.complete", Class: "meetbot_messages.meeting:MeetingCompleteV1", App: "meetbot",
				Extract: meetbotComplete},
		}})
}

// meetbotStart is MeetingStartV1: the agent is who started the meeting.
func meetbotStart(x *Extraction) {
	b := x.Body
	agent := b.Get("start_user")
	x.Agent = agent.Str()
	x.Usernames = Strs(agent)
	if !x.Display() {
		return
	}
	x.URL = b.Get("url").Str()
	name, location := PyStr(b.Get("meeting_name")), PyStr(b.Get("location"))
	x.Summary = "Meeting '" + name + "' started in " + location
	x.Text = PyStr(agent) + " started meeting '" + name + "' in " + location + " at " + PyStr(b.Get("start_time"))
}

// meetbotComplete is MeetingCompleteV1: the agent is who ended the
// meeting; the usernames are the chairs, the agent and the attendees; the
// text lists the attendees and the logs in Markdown.
func meetbotComplete(x *Extraction) {
	b := x.Body
	agent := b.Get("end_user")
	x.Agent = agent.Str()
	users := Strs(agent)
	b.Get("attendees").Each(func(a Value) bool {
		users = append(users, Strs(a.Get("name"))...)
		return true
	})
	b.Get("chairs").Each(func(c Value) bool {
		users = append(users, Strs(c)...)
		return true
	})
	x.Usernames = users
	if !x.Display() {
		return
	}

	x.URL = b.Get("url").Str()
	name, location := PyStr(b.Get("meeting_name")), PyStr(b.Get("location"))
	x.Summary = "Meeting '" + name + "' in " + location + " finished"
	var t strings.Builder
	t.WriteString(PyStr(agent) + " ended meeting '" + name + "' in " + location + " at " + PyStr(b.Get("end_time")))
	t.WriteString("\n\n# Attendees\n\n")
	b.Get("attendees").Each(func(a Value) bool {
		t.WriteString("* " + PyStr(a.Get("name")) + ": " + PyStr(a.Get("lines_said")) + " lines said\n")
		return true
	})
	t.WriteString("\n# Logs\n\n")
	b.Get("logs").Each(func(l Value) bool {
		t.WriteString("* [" + PyStr(l.Get("log_type")) + "](" + PyStr(l.Get("log_url")) + ")\n")
		return true
	})
	x.Text = t.String()
}
