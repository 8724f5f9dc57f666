package bus

import (
	"strings"
	"unicode/utf8"
)

// bugzilla2fedmsg-schema: the messages bugzilla2fedmsg relays from Red
// Hat's Bugzilla, in two shapes (Bugzilla 4 compatibility off and on) that
// differ, for what FMN reads, only in where the component's name is.
//
// This file also holds the misc* helpers that the extractors of the small
// packages (bugzilla2fedmsg, noggin, git-hook, fedorainfra-ansible,
// kerneltest, maubot) share: they mirror Python's subscripting of decoded
// JSON, where a missing key or a wrong type raises.

func init() {
	RegisterPackage(Package{Name: "bugzilla2fedmsg-schema", Version: "1.1.0", Source: "fedora-infra/bugzilla2fedmsg-schema",
		Schemas: []Schema{
			{Name: "bugzilla2fedmsg.messageV1bz4", Class: "bugzilla2fedmsg_schema.schema:MessageV1BZ4", App: "Bugzilla",
				Extract: bugzillaExtract(func(bug Value) Value { return miscPyKey(bug, "component") })},
			{Name: "bugzilla2fedmsg.messageV1", Class: "bugzilla2fedmsg_schema.schema:MessageV1", App: "Bugzilla",
				Extract: bugzillaExtract(func(bug Value) Value { return miscPyKey(miscPyKey(bug, "component"), "name") })},
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
		miscTry(func() { agent = miscBodyGet(b, "agent_name") })
		x.Agent = miscOptStr(agent)
		// body.get("usernames", []): the emails bugzilla2fedmsg could map
		// to FAS accounts.
		miscTry(func() { x.Usernames = miscBodyGet(b, "usernames").Strings() })
		miscTry(func() {
			x.URL = "https://bugzilla.redhat.com/show_bug.cgi?id=" + PyStr(miscPyKey(miscBodyKey(b, "bug"), "id"))
		})
		miscTry(func() {
			comp := componentName(miscBodyKey(b, "bug"))
			if s, ok := comp.StrOK(); ok && bugzillaNotPackages[s] {
				return
			}
			x.Packages = Strs(comp)
		})
		// __str__ is the summary.
		var s string
		if miscTry(func() { s = bugzillaSummary(b, agent) }) {
			x.Summary, x.Text = s, s
		}
	}
}

// bugzillaSummary is BaseMessage.summary.
func bugzillaSummary(b Body, agent Value) string {
	var user string
	if agent.Truthy() {
		user = PyStr(agent)
	} else {
		user = PyStr(miscPyKey(miscPyKey(miscBodyKey(b, "event"), "user"), "login"))
	}
	bug := miscBodyKey(b, "bug")
	idx := PyStr(miscPyKey(bug, "id"))
	title := bugzillaTitle(miscPyKey(bug, "summary"))
	event := miscBodyKey(b, "event")
	action, _ := miscPyKey(event, "action").StrOK()
	targetV := miscPyKey(event, "target")
	target, _ := targetV.StrOK()
	if target == "bug" && action == "create" {
		return user + " filed a new bug RHBZ#" + idx + " '" + title + "'"
	}
	if action == "create" {
		return user + " added " + PyStr(targetV) + " on RHBZ#" + idx + " '" + title + "'"
	}
	// A modification: of the fields event.changes names.
	fields := bugzillaCommaJoin(bugzillaChangedFields(miscPyGet(event, "changes")))
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
		if miscPyLen(v) > 40 {
			panic(miscRaise{"TypeError", "can only concatenate to str"})
		}
		return PyStr(v)
	}
	panic(miscRaise{"TypeError", "object has no len()"})
}

// bugzillaChangedFields is [d["field"] for d in event.get("changes", [])].
func bugzillaChangedFields(changes Value) []string {
	var fields []string
	switch changes.Kind() {
	case KindAbsent:
	case KindArray:
		changes.Each(func(d Value) bool {
			fields = append(fields, PyStr(miscPyKey(d, "field")))
			return true
		})
	case KindObject, KindString:
		// Iterating gives strings (keys, characters): indexing them raises.
		if changes.Truthy() {
			panic(miscRaise{"TypeError", "string indices must be integers"})
		}
	default:
		panic(miscRaise{"TypeError", "object is not iterable"})
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

// Helpers shared by the small packages' extractors.
//
// A Python property that raises (KeyError on a missing key, TypeError on a
// value of the wrong type) is mirrored by a panic with miscRaise; miscTry
// runs one property and recovers it, so that one failing property keeps
// the base class's value for its field and loses no other.

// miscRaise is what the helpers panic with where Python raises.
type miscRaise struct{ kind, msg string }

func (r miscRaise) String() string { return r.kind + ": " + r.msg }

// miscTry runs one property's computation and reports whether it
// completed; a miscRaise panic (the Python property raises) is recovered,
// any other panic is not.
func miscTry(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, raised := r.(miscRaise); !raised {
				panic(r)
			}
			ok = false
		}
	}()
	f()
	return true
}

// miscPyKey is Python's v[key] on a decoded JSON value: a KeyError when
// the object lacks key, a TypeError when v is no object.
func miscPyKey(v Value, key string) Value {
	if v.Kind() != KindObject {
		panic(miscRaise{"TypeError", "not subscriptable by " + PyReprString(key)})
	}
	r := v.Get(key)
	if !r.Exists() {
		panic(miscRaise{"KeyError", PyReprString(key)})
	}
	return r
}

// miscPyGet is Python's v.get(key): None (absent) when the object lacks
// key, an AttributeError when v is no object.
func miscPyGet(v Value, key string) Value {
	if v.Kind() != KindObject {
		panic(miscRaise{"AttributeError", "object has no attribute 'get'"})
	}
	return v.Get(key)
}

// miscBodyKey is body[key] (through the body's index).
func miscBodyKey(b Body, key string) Value {
	if b.Kind() != KindObject {
		panic(miscRaise{"TypeError", "body is no object"})
	}
	r := b.Get(key)
	if !r.Exists() {
		panic(miscRaise{"KeyError", PyReprString(key)})
	}
	return r
}

// miscBodyGet is body.get(key).
func miscBodyGet(b Body, key string) Value {
	if b.Kind() != KindObject {
		panic(miscRaise{"AttributeError", "body is no object"})
	}
	return b.Get(key)
}

// miscOptStr renders a property that may be None: "" for None, else str().
func miscOptStr(v Value) string {
	if v.Kind() == KindAbsent || v.Kind() == KindNull {
		return ""
	}
	return PyStr(v)
}

// miscPyLen is Python's len() of a decoded JSON value (characters of a
// string, elements of a list, keys of a dict); other values raise.
func miscPyLen(v Value) int {
	switch v.Kind() {
	case KindString:
		return utf8.RuneCountInString(v.Str())
	case KindArray:
		return v.Len()
	case KindObject:
		return len(v.Keys())
	}
	panic(miscRaise{"TypeError", "object has no len()"})
}

// miscPyEq is Python's == of two decoded JSON values, for strings and
// values of the same repr.
func miscPyEq(a, b Value) bool {
	as, aok := a.StrOK()
	bs, bok := b.StrOK()
	if aok || bok {
		return aok && bok && as == bs
	}
	return PyRepr(a) == PyRepr(b)
}

// miscPyIterStrings is [item for item in v] where every item must be a
// str (for "".join): a list's elements, a string's characters, a dict's
// keys; an item that is no string, or a value that is not iterable,
// raises.
func miscPyIterStrings(v Value) []string {
	var out []string
	switch v.Kind() {
	case KindArray:
		v.Each(func(e Value) bool {
			s, ok := e.StrOK()
			if !ok {
				panic(miscRaise{"TypeError", "sequence item: expected str instance"})
			}
			out = append(out, s)
			return true
		})
	case KindString:
		for _, r := range v.Str() {
			out = append(out, string(r))
		}
	case KindObject:
		out = v.Keys()
	default:
		panic(miscRaise{"TypeError", "object is not iterable"})
	}
	return out
}
