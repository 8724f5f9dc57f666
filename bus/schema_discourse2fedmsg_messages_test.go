package bus

import "testing"

func init() {
	const nullUser = "null username: Python lists None (a like or solved event whose webhook body lacks the post's author); fmn drops it, a None names no one"
	deviate("495fdaca-5f09-56df-b69b-722b555ba35e", "usernames", nullUser) // like.fake_action, empty webhook body
	deviate("fda30377-881c-5106-8af4-c8745170fd21", "usernames", nullUser) // solved.fake_action, empty webhook body
}

func discourseBody(instance, typ, event, contents string) string {
	body := `{}`
	if contents != "" {
		body = `{"` + typ + `": ` + contents + `}`
	}
	return `{"webhook_body": ` + body + `, "webhook_headers": {"X-Discourse-Event": "` + event + `",
		"X-Discourse-Event-Id": "171", "X-Discourse-Event-Signature": "sha256=01a2",
		"X-Discourse-Event-Type": "` + typ + `", "X-Discourse-Instance": "` + instance + `"}}`
}

func TestDiscourseSchemas(t *testing.T) {
	const (
		disc = "https://discussion.fedoraproject.org"
		ask  = "https://ask.fedoraproject.org"
	)
	post := `{"category_slug": "project", "topic_title": "Docs meeting agenda: 2023-02-08", "username": "darknao", "name": "Francois Andrieu"}`
	like := `{"post": {"category_slug": "project", "topic_title": "Theory of Change: how we plan (and explain our plans!)",
		"username": "mattdm"}, "user": {"id": 1605, "name": "Akashdeep Dhar", "username": "t0xic0der"}}`
	topic := `{"title": "No updates published for f37 Silverblue since Feb 9th?", "created_by": {"username": "awarda"},
		"last_poster": {"username": "someone"}}`
	solved := `{"category_slug": "english", "topic_title": "Error 0x800f0922 updating Windows 10", "username": "isudoajl"}`
	c := func(name, instance, typ, event, contents, agent, summary string, usernames ...string) schemaCase {
		return schemaCase{name: name, schema: "discourse.event.v1", topic: "org.fedoraproject.prod.discourse." + typ + "." + event,
			body: discourseBody(instance, typ, event, contents),
			want: schemaWant{App: "Discourse", Agent: agent, Summary: summary, Text: summary, Users: usernames}}
	}
	schemaRun(t, []schemaCase{
		c("post_created", disc, "post", "post_created", post, "darknao",
			"New Post on Fedora Discussion: darknao posted in 'Docs meeting agenda: 2023-02-08'"),
		c("post_edited", ask, "post", "post_edited", post, "darknao",
			"Post Edited on Ask Fedora: darknao's post on 'Docs meeting agenda: 2023-02-08'"),
		c("post_recovered", ask, "post", "post_recovered", post, "darknao",
			"Post Recovered on Ask Fedora: darknao's post on 'Docs meeting agenda: 2023-02-08'"),
		c("post_destroyed", ask, "post", "post_destroyed", post, "darknao",
			"Post Destroyed on Ask Fedora: darknao's post on 'Docs meeting agenda: 2023-02-08'"),
		c("post other event", ask, "post", "post_moved", post, "", "Ask Fedora: post.post_moved"),
		c("post_liked", disc, "like", "post_liked", like, "t0xic0der",
			"Post Liked on Fedora Discussion: t0xic0der liked mattdm's post on 'Theory of Change: how we plan (and explain our plans!)'",
			"mattdm"),
		c("like other event", disc, "like", "post_unliked", like, "", "Fedora Discussion: like.post_unliked", "mattdm"),
		c("topic_created", ask, "topic", "topic_created", topic, "awarda",
			"New Topic on Ask Fedora: awarda created the topic 'No updates published for f37 Silverblue since Feb 9th?'"),
		c("topic_edited", ask, "topic", "topic_edited", topic, "awarda",
			"Topic Edited on Ask Fedora: awarda's topic 'No updates published for f37 Silverblue since Feb 9th?'"),
		c("topic_destroyed", ask, "topic", "topic_destroyed", topic, "awarda",
			"Topic Destroyed on Ask Fedora: awarda's topic 'No updates published for f37 Silverblue since Feb 9th?'"),
		c("topic_recovered", ask, "topic", "topic_recovered", topic, "awarda",
			"Topic Recovered on Ask Fedora: awarda's topic 'No updates published for f37 Silverblue since Feb 9th?'"),
		c("topic other event", ask, "topic", "topic_closed", topic, "", "Ask Fedora: topic.topic_closed"),
		c("accepted_solution", ask, "solved", "accepted_solution", solved, "",
			"Accepted Solution on Ask Fedora: isudoajl's post on topic 'Error 0x800f0922 updating Windows 10' marked as the solution.",
			"isudoajl"),
		c("solved other event", ask, "solved", "unaccepted_solution", solved, "", "Ask Fedora: solved.unaccepted_solution", "isudoajl"),
		c("unknown instance and type", "https://forum.example", "fake", "fake_action", "", "", "None: fake.fake_action"),
		// Python lists [None] when the liked post has no author; fmn
		// lists no one.
		c("like, empty webhook body", ask, "like", "post_liked", "", "", "Post Liked on Ask Fedora: None liked None's post on 'None'"),
		// "user": null makes Python's .get("user", {}).get("username")
		// raise AttributeError (summary and agent_name): fmn reads None.
		c("like, null liker", disc, "like", "post_liked", `{"post": {"username": "mattdm", "topic_title": "T"}, "user": null}`, "",
			"Post Liked on Fedora Discussion: None liked mattdm's post on 'T'", "mattdm"),
		// A webhook body that is not an object (Python raises
		// AttributeError in summary and agent_name).
		c("post, contents not an object", ask, "post", "post_created", `"oops"`, "",
			"New Post on Ask Fedora: None posted in 'None'"),
	})
}
