package bus

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// How fmn reads Fedora's messages.
//
// FMN computes what it knows of a message (who it is about, what it says)
// with the Python classes of Fedora's schema packages, one class per
// schema name (the fedora_messaging_schema header). fmn has one Schema per
// class: its name, app name, deprecated flag and an Extract function that
// computes the class's properties from the body. The schemas of one Python
// package live in one file, schema_<package>.go, registered by a Package;
// adding a schema is adding an entry there.
//
// Extract starts from the base class's answers (Base) and overrides what
// the class overrides; a message whose schema fmn does not know gets the
// generic extractor (Generic) of the design instead.

// Extraction is what an extractor reads and fills for one message.
type Extraction struct {
	// Inputs. Headers are the message's headers as received: read them,
	// never change them.
	ID      string
	Topic   string
	Schema  string
	Headers nats.Header
	Body    Body

	// Outputs. Text left empty means the base class's text (the
	// id/topic/headers/body dump), rendered only when a notification needs
	// it; TextBody replaces the body in that dump when the class rewrote
	// its body (Copr's envelopes).
	Agent, App, Summary, Text, URL string
	TextBody                       Value
	// PatchURL is where FMN's email sender fetches a patch to append to the
	// email (dist-git pushes).
	PatchURL string
	// Deprecated marks a message the app also sends with a newer schema:
	// it is counted, not notified.
	Deprecated bool
	// Severity, when not 0, replaces the header's severity.
	Severity int
	// Artifact lists, as the class's properties (FMN uses them as sets;
	// the parser sorts and deduplicates them). For a known schema they are
	// what matching uses, whatever the filter headers say; for an unknown
	// one, Parse uses the headers' list of each kind when they carry any.
	Usernames, Groups, Packages, Containers, Modules, Flatpaks []string

	// matchOnly: see Display.
	matchOnly bool
	// arena holds the member indexes of the nested objects that object
	// made, in the parse's scratch space while it lasts.
	arena []member
}

// object is v.Object with the index in x's scratch space: the extractors
// of the busiest schemas index an object or two per message.
func (x *Extraction) object(v Value) Body {
	d := v.raw
	if len(d) == 0 || d[0] != '{' {
		return Body{}
	}
	start := len(x.arena)
	x.arena = appendMembers(x.arena, d)
	return Body{Value: v, members: x.arena[start:len(x.arena):len(x.arena)]}
}

// Display reports whether the extractor must derive what a notification
// shows: Summary, Text, URL and PatchURL (and TextBody). A lazy parser
// (Parser.Lazy) first asks only for what matching reads (the lists,
// Agent, App, Severity, Deprecated), and runs the extractor again with
// Display true for the few messages that are notified. An extractor may
// ignore it (it is then just slower); skipping the display work when it is
// false is what keeps matching as fast as reading the stream.
func (x *Extraction) Display() bool { return !x.matchOnly }

// Schema is what fmn knows of one message class.
type Schema struct {
	// Name is the schema name, the fedora_messaging_schema header.
	Name string
	// Class is the Python class, module:Name (for operators).
	Class string
	// App is the class's app_name ("" where it is None).
	App string
	// Deprecated is the class's deprecated flag.
	Deprecated bool
	// Extract derives the class's properties. It starts from Base with App
	// and Deprecated set. It may be nil (a class that overrides nothing
	// else). It must be safe for concurrent use; a panic leaves the base
	// values and the headers' lists (a property that raises in Python).
	Extract func(x *Extraction)
}

// Package is a schema package: the Python distribution FMN installs and
// the schemas of its classes.
type Package struct {
	Name    string // e.g. "anitya-schema"
	Version string // the version the extractors follow
	Source  string // the repository its source was read in
	Schemas []Schema
}

// Registry maps schema names to schemas. Lookups take no lock: the map is
// replaced, never changed, when a schema is registered.
type Registry struct {
	mu sync.Mutex // serializes Register
	m  atomic.Pointer[registryState]
}

type registryState struct {
	schemas  map[string]*Schema
	packages map[string]*Package // schema name → its package
}

// NewRegistry returns an empty registry: every schema gets the generic
// extractor.
func NewRegistry() *Registry { return &Registry{} }

// RegisterPackage adds (or replaces) the schemas of a package.
func (r *Registry) RegisterPackage(p Package) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	next := &registryState{schemas: map[string]*Schema{}, packages: map[string]*Package{}}
	if old != nil {
		for k, v := range old.schemas {
			next.schemas[k] = v
			next.packages[k] = old.packages[k]
		}
	}
	pkg := p
	for i := range p.Schemas {
		s := &pkg.Schemas[i]
		if s.Name == "" {
			panic("bus: RegisterPackage: a schema without a name in " + p.Name)
		}
		next.schemas[s.Name] = s
		next.packages[s.Name] = &pkg
	}
	r.m.Store(next)
}

// Register adds (or replaces) one schema outside any package.
func (r *Registry) Register(s Schema) {
	r.RegisterPackage(Package{Name: "", Schemas: []Schema{s}})
}

// Lookup returns the schema of a name, or nil for an unknown one.
func (r *Registry) Lookup(name string) *Schema {
	if st := r.m.Load(); st != nil {
		return st.schemas[name]
	}
	return nil
}

// PackageOf returns the package a schema belongs to ("" outside any).
func (r *Registry) PackageOf(name string) *Package {
	if st := r.m.Load(); st != nil {
		return st.packages[name]
	}
	return nil
}

// Schemas lists the registered schema names, sorted.
func (r *Registry) Schemas() []string {
	var out []string
	if st := r.m.Load(); st != nil {
		for k := range st.schemas {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Packages lists the registered packages, sorted by name.
func (r *Registry) Packages() []*Package {
	seen := map[*Package]bool{}
	var out []*Package
	if st := r.m.Load(); st != nil {
		for _, p := range st.packages {
			if p.Name != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// KnownApplications lists the app names of the registered schemas, sorted
// case-insensitively, without duplicates (compared case-insensitively, as
// the applications filter compares them).
func (r *Registry) KnownApplications() []string {
	seen := map[string]bool{}
	var out []string
	if st := r.m.Load(); st != nil {
		for _, s := range st.schemas {
			a := s.App
			if a == "" || seen[strings.ToLower(a)] {
				continue
			}
			seen[strings.ToLower(a)] = true
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}

// Applications lists the applications as FMN v3's /applications does:
// each schema's app name, or for a schema without one the part of its name
// before the first dot; "base" left out; of the spellings of one name
// (compared case-insensitively) the smallest, which prefers capitals
// ("Koji" over "koji"); sorted case-insensitively. Only the names that
// come from an app name can match an applications filter; the others are
// listed because FMN lists them.
func (r *Registry) Applications() []string {
	byLower := map[string]string{}
	if st := r.m.Load(); st != nil {
		for _, s := range st.schemas {
			a := s.App
			if a == "" {
				a, _, _ = strings.Cut(s.Name, ".")
			}
			l := strings.ToLower(a)
			if a == "" || l == "base" {
				continue
			}
			if old, ok := byLower[l]; !ok || a < old {
				byLower[l] = a
			}
		}
	}
	out := make([]string, 0, len(byLower))
	for _, a := range byLower {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}

// DefaultRegistry holds the schemas of every package FMN v3 installs; the
// package-level Parse functions use it.
var DefaultRegistry = NewRegistry()

// RegisterPackage adds a package to DefaultRegistry.
func RegisterPackage(p Package) { DefaultRegistry.RegisterPackage(p) }

// KnownApplications lists the app names DefaultRegistry knows.
func KnownApplications() []string { return DefaultRegistry.KnownApplications() }

// Base sets x to what fedora-messaging's base Message class answers: no
// agent, app or URL, the topic as summary, the id/topic/headers/body dump
// as text (left empty here, rendered when needed), no usernames or
// artifacts.
func Base(x *Extraction) {
	x.Agent, x.App, x.URL, x.PatchURL, x.Text = "", "", "", "", ""
	x.Summary = x.Topic
	x.TextBody = Value{}
	x.Deprecated, x.Severity = false, 0
	x.Usernames, x.Groups, x.Packages, x.Containers, x.Modules, x.Flatpaks = nil, nil, nil, nil, nil, nil
}

// Generic applies the generic extractor (contract) to x, for a schema fmn
// does not know:
//
//   - app: body app_name, else body app, else the fourth dot-separated
//     token of a topic of at least four tokens (org.fedoraproject.prod.bodhi…
//     → bodhi);
//   - agent: body agent_name, else body agent;
//   - summary: body summary, else the topic (the base class's);
//   - text: body content, else the base class's dump;
//   - url: body url;
//   - the body lists usernames, packages, containers, modules, flatpaks,
//     groups (used for the kinds the filter headers do not carry).
//
// A field counts as present when it is a non-empty string.
func Generic(x *Extraction) {
	Base(x)
	b := x.Body
	x.App = firstString(b, "app_name", "app")
	if x.App == "" {
		x.App = TopicApp(x.Topic)
	}
	x.Agent = firstString(b, "agent_name", "agent")
	if s := b.Get("summary").Str(); s != "" {
		x.Summary = s
	}
	x.Text = b.Get("content").Str()
	x.URL = b.Get("url").Str()
	x.Usernames = b.Get("usernames").Strings()
	x.Packages = b.Get("packages").Strings()
	x.Containers = b.Get("containers").Strings()
	x.Modules = b.Get("modules").Strings()
	x.Flatpaks = b.Get("flatpaks").Strings()
	x.Groups = b.Get("groups").Strings()
}

func firstString(b Body, keys ...string) string {
	for _, k := range keys {
		if s := b.Get(k).Str(); s != "" {
			return s
		}
	}
	return ""
}

// TopicApp returns the app token of a topic: the fourth dot-separated
// token of a topic with at least four tokens (org.fedoraproject.<env>.<app>…),
// else "".
func TopicApp(topic string) string {
	rest := topic
	for k := 0; k < 3; k++ {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			return ""
		}
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// Strs collects the string values among vs, as a Python list comprehension
// over strings would, leaving out null (Python's None, which names no one),
// absent values and empty strings.
func Strs(vs ...Value) []string {
	var out []string
	for _, v := range vs {
		if s, ok := v.StrOK(); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// NonEmpty returns the non-empty strings of ss.
func NonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
