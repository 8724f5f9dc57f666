package bus

// tahrir-messages 2.0.1 (fedora-infra/tahrir-messages): Fedora Badges.
// No url; the text is the summary, except for a badge award, whose text is
// the badge's description. A value the body lacks (only in bodies the
// schema rejects, where Python raises KeyError) reads None; a missing
// username names no one.

func init() {
	RegisterPackage(Package{Name: "tahrir-messages", Version: "2.0.1", Source: "fedora-infra/tahrir-messages",
		Schemas: []Schema{
			{Name: "badges.person.login.first.v1", Class: "tahrir_messages:PersonLoginFirstV1", App: "tahrir",
				Extract: tahrirPersonLoginFirst},
			{Name: "badges.badge.award.v1", Class: "tahrir_messages:BadgeAwardV1", App: "tahrir",
				Extract: tahrirBadgeAward},
			{Name: "badges.person.rank.advance.v1", Class: "tahrir_messages:PersonRankAdvanceV1", App: "tahrir",
				Extract: tahrirPersonRankAdvance},
		}})
}

// tahrirPersonLoginFirst is PersonLoginFirstV1: the user is the agent.
func tahrirPersonLoginFirst(x *Extraction) {
	user := x.Body.Get("user", "username")
	x.Agent = user.Str()
	x.Usernames = Strs(user)
	if !x.Display() {
		return
	}
	x.Summary = PyStr(user) + " logged into badges for the first time"
	x.Text = x.Summary
}

// tahrirBadgeAward is BadgeAwardV1: no agent (Badges awards), the
// recipient is the username.
func tahrirBadgeAward(x *Extraction) {
	user := x.Body.Get("user", "username")
	x.Usernames = Strs(user)
	if !x.Display() {
		return
	}
	badge := x.Body.Get("badge").Object()
	x.Summary = PyStr(user) + " was awarded the badge `" + PyStr(badge.Get("name")) + "`"
	x.Text = PyStr(badge.Get("description"))
}

// tahrirPersonRankAdvance is PersonRankAdvanceV1: no agent, the person is
// the username.
func tahrirPersonRankAdvance(x *Extraction) {
	person := x.Body.Get("person").Object()
	nick := person.Get("nickname")
	x.Usernames = Strs(nick)
	if !x.Display() {
		return
	}
	x.Summary = PyStr(nick) + "'s Badges rank changed from " + PyStr(x.Body.Get("old_rank")) + " to " +
		PyStr(person.Get("rank"))
	x.Text = x.Summary
}
