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
	miscTry(func() { sender = miscBodyKey(b, "sender") })
	miscTry(func() { recipient = miscBodyKey(b, "recipient") })
	x.Agent = miscOptStr(sender)
	// [agent_name, recipient]; where one is missing (the class raises), fmn
	// lists the other.
	x.Usernames = Strs(sender, recipient)
	miscTry(func() {
		x.Summary = PyStr(miscBodyKey(b, "sender")) + " gave a cookie to " + PyStr(miscBodyKey(b, "recipient"))
	})
	miscTry(func() {
		release := miscBodyKey(b, "fedora_release")
		agent := PyStr(miscBodyKey(b, "sender"))
		to := PyStr(miscBodyKey(b, "recipient"))
		total := PyStr(miscBodyKey(b, "total"))
		// count_by_release[current_release]: a dict's keys are strings.
		rs, ok := release.StrOK()
		if !ok {
			panic(miscRaise{"KeyError", PyRepr(release)})
		}
		count := PyStr(miscPyKey(miscBodyKey(b, "count_by_release"), rs))
		x.Text = agent + " gave a cookie to " + to + ". They now have " + total + " cookie(s), " + count +
			" of which were obtained in the Fedora " + PyStr(release) + " release cycle"
	})
}
