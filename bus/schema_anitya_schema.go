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
// (false: the property raises) and its packages (nil: the base class's
// none). The text is the summary, as the classes' __str__.
func anityaClass(summary func(Body) (string, bool), packages func(Body) []string) func(*Extraction) {
	return func(x *Extraction) {
		x.Agent = anityaAgent(x.Body)
		if s, ok := summary(x.Body); ok {
			x.Summary, x.Text = s, s
		}
		if packages != nil {
			x.Packages = packages(x.Body)
		}
	}
}

// anityaAgent is AnityaMessage.agent_name: body["message"]["agent"] as it
// is ("" for None or a missing key).
func anityaAgent(b Body) string {
	v := b.Get("message", "agent")
	switch v.Kind() {
	case KindAbsent, KindNull:
		return ""
	case KindString:
		return v.Str()
	}
	return PyStr(v)
}

// anityaFormat returns a summary that is tmpl.format(*args), each "{}" of
// tmpl replaced by str() of a body value; the values' paths follow tmpl,
// separated by "". It raises (false) when a value is missing.
func anityaFormat(tmpl string, paths ...string) func(Body) (string, bool) {
	var args [][]string
	for start := 0; start <= len(paths); {
		end := start
		for end < len(paths) && paths[end] != "" {
			end++
		}
		args = append(args, paths[start:end])
		start = end + 1
	}
	return func(b Body) (string, bool) {
		vals := make([]string, len(args))
		for i, p := range args {
			v := b.Get(p...)
			if !v.Exists() {
				return "", false
			}
			vals[i] = PyStr(v)
		}
		return anityaFill(tmpl, vals...), true
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

// anityaSeq is a body value as Python's len(), seq[0] and ", ".join() see
// it: a list's elements, a str's characters, a dict's keys.
type anityaSeq struct {
	items     []string // str() of each element
	allStr    bool     // every element is a str (join accepts them)
	indexable bool     // seq[0] is the first element (not for a dict)
}

// anityaSequence reads v as a Python sequence; false for a value len()
// rejects (None, numbers, booleans) or a missing key.
func anityaSequence(v Value) (anityaSeq, bool) {
	switch v.Kind() {
	case KindArray:
		s := anityaSeq{allStr: true, indexable: true}
		v.Each(func(e Value) bool {
			s.items = append(s.items, PyStr(e))
			if e.Kind() != KindString {
				s.allStr = false
			}
			return true
		})
		return s, true
	case KindString:
		s := anityaSeq{allStr: true, indexable: true}
		for _, r := range v.Str() {
			s.items = append(s.items, string(r))
		}
		return s, true
	case KindObject:
		return anityaSeq{items: v.Keys(), allStr: true}, true
	}
	return anityaSeq{}, false
}

// join is ", ".join(seq); for elements that are not all strings (Python
// raises TypeError) it joins the str() of each.
func (s anityaSeq) join() string { return strings.Join(s.items, ", ") }

// anityaVersionUpdatedV2Summary is ProjectVersionUpdatedV2.summary.
func anityaVersionUpdatedV2Summary(b Body) (string, bool) {
	versions, ok := anityaSequence(b.Get("message", "upstream_versions"))
	name := b.Get("project", "name")
	if !ok || !name.Exists() {
		return "", false
	}
	return anityaFill("A new versions '{}' were found for project {} in release-monitoring.",
		versions.join(), PyStr(name)), true
}

// anityaVersionDeletedV2Summary is ProjectVersionDeletedV2.summary: one
// version, up to five, or a count.
func anityaVersionDeletedV2Summary(b Body) (string, bool) {
	versions, ok := anityaSequence(b.Get("message", "versions"))
	name := b.Get("project", "name")
	if !ok || !name.Exists() {
		return "", false
	}
	switch n := len(versions.items); {
	case n == 1:
		if !versions.indexable {
			return "", false // a dict: versions[0] is a KeyError
		}
		return anityaFill("A version '{}' was deleted in project {} in release-monitoring.",
			versions.items[0], PyStr(name)), true
	case n <= 5:
		return anityaFill("A versions '{}' were deleted in project {} in release-monitoring.",
			versions.join(), PyStr(name)), true
	default:
		return anityaFill("{} versions entries were deleted in project {} in release-monitoring.",
			strconv.Itoa(n), PyStr(name)), true
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
	var out []string
	b.Get("message", "packages").Each(func(p Value) bool {
		if p.Get("distro").Str() == "Fedora" {
			out = append(out, Strs(p.Get("package_name"))...)
		}
		return true
	})
	return out
}
