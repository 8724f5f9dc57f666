package bus

import (
	"strings"
	"unicode/utf8"
)

// bugzilla2fedmsg-schema: the messages bugzilla2fedmsg relays from Red
// Hat's Bugzilla, in two shapes (Bugzilla 4 compatibility off and on) that
// differ, for what FMN reads, only in where the component's name is.

func init() {
	RegisterPackage(Package{Name: "bugzilla2fedmsg-schema", Version: "1.1.0", Source: "fedora-infra/bugzilla2fedmsg-schema",
		Schemas: []Schema{
			{Name: "bugzilla2fedmsg.messageV1bz4", Class: "bugzilla2fedmsg_schema.schema:MessageV1BZ4", App: "Bugzilla",
				Extract: bugzillaExtract(func(bug Value) Value { return bug.PyItem("component") })},
			{Name: "bugzilla2fedmsg.messageV1", Class: "bugzilla2fedmsg_schema.schema:MessageV1", App: "Bugzilla",
				Extract: bugzillaExtract(func(bug Value) Value { return bug.PyItem("component", "name") })},
		}})
}

// bugzillaNotPackages are the Bugzilla components that are no Fedora
// packages.
var bugzillaNotPackages = map[string]bool{
	"distribution": true, "LiveCD": true, "LiveCD - FEL": true, "LiveCD - Games": true, "LiveCD - KDE": true,
	"LiveCD - LXDE": true, "LiveCD - Xfce": true, "Package Review": true,
}

// bugzillaExtract returns the extractor of a class, given where its
// component name is (the class's component_name).
func bugzillaExtract(componentName func(bug Value) Value) func(x *Extraction) {
	return func(x *Extraction) {
		b := x.Body
		var agent Value
		PyTry(func() { agent = b.PyGet("agent_name") })
		x.Agent = PyOptStr(agent)
		// body.get("usernames", []): the emails bugzilla2fedmsg could map
		// to FAS accounts.
		PyTry(func() { x.Usernames = b.PyGet("usernames").Strings() })
		PyTry(func() {
			comp := componentName(b.PyItem("bug"))
			if s, ok := comp.StrOK(); ok && bugzillaNotPackages[s] {
				return
			}
			x.Packages = Strs(comp)
		})
		if !x.Display() {
			return
		}
		PyTry(func() { x.URL = "https://bugzilla.redhat.com/show_bug.cgi?id=" + PyStr(b.PyItem("bug", "id")) })
		// __str__ is the summary.
		PyTry(func() {
			s := bugzillaSummary(b, agent)
			x.Summary, x.Text = s, s
		})
	}
}

// bugzillaSummary is BaseMessage.summary.
func bugzillaSummary(b Body, agent Value) string {
	var user string
	if agent.Truthy() {
		user = PyStr(agent)
	} else {
		user = PyStr(b.PyItem("event", "user", "login"))
	}
	bug := b.PyItem("bug")
	idx := PyStr(bug.PyItem("id"))
	title := bugzillaTitle(bug.PyItem("summary"))
	event := b.PyItem("event")
	action, _ := event.PyItem("action").StrOK()
	targetV := event.PyItem("target")
	target, _ := targetV.StrOK()
	if target == "bug" && action == "create" {
		return user + " filed a new bug RHBZ#" + idx + " '" + title + "'"
	}
	if action == "create" {
		return user + " added " + PyStr(targetV) + " on RHBZ#" + idx + " '" + title + "'"
	}
	// A modification: of the fields event.changes names.
	fields := bugzillaCommaJoin(bugzillaChangedFields(event.PyGet("changes")))
	if target == "bug" {
		return user + " updated " + fields + " on RHBZ#" + idx + " '" + title + "'"
	}
	return user + " updated " + fields + " for " + PyStr(targetV) + " on RHBZ#" + idx + " '" + title + "'"
}

// bugzillaTitle shortens the bug's title to 40 characters and "...".
func bugzillaTitle(v Value) string {
	switch v.Kind() {
	case KindString:
		s := v.Str()
		if utf8.RuneCountInString(s) > 40 {
			return string([]rune(s)[:40]) + "..."
		}
		return s
	case KindArray, KindObject:
		// len() works, the slice + "..." would raise.
		if PyLen(v) > 40 {
			PyRaise("TypeError", "can only concatenate to str")
		}
		return PyStr(v)
	}
	PyRaise("TypeError", "object of type "+PyRepr(v)+" has no len()")
	return ""
}

// bugzillaChangedFields is [d["field"] for d in event.get("changes", [])].
func bugzillaChangedFields(changes Value) []string {
	if !changes.Exists() {
		return nil
	}
	vals := PyPluck(changes, "field")
	fields := make([]string, len(vals))
	for i, f := range vals {
		fields[i] = PyStr(f)
	}
	return fields
}

// bugzillaCommaJoin is utils.comma_join: quoted fields joined with commas
// and a final (Oxford) "and".
func bugzillaCommaJoin(fields []string) string {
	q := func(f string) string { return "'" + f + "'" }
	switch len(fields) {
	case 0:
		return "something unknown"
	case 1:
		return q(fields[0])
	case 2:
		return q(fields[0]) + " and " + q(fields[1])
	}
	var sb strings.Builder
	for i, f := range fields[:len(fields)-1] {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(q(f))
	}
	sb.WriteString(", and ")
	sb.WriteString(q(fields[len(fields)-1]))
	return sb.String()
}
