package bus

// nuancier-messages 1.0.0 (fedora-infra/nuancier-messages, no tags: HEAD
// 7bdab45): the package is still the cookiecutter's "thing" example; its
// one class is what nuancier would publish.

func init() {
	RegisterPackage(Package{Name: "nuancier-messages", Version: "1.0.0", Source: "fedora-infra/nuancier-messages",
		Schemas: []Schema{
			{Name: "nuancier.new", Class: "nuancier_messages.thing:NewThingV1", App: "nuancier",
				Extract: nuancierNewThing},
		}})
}

// nuancierNewThing is NewThingV1: the agent is body.agent_name, the url
// body.thing.url. A value the body lacks (only in bodies the schema
// rejects, where Python raises KeyError) reads None.
func nuancierNewThing(x *Extraction) {
	b := x.Body
	agent := b.Get("agent_name")
	x.Agent = agent.Str()
	x.Usernames = Strs(agent)
	if !x.Display() {
		return
	}
	thing := b.Get("thing").Object()
	x.URL = thing.Get("url").Str()
	name := PyStr(thing.Get("name"))
	x.Text = "New Thing: " + name + "\nBy: " + PyStr(agent) + "\n"
	x.Summary = PyStr(agent) + ` created thing "` + name + `" (` + PyStr(thing.Get("id")) + ")"
}
