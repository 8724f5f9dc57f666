package bus

// fedora-messaging-git-hook-messages: a commit pushed to a repository with
// the fedora-messaging git hook (dist-git). The body is {"agent": …,
// "commit": {…}}, "group" optional.
//
// FMN's email sender appends the patch at a message's patch_url: this
// class has no patch_url (neither has fedora-messaging's base Message), so
// fmn derives none; the commit's patch is in the text itself.

func init() {
	RegisterPackage(Package{Name: "fedora-messaging-git-hook-messages", Version: "1.0.2",
		Source: "fedora-infra/fedora-messaging-git-hook-messages",
		Schemas: []Schema{
			{Name: "fedora_messaging_git_hook.commit.v1", Class: "fedora_messaging_git_hook_messages.commit:CommitV1",
				App: "Git", Extract: gitHookCommit},
		}})
}

func gitHookCommit(x *Extraction) {
	b := x.Body
	var agent Value
	PyTry(func() { agent = b.PyGet("agent") })
	x.Agent = PyOptStr(agent)
	x.Usernames = Strs(agent)
	PyTry(func() {
		if g := b.PyGet("group"); g.Truthy() {
			x.Groups = Strs(g)
		}
	})
	// The repository is a package, container, module or flatpak by its
	// namespace: body.get("commit", {}).get("namespace").
	PyTry(func() {
		var ns Value
		if c := b.PyGet("commit"); c.Exists() {
			ns = c.PyGet("namespace")
		}
		s, _ := ns.StrOK()
		var list *[]string
		switch s {
		case "rpms":
			list = &x.Packages
		case "container":
			list = &x.Containers
		case "modules":
			list = &x.Modules
		case "flatpaks":
			list = &x.Flatpaks
		default:
			return
		}
		*list = Strs(b.PyItem("commit", "repo"))
	})
	if !x.Display() {
		return
	}
	PyTry(func() {
		commit := b.PyItem("commit")
		repo := PyStr(commit.PyItem("repo"))
		if ns := commit.PyGet("namespace"); ns.Truthy() {
			repo = PyStr(ns) + "/" + repo
		}
		x.Summary = PyStr(agent) + " pushed to " + repo + " (" + PyStr(commit.PyItem("branch")) + `). "` +
			PyStr(commit.PyItem("summary")) + `"`
	})
	PyTry(func() { x.URL = PyOptStr(b.PyItem("commit", "url")) })
	// __str__: the commit as a patch email (git format-patch).
	PyTry(func() {
		commit := b.PyItem("commit")
		f := func(k string) string { return PyStr(commit.PyItem(k)) }
		x.Text = "From " + f("rev") + " Mon Sep 17 00:00:00 2001\nFrom: " + f("name") + " <" + f("email") +
			">\nDate: " + f("date") + "\nSubject: " + f("summary") + "\n\n" + f("message") + "\n---\n\n" +
			f("patch") + "\n"
	})
}
