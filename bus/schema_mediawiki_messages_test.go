package bus

import "testing"

func TestMediawikiSchemas(t *testing.T) {
	body := func(title string) string {
		return `{"diff_url": "https://fedoraproject.org/w/index.php?title=Changes/Telemetry&diff=1&oldid=0",
			"minor_edit": false, "page_url": "https://fedoraproject.org/wiki/Changes/Telemetry",
			"summary": "This is a change", "title": "` + title + `", "user": "dummy-user"}`
	}
	const diff = "https://fedoraproject.org/w/index.php?title=Changes/Telemetry&diff=1&oldid=0"
	text := func(title string) string {
		return "Wiki page " + title + " was edited by dummy-user\nSummary: This is a change\n" +
			"Page: https://fedoraproject.org/wiki/Changes/Telemetry\nDiff: " + diff + "\n"
	}
	c := func(name, title string, usernames ...string) schemaCase {
		return schemaCase{name: name, schema: "wiki.article.edit.v1", topic: "org.fedoraproject.prod.wiki.article.edit",
			body: body(title),
			want: schemaWant{App: "Wiki", Agent: "dummy-user", Summary: "Wiki page " + title + " was edited by dummy-user",
				Text: text(title), URL: diff, Users: append([]string{"dummy-user"}, usernames...)}}
	}
	schemaRun(t, []schemaCase{
		c("article", "Changes/Telemetry"),
		c("user page", "User:SomeUser", "someuser"),
		c("user subpage", "User:Someone:Drafts", "someone:drafts"),
		c("not a user page", "user:lower"),
		// Python's str.lower: final sigma, dotted capital I.
		c("user page, final sigma", "User:ΟΔΟΣ", "οδος"),
		c("user page, dotted I", "User:İstanbul", "i̇stanbul"),
		// "User:" alone: Python lists "" too; an empty name names no one.
		c("empty user page", "User:"),
		// A body the schema rejects (no urls): Python raises KeyError in
		// __str__ and url; fmn reads None and has no URL.
		{name: "invalid: no urls", schema: "wiki.article.edit.v1",
			body: `{"summary": "s", "title": "Page", "user": "dummy-user"}`,
			want: schemaWant{App: "Wiki", Agent: "dummy-user", Summary: "Wiki page Page was edited by dummy-user",
				Text:  "Wiki page Page was edited by dummy-user\nSummary: s\nPage: None\nDiff: None\n",
				Users: []string{"dummy-user"}}},
	})
}
