package bus

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Extraction is what an extractor reads and fills for one message. Parse
// first fills it with the generic extractor's results, so a specific
// extractor sets only what it knows better and the rest keeps the generic
// value (never an empty summary).
type Extraction struct {
	// Inputs.
	Topic  string
	Schema string
	Body   Body

	// Outputs.
	Agent, App, Summary, Text, URL string
	// Artifact lists derived from the body. For each kind, Parse uses the
	// list from the message headers when they carry any of that kind, and
	// this one otherwise.
	Usernames, Groups, Packages, Containers, Modules, Flatpaks []string
}

// Extractor derives agent, app, summary, text, URL (and body-derived
// artifact lists) from the messages of one schema. Implementations must be
// safe for concurrent use: the consumer parses in parallel.
type Extractor interface {
	// Application is the app name of the schema's messages, listed by
	// KnownApplications ("" when it varies).
	Application() string
	// Extract overrides the fields of x it can derive.
	Extract(x *Extraction)
}

// ExtractorFunc adapts a function to Extractor.
type ExtractorFunc struct {
	App  string
	Func func(x *Extraction)
}

// Application implements Extractor.
func (e ExtractorFunc) Application() string { return e.App }

// Extract implements Extractor.
func (e ExtractorFunc) Extract(x *Extraction) { e.Func(x) }

// Registry maps schema names (the fedora_messaging_schema header) to
// extractors. Lookups take no lock: the map is replaced, never changed,
// when an extractor is registered.
type Registry struct {
	mu sync.Mutex // serializes Register
	m  atomic.Pointer[map[string]Extractor]
}

// NewRegistry returns an empty registry: every schema gets the generic
// extractor.
func NewRegistry() *Registry { return &Registry{} }

// Register sets the extractor of a schema, replacing any previous one.
func (r *Registry) Register(schema string, e Extractor) {
	if schema == "" || e == nil {
		panic("bus: Register needs a schema name and an extractor")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	next := make(map[string]Extractor, 1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[schema] = e
	r.m.Store(&next)
}

// Lookup returns the extractor of a schema, or nil for an unknown one.
func (r *Registry) Lookup(schema string) Extractor {
	if m := r.m.Load(); m != nil {
		return (*m)[schema]
	}
	return nil
}

// Schemas lists the registered schema names, sorted.
func (r *Registry) Schemas() []string {
	var out []string
	if m := r.m.Load(); m != nil {
		for k := range *m {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// KnownApplications lists the app names of the registered extractors,
// sorted case-insensitively, without duplicates.
func (r *Registry) KnownApplications() []string {
	seen := map[string]bool{}
	var out []string
	if m := r.m.Load(); m != nil {
		for _, e := range *m {
			a := e.Application()
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

// DefaultRegistry holds the extractors of the common Fedora schemas; the
// package-level Parse functions use it.
var DefaultRegistry = NewRegistry()

// Register sets the extractor of a schema in DefaultRegistry.
func Register(schema string, e Extractor) { DefaultRegistry.Register(schema, e) }

// KnownApplications lists the app names DefaultRegistry knows.
func KnownApplications() []string { return DefaultRegistry.KnownApplications() }

// Generic applies the generic extractor (contract) to x:
//
//   - app: body app_name, else body app, else the fourth dot-separated
//     token of a topic of at least four tokens (org.fedoraproject.prod.bodhi…
//     → bodhi);
//   - agent: body agent_name, else body agent;
//   - summary: body summary, else "Message on <topic>";
//   - text: body content, else "Body of message on <topic>";
//   - url: body url;
//   - the body lists usernames, packages, containers, modules, flatpaks,
//     groups.
//
// A field counts as present when it is a non-empty string.
func Generic(x *Extraction) {
	b := x.Body
	x.App = firstString(b, "app_name", "app")
	if x.App == "" {
		x.App = TopicApp(x.Topic)
	}
	x.Agent = firstString(b, "agent_name", "agent")
	if x.Summary = b.Get("summary").Str(); x.Summary == "" {
		x.Summary = "Message on " + x.Topic
	}
	if x.Text = b.Get("content").Str(); x.Text == "" {
		x.Text = "Body of message on " + x.Topic
	}
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
