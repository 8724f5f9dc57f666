package bus

import (
	"strconv"
	"strings"
)

// anitya-schema 2.3.0 (fedora-infra/anitya-messages): the messages of
// Anitya (release-monitoring.org).
//
// Every class derives from AnityaMessage: app_name "anitya", agent_name
// body["message"]["agent"] (an OpenID URL, an email address or a FAS
// username, kept as it is), and __str__ is the summary. No class sets url
// or usernames (the base class's None and []); three set packages (the
// Fedora mappings). ProjectVersionUpdated and ProjectVersionDeleted only
// warn in their constructor: their deprecated flag stays False.
//
// Where a property raises in Python (a key missing from the body), fmn
// does not fail:
//   - agent_name: no agent;
//   - summary (and so __str__): the base class's summary (the topic) and
//     the base class's text (the whole message, which shows what is
//     there);
//   - packages: the packages fmn can read (none when the mapping's distro
//     cannot be read);
//   - ", ".join of versions that are not all strings (a TypeError): the
//     str() of each, joined.

func init() {
	const app = "anitya"
	const distro = "anitya_schema.distro_messages:"
	const project = "anitya_schema.project_messages:"
	RegisterPackage(Package{Name: "anitya-schema", Version: "2.3.0", Source: "fedora-infra/anitya-messages",
		Schemas: []Schema{
			{Name: "anitya.distro.add", Class: distro + "DistroCreated", App: app,
				Extract: anityaClass(anityaFormat("A new distribution, {}, was added to release-monitoring.",
					"distro", "name"), nil)},
			{Name: "anitya.distro.edit", Class: distro + "DistroEdited", App: app,
				Extract: anityaClass(anityaFormat("The name of the {} distribution changed to {}.",
					"message", "old", "", "message", "new"), nil)},
			{Name: "anitya.distro.remove", Class: distro + "DistroDeleted", App: app,
				Extract: anityaClass(anityaFormat("The {} distribution was removed from release-monitoring.",
					"distro", "name"), nil)},
			{Name: "anitya.project.add", Class: project + "ProjectCreated", App: app,
				Extract: anityaClass(anityaFormat("A new project, {}, was added to release-monitoring.",
					"project", "name"), nil)},
			{Name: "anitya.project.edit", Class: project + "ProjectEdited", App: app,
				Extract: anityaClass(anityaFormat("A project, {}, was edited in release-monitoring.",
					"project", "name"), nil)},
			{Name: "anitya.project.remove", Class: project + "ProjectDeleted", App: app,
				Extract: anityaClass(anityaFormat("A project, {}, was deleted in release-monitoring.",
					"project", "name"), nil)},
			{Name: "anitya.project.flag", Class: project + "ProjectFlag", App: app,
				Extract: anityaClass(anityaFormat("A flag was created on project {} in release-monitoring.",
					"project", "name"), nil)},
			{Name: "anitya.project.flag.set", Class: project + "ProjectFlagSet", App: app,
				Extract: anityaClass(anityaFormat("A flag '{}' was {} in release-monitoring.",
					"message", "flag", "", "message", "state"), nil)},
			{Name: "anitya.project.map.new", Class: project + "ProjectMapCreated", App: app,
				Extract: anityaClass(anityaFormat("A new mapping was created for project {} in release-monitoring.",
					"project", "name"), anityaMapCreatedPackages)},
			{Name: "anitya.project.map.update", Class: project + "ProjectMapEdited", App: app,
				Extract: anityaClass(anityaFormat("A mapping for project {} was edited in release-monitoring.",
					"project", "name"), anityaMapEditedPackages)},
			{Name: "anitya.project.map.remove", Class: project + "ProjectMapDeleted", App: app,
				Extract: anityaClass(anityaFormat("A mapping for project {} was deleted in release-monitoring.",
					"project", "name"), nil)},
			{Name: "anitya.project.version.update", Class: project + "ProjectVersionUpdated", App: app,
				Extract: anityaClass(anityaFormat("A new version '{}' was found for project {} in release-monitoring.",
					"message", "upstream_version", "", "project", "name"), nil)},
			{Name: "anitya.project.version.update.v2", Class: project + "ProjectVersionUpdatedV2", App: app,
				Extract: anityaClass(anityaVersionUpdatedV2Summary, anityaVersionUpdatedV2Packages)},
			{Name: "anitya.project.version.remove", Class: project + "ProjectVersionDeleted", App: app,
				Extract: anityaClass(anityaFormat("A version '{}' was deleted in project {} in release-monitoring.",
					"message", "version", "", "project", "name"), nil)},
			{Name: "anitya.project.version.remove.v2", Class: project + "ProjectVersionDeletedV2", App: app,
				Extract: anityaClass(anityaVersionDeletedV2Summary, nil)},
		}})
}

// anityaClass makes the extractor of an Anitya class from its summary
// (which may raise) and its packages (nil: the base class's none). The
// text is the summary, as the classes' __str__. agent_name is
// body["message"]["agent"] as it is ("" for None or a missing key).
func anityaClass(summary func(Body) string, packages func(Body) []string) func(*Extraction) {
	return func(x *Extraction) {
		x.Agent = PyOptStr(x.Body.Get("message", "agent"))
		if packages != nil {
			x.Packages = packages(x.Body)
		}
		if x.Display() {
			PyTry(func() {
				s := summary(x.Body)
				x.Summary, x.Text = s, s
			})
		}
	}
}

// anityaFormat returns a summary that is tmpl.format(*args), each "{}" of
// tmpl replaced by str() of a body value; the values' paths follow tmpl,
// separated by "". It raises when a value is missing.
func anityaFormat(tmpl string, paths ...string) func(Body) string {
	var args [][]string
	for start := 0; start <= len(paths); {
		end := start
		for end < len(paths) && paths[end] != "" {
			end++
		}
		args = append(args, paths[start:end])
		start = end + 1
	}
	return func(b Body) string {
		vals := make([]string, len(args))
		for i, p := range args {
			vals[i] = PyStr(b.PyItem(p...))
		}
		return anityaFill(tmpl, vals...)
	}
}

// anityaFill replaces the "{}" of tmpl with vals, in order.
func anityaFill(tmpl string, vals ...string) string {
	var sb strings.Builder
	sb.Grow(len(tmpl) + 32)
	rest := tmpl
	for _, v := range vals {
		before, after, ok := strings.Cut(rest, "{}")
		if !ok {
			break
		}
		sb.WriteString(before)
		sb.WriteString(v)
		rest = after
	}
	sb.WriteString(rest)
	return sb.String()
}

// anityaVersionUpdatedV2Summary is ProjectVersionUpdatedV2.summary.
// ", ".join of versions that are not all strs raises TypeError in Python:
// fmn joins the str() of each.
func anityaVersionUpdatedV2Summary(b Body) string {
	versions := PyStrs(b.PyItem("message", "upstream_versions"))
	return anityaFill("A new versions '{}' were found for project {} in release-monitoring.",
		strings.Join(versions, ", "), PyStr(b.PyItem("project", "name")))
}

// anityaVersionDeletedV2Summary is ProjectVersionDeletedV2.summary: one
// version, up to five, or a count (joined as in
// anityaVersionUpdatedV2Summary).
func anityaVersionDeletedV2Summary(b Body) string {
	v := b.PyItem("message", "versions")
	versions := PyStrs(v)
	name := PyStr(b.PyItem("project", "name"))
	switch n := len(versions); {
	case n == 1:
		if v.Kind() == KindObject {
			PyRaise("KeyError", "0") // versions[0] of a dict
		}
		return anityaFill("A version '{}' was deleted in project {} in release-monitoring.", versions[0], name)
	case n <= 5:
		return anityaFill("A versions '{}' were deleted in project {} in release-monitoring.",
			strings.Join(versions, ", "), name)
	default:
		return anityaFill("{} versions entries were deleted in project {} in release-monitoring.",
			strconv.Itoa(n), name)
	}
}

// anityaMapCreatedPackages is ProjectMapCreated.packages: the new
// mapping's package when the distro is Fedora.
func anityaMapCreatedPackages(b Body) []string {
	if b.Get("distro", "name").Str() != "Fedora" {
		return nil
	}
	return Strs(b.Get("message", "new"))
}

// anityaMapEditedPackages is ProjectMapEdited.packages: the previous and
// new package names when the distro is Fedora.
func anityaMapEditedPackages(b Body) []string {
	if b.Get("distro", "name").Str() != "Fedora" {
		return nil
	}
	m := b.Get("message").Object()
	return Strs(m.Get("prev"), m.Get("new"))
}

// anityaVersionUpdatedV2Packages is ProjectVersionUpdatedV2.packages: the
// package names of the Fedora mappings.
func anityaVersionUpdatedV2Packages(b Body) []string {
	return anityaFedoraPackages(b.Get("message", "packages"))
}

// anityaFedoraPackages lists the package names of an Anitya message's
// mappings (message.packages) whose distro is Fedora, skipping what cannot
// be read (where Python raises).
func anityaFedoraPackages(mappings Value) []string {
	var out []string
	mappings.Each(func(p Value) bool {
		if p.Get("distro").Str() == "Fedora" {
			out = append(out, Strs(p.Get("package_name"))...)
		}
		return true
	})
	return out
}
