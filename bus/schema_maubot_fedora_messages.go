package bus

// maubot-fedora-messages: the Fedora Matrix bot's cookies.

func init() {
	RegisterPackage(Package{Name: "maubot-fedora-messages", Version: "0.1.0", Source: "fedora-infra/maubot-fedora-messages",
		Schemas: []Schema{
			{Name: "maubot.cookie.give.v1", Class: "maubot_fedora_messages.cookie:GiveCookieV1", App: "Maubot Fedora",
				Extract: maubotGiveCookie},
		}})
}

func maubotGiveCookie(x *Extraction) {
	b := x.Body
	var sender, recipient Value
	PyTry(func() { sender = b.PyItem("sender") })
	PyTry(func() { recipient = b.PyItem("recipient") })
	x.Agent = PyOptStr(sender)
	// [agent_name, recipient]; where one is missing (the class raises), fmn
	// lists the other.
	x.Usernames = Strs(sender, recipient)
	if !x.Display() {
		return
	}
	PyTry(func() {
		x.Summary = PyStr(b.PyItem("sender")) + " gave a cookie to " + PyStr(b.PyItem("recipient"))
	})
	PyTry(func() {
		release := b.PyItem("fedora_release")
		agent := PyStr(b.PyItem("sender"))
		to := PyStr(b.PyItem("recipient"))
		total := PyStr(b.PyItem("total"))
		// count_by_release[current_release]: a dict's keys are strings
		// (KeyError for any other release).
		count := PyStr(b.PyItem("count_by_release", PyMustStr(release)))
		x.Text = agent + " gave a cookie to " + to + ". They now have " + total + " cookie(s), " + count +
			" of which were obtained in the Fedora " + PyStr(release) + " release cycle"
	})
}
