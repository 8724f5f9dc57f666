package bus

// discourse2fedmsg-messages 1.1.0 (fedora-infra/discourse2fedmsg-messages):
// Discourse webhooks (Fedora Discussion, Ask Fedora) relayed to the bus,
// one class for every event.
//
// The body is {"webhook_headers": {...}, "webhook_body": {<event type>:
// {...}}}. The schema checks the headers, not what the webhook body holds:
// where Python's dict.get chain meets a value that is not a dict
// (AttributeError, e.g. "user": null on a like), fmn reads None and goes
// on, so the summary names what it can.

func init() {
	RegisterPackage(Package{Name: "discourse2fedmsg-messages", Version: "1.1.0",
		Source: "fedora-infra/discourse2fedmsg-messages",
		Schemas: []Schema{
			{Name: "discourse.event.v1", Class: "discourse2fedmsg_messages:DiscourseMessageV1", App: "Discourse",
				Extract: discourseEvent},
		}})
}

// discourseEvent is DiscourseMessageV1.
func discourseEvent(x *Extraction) {
	headers := x.Body.Get("webhook_headers").Object()
	event := headers.Get("X-Discourse-Event")
	eventType := headers.Get("X-Discourse-Event-Type")
	ev, _ := event.StrOK()
	typ, typOK := eventType.StrOK()

	// webhook_contents: body["webhook_body"].get(event_type, {});
	// post_contents: its "post" for a like, else itself.
	var contents Value
	if typOK {
		contents = x.Body.Get("webhook_body", typ)
	}

	// What matching reads: agent_name and usernames.
	switch typ {
	case "post":
		switch ev {
		case "post_created", "post_destroyed", "post_recovered", "post_edited":
			x.Agent = contents.Get("username").Str()
		}
	case "like":
		if ev == "post_liked" {
			x.Agent = contents.Get("user", "username").Str()
		}
		// The author of the liked post.
		x.Usernames = Strs(contents.Get("post", "username"))
	case "topic":
		switch ev {
		case "topic_created", "topic_edited", "topic_destroyed", "topic_recovered":
			x.Agent = contents.Get("created_by", "username").Str()
		}
	case "solved":
		// The author of the solution (who marked it is not in the webhook).
		x.Usernames = Strs(contents.Get("username"))
	}
	if !x.Display() {
		return
	}

	post := contents
	if typ == "like" {
		post = contents.Get("post")
	}
	var instanceName string
	switch s, _ := headers.Get("X-Discourse-Instance").StrOK(); s {
	case "https://discussion.fedoraproject.org":
		instanceName = "Fedora Discussion"
	case "https://ask.fedoraproject.org":
		instanceName = "Ask Fedora"
	default:
		instanceName = "None"
	}

	username := PyStr(post.Get("username"))
	title := PyStr(post.Get("topic_title"))
	summary := ""
	switch typ {
	case "post":
		switch ev {
		case "post_created":
			summary = "New Post on " + instanceName + ": " + username + " posted in '" + title + "'"
		case "post_edited":
			summary = "Post Edited on " + instanceName + ": " + username + "'s post on '" + title + "'"
		case "post_recovered":
			summary = "Post Recovered on " + instanceName + ": " + username + "'s post on '" + title + "'"
		case "post_destroyed":
			summary = "Post Destroyed on " + instanceName + ": " + username + "'s post on '" + title + "'"
		}
	case "like":
		if ev == "post_liked" {
			summary = "Post Liked on " + instanceName + ": " + PyStr(contents.Get("user", "username")) + " liked " +
				username + "'s post on '" + title + "'"
		}
	case "topic":
		username, title = PyStr(contents.Get("created_by", "username")), PyStr(contents.Get("title"))
		switch ev {
		case "topic_created":
			summary = "New Topic on " + instanceName + ": " + username + " created the topic '" + title + "'"
		case "topic_edited":
			summary = "Topic Edited on " + instanceName + ": " + username + "'s topic '" + title + "'"
		case "topic_destroyed":
			summary = "Topic Destroyed on " + instanceName + ": " + username + "'s topic '" + title + "'"
		case "topic_recovered":
			summary = "Topic Recovered on " + instanceName + ": " + username + "'s topic '" + title + "'"
		}
	case "solved":
		if ev == "accepted_solution" {
			summary = "Accepted Solution on " + instanceName + ": " + username + "'s post on topic '" + title +
				"' marked as the solution."
		}
	}
	if summary == "" {
		summary = instanceName + ": " + PyStr(eventType) + "." + PyStr(event)
	}
	x.Summary, x.Text = summary, summary
}
