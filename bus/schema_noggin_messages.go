package bus

import "strconv"

// noggin-messages: Fedora Account System (noggin) account and group
// changes. The body is {"msg": {"agent": …, "user": …, …}}.

func init() {
	RegisterPackage(Package{Name: "noggin-messages", Version: "1.0.3", Source: "fedora-infra/noggin-messages",
		Schemas: []Schema{
			{Name: "noggin.group.member.sponsor.v1", Class: "noggin_messages:MemberSponsorV1", App: "FAS",
				Extract: nogginMemberSponsor},
			{Name: "noggin.user.create.v1", Class: "noggin_messages:UserCreateV1", App: "FAS",
				Extract: nogginUserCreate},
			{Name: "noggin.user.update.v1", Class: "noggin_messages:UserUpdateV1", App: "FAS",
				Extract: nogginUserUpdate},
		}})
}

// nogginField is body["msg"][key].
func nogginField(x *Extraction, key string) Value {
	return x.Body.PyItem("msg", key)
}

// nogginCommon sets what NogginMessage defines: the agent (msg.agent) and
// the usernames (agent and user). Where one of them is missing (the class
// raises), fmn lists the one it has.
func nogginCommon(x *Extraction) {
	var agent, user Value
	PyTry(func() { agent = nogginField(x, "agent") })
	PyTry(func() { user = nogginField(x, "user") })
	x.Agent = PyOptStr(agent)
	x.Usernames = Strs(agent, user)
}

// nogginSummary sets the summary, and the text, which is the summary
// (NogginMessage.__str__), when the class's summary does not raise; only
// when displayed.
func nogginSummary(x *Extraction, summary func() string) {
	if !x.Display() {
		return
	}
	PyTry(func() {
		s := summary()
		x.Summary, x.Text = s, s
	})
}

func nogginMemberSponsor(x *Extraction) {
	nogginCommon(x)
	PyTry(func() { x.Groups = Strs(nogginField(x, "group")) })
	nogginSummary(x, func() string {
		// No space before the group: the class writes it so.
		return "Sponsor " + PyStr(nogginField(x, "agent")) + " added " + PyStr(nogginField(x, "user")) +
			" to the group" + PyStr(nogginField(x, "group"))
	})
}

func nogginUserCreate(x *Extraction) {
	nogginCommon(x)
	nogginSummary(x, func() string {
		agent, user := nogginField(x, "agent"), nogginField(x, "user")
		if PyReprEq(user, agent) {
			return PyStr(agent) + " created a new Fedora Account"
		}
		return PyStr(agent) + " created a new Fedora Account for " + PyStr(user)
	})
}

func nogginUserUpdate(x *Extraction) {
	nogginCommon(x)
	if !x.Display() {
		return
	}
	summary := func() string {
		agent, user := nogginField(x, "agent"), nogginField(x, "user")
		n := PyLen(nogginField(x, "fields"))
		if PyReprEq(user, agent) {
			return PyStr(agent) + " edited " + strconv.Itoa(n) + " details of their Fedora Account"
		}
		return PyStr(agent) + " edited " + strconv.Itoa(n) + " details of " + PyStr(user) + "'s Fedora Account"
	}
	PyTry(func() { x.Summary = summary() })
	// __str__: the summary, then the changed fields one a line (and a
	// trailing space).
	PyTry(func() {
		x.Text = summary() + "\n\nDetails changed:\n\n" + PyJoin("\n", nogginField(x, "fields")) + " "
	})
}
