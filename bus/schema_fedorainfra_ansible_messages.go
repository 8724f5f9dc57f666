package bus

// fedorainfra-ansible-messages: Fedora Infrastructure's ansible playbook
// runs, and dist-git's git.receive of the old (fedmsg-era) hook. The
// classes define `agent`, not `agent_name`: FMN sees no agent.

func init() {
	RegisterPackage(Package{Name: "fedorainfra-ansible-messages", Version: "0.0.2",
		Source: "fedora-infra/fedorainfra-ansible-messages",
		Schemas: []Schema{
			{Name: "ansible.playbook.start", Class: "fedorainfra_ansible_messages.ansible_messages:AnsiblePlaybookStartV1",
				App: "ansible", Extract: ansiblePlaybookStart},
			{Name: "ansible.playbook.complete", Class: "fedorainfra_ansible_messages.ansible_messages:AnsiblePlaybookCompleteV1",
				App: "ansible", Extract: ansiblePlaybookComplete},
			{Name: "git.receive", Class: "fedorainfra_ansible_messages.distgit_messages:GitReceiveV1",
				App: "distgit", Extract: ansibleGitReceive},
		}})
}

// ansibleUser sets the usernames of ansibleMessage: [body.get("userid")].
func ansibleUser(x *Extraction) {
	PyTry(func() { x.Usernames = Strs(x.Body.PyGet("userid")) })
}

func ansiblePlaybookStart(x *Extraction) {
	ansibleUser(x)
	if !x.Display() {
		return
	}
	PyTry(func() {
		x.Summary = PyStr(x.Body.PyItem("userid")) + " started an ansible run of " + PyStr(x.Body.PyItem("playbook"))
	})
}

func ansiblePlaybookComplete(x *Extraction) {
	ansibleUser(x)
	if !x.Display() {
		return
	}
	PyTry(func() {
		x.Summary = PyStr(x.Body.PyItem("userid")) + "'s " + PyStr(x.Body.PyItem("playbook")) + " playbook run completed"
	})
}

func ansibleGitReceive(x *Extraction) {
	// usernames: [agent], agent being commit.agent: None on a KeyError (a
	// None fmn leaves out), the property raises on a TypeError. Either way
	// fmn lists no one.
	PyTry(func() { x.Usernames = Strs(x.Body.PyItem("commit", "agent")) })
	if !x.Display() {
		return
	}
	PyTry(func() {
		commit := x.Body.PyItem("commit")
		f := func(k string) string { return PyStr(commit.PyItem(k)) }
		x.Summary = f("username") + " pushed to " + f("repo") + " (" + f("branch") + `). "` + f("summary") + `"`
	})
}
