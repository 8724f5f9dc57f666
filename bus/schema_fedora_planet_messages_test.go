package bus

import "testing"

func TestPlanetSchemas(t *testing.T) {
	post := func(name, body, summary string, usernames ...string) schemaCase {
		agent := ""
		if len(usernames) > 0 {
			agent = usernames[0]
		}
		return schemaCase{name: name, schema: "planet.post.new",
			body: body,
			want: schemaWant{Agent: agent, Summary: summary, Text: summary, Users: usernames}}
	}
	build := func(name, body, summary string) schemaCase {
		return schemaCase{name: name, schema: "planet.build",
			body: body,
			want: schemaWant{Summary: summary, Text: summary}}
	}
	schemaRun(t, []schemaCase{
		build("build", `{"title": "Dummy Planet", "url": "http://planet.example", "Users": {}}`, "Dummy Planet has been rebuilt"),
		build("build, no title", `{}`, "The planet has been rebuilt"),
		build("build, null title", `{"title": null}`, "None has been rebuilt"),
		post("post", `{"username": "Khorne", "name": "Blog", "face": "https://face.example", "post": {"title": "Best blogpost"}}`,
			"A new post 'Best blogpost' was published on planet by 'Khorne'.", "Khorne"),
		post("post, null title", `{"username": "Khorne", "post": {"title": null}}`,
			"A new post was published on planet by 'Khorne'.", "Khorne"),
		post("post, no title nor username", `{"post": {}}`, "A new post was published on planet."),
		post("post, quotes in the title", `{"username": "o'neil", "post": {"title": "It's \"new\"\n"}}`,
			`A new post 'It\'s "new"\n' was published on planet by "o'neil".`, "o'neil"),
	})
}
