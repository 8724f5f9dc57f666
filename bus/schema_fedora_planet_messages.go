package bus

// fedora-planet-messages 1.2.1 (fedora-infra/fedora-planet-messages): the
// Fedora planet's rebuilds and new posts. The classes keep the base
// class's app_name (None) and url (None).

func init() {
	RegisterPackage(Package{Name: "fedora-planet-messages", Version: "1.2.1", Source: "fedora-infra/fedora-planet-messages",
		Schemas: []Schema{
			{Name: "planet.build", Class: "fedora_planet_messages.build:Build", Extract: planetBuild},
			{Name: "planet.post.new", Class: "fedora_planet_messages.post_messages:PostNew", Extract: planetPostNew},
		}})
}

// planetBuild is Build: "<title> has been rebuilt", "The planet" when the
// body has no title.
func planetBuild(x *Extraction) {
	if !x.Display() {
		return
	}
	title := "The planet"
	if v := x.Body.Get("title"); v.Exists() {
		title = PyStr(v)
	}
	x.Summary = title + " has been rebuilt"
	x.Text = x.Summary
}

// planetPostNew is PostNew: the agent is the blog's owner; the text names
// the post's title and the owner as Python reprs, each when not None.
func planetPostNew(x *Extraction) {
	user := x.Body.Get("username")
	x.Agent = user.Str()
	x.Usernames = Strs(user)
	if !x.Display() {
		return
	}
	s := "A new post"
	if title := x.Body.Get("post", "title"); title.Exists() && !title.IsNull() {
		s += " " + PyRepr(title)
	}
	s += " was published on planet"
	if user.Exists() && !user.IsNull() {
		s += " by " + PyRepr(user)
	}
	x.Summary = s + "."
	x.Text = x.Summary
}
