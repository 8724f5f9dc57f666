package bus

import "testing"

func TestPlanetSchemas(t *testing.T) {
	post := func(name, body, summary string, usernames ...string) fedocalCase {
		agent := ""
		if len(usernames) > 0 {
			agent = usernames[0]
		}
		return fedocalCase{name: name, schema: "planet.post.new", body: body, agent: agent, summary: summary,
			text: summary, usernames: usernames}
	}
	build := func(name, body, summary string) fedocalCase {
		return fedocalCase{name: name, schema: "planet.build", body: body, summary: summary, text: summary}
	}
	fedocalRun(t, []fedocalCase{
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
