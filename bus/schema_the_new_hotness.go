package bus

import "strings"

// fedora-messaging-the-new-hotness-schema 1.3.0
// (fedora-infra/the-new-hotness-messages): the messages of
// the-new-hotness, which files Bugzilla bugs for new upstream releases
// that Anitya finds. Both classes have app_name "The New Hotness".
//
// Where a property raises in Python (a body of an unexpected shape), fmn
// does not fail:
//   - packages: the packages fmn can read from the trigger (none when the
//     branch the class takes cannot be read);
//   - summary: built from those packages; when UpdateDrop's reason is
//     missing, the base class's summary (the topic);
//   - UpdateBugFile's url without body["bug"]["bug_id"]: none, and its text
//     ends after the summary line.

func init() {
	const app = "The New Hotness"
	RegisterPackage(Package{Name: "fedora-messaging-the-new-hotness-schema", Version: "1.3.0",
		Source: "fedora-infra/the-new-hotness-messages",
		Schemas: []Schema{
			{Name: "hotness.update.drop", Class: "hotness_schema.messages:UpdateDrop", App: app,
				Extract: hotnessUpdateDrop},
			{Name: "hotness.update.bug.file", Class: "hotness_schema.messages:UpdateBugFile", App: app,
				Extract: hotnessUpdateBugFile},
		}})
}

// hotnessUpdateDrop is UpdateDrop: agent body.get("agent_name"), usernames
// [agent_name] (a missing agent names no one: Python lists None), a
// summary per drop reason, the base class's text.
func hotnessUpdateDrop(x *Extraction) {
	b := x.Body
	agent := b.Get("agent_name")
	x.Agent = PyOptStr(agent)
	x.Usernames = Strs(agent)

	reason := b.Get("reason")
	var pkgs []string // none where the property raises
	PyTry(func() { pkgs = hotnessDropPackages(b, reason) })
	x.Packages = pkgs
	if !x.Display() || !reason.Exists() {
		return // (!Exists: KeyError, the summary raises)
	}
	head := "the-new-hotness saw an update for '" + strings.Join(pkgs, ", ") + "', "
	r, _ := reason.StrOK()
	switch r {
	case "anitya":
		x.Summary = head + "but release-monitoring.org doesn't know what that project is called in Fedora land"
	case "rawhide":
		x.Summary = head + "but no rawhide version of the package could be found yet"
	case "pkgdb":
		x.Summary = head + "but pkgdb says the maintainers are not interested in bugs being filed"
	case "bugzilla":
		x.Summary = head + "but the bugzilla issue couldn't be updated"
	default:
		x.Summary = head + "but it got dropped for reason: '" + PyStr(reason) + "'"
	}
}

// hotnessDropPackages is UpdateDrop.packages: none when Anitya does not
// know the Fedora name, else the package of the message that triggered
// the update (a pkgdb package listing, a Koji build, or a message with a
// package). It raises where `in` does (a msg or topic that is no str,
// list or dict).
func hotnessDropPackages(b Body, reason Value) []string {
	if !reason.Exists() || reason.Str() == "anitya" {
		return nil
	}
	trigger := b.Get("trigger").Object()
	msg := trigger.Get("msg")
	if !msg.Exists() {
		return nil
	}
	switch {
	case PyIn("package_listing", msg):
		return Strs(msg.Get("package_listing", "package", "name"))
	case PyIn("buildsys.build", trigger.Get("topic")):
		return Strs(msg.Get("name"))
	case PyIn("package", msg):
		return Strs(msg.Get("package", "name"))
	}
	return nil
}

// hotnessUpdateBugFile is UpdateBugFile: the packages of the Anitya
// message that triggered the bug, the bug's URL, and a text of the
// packages and the URL.
func hotnessUpdateBugFile(x *Extraction) {
	b := x.Body
	pkgs := hotnessBugFilePackages(b)
	x.Packages = pkgs
	if !x.Display() {
		return
	}
	joined := strings.Join(pkgs, ", ")
	x.Summary = "the-new-hotness filed a bug on '" + joined + "'"
	if id := b.Get("bug", "bug_id"); id.Exists() {
		x.URL = "https://bugzilla.redhat.com/" + PyStr(id)
	}
	x.Text = "The New Hotness filed a bug on '" + joined + "'\n"
	if x.URL != "" {
		x.Text += x.URL + "\n"
	}
}

// hotnessBugFilePackages is UpdateBugFile.packages: the new mapping's
// package for an Anitya map.new trigger, else the trigger's Fedora
// mappings.
func hotnessBugFilePackages(b Body) []string {
	trigger := b.Get("trigger").Object()
	msg := trigger.Get("msg")
	topic, ok := trigger.Get("topic").StrOK()
	if !msg.Exists() || !ok {
		return nil
	}
	if strings.HasSuffix(topic, ".project.map.new") {
		return Strs(msg.Get("message", "new"))
	}
	return anityaFedoraPackages(msg.Get("message", "packages"))
}
