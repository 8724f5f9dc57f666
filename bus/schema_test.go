package bus

import (
	"slices"
	"strings"
	"testing"
)

// The table tests of the schema extractors (schema_<package>_test.go)
// share schemaCase and schemaRun.

// schemaCase is one message given to a schema's class, with what fmn must
// derive from it. The expected values are what the Python class computes,
// except where raises names properties that raise in Python: then they are
// what fmn derives instead (see the extractor's comments).
type schemaCase struct {
	name    string
	schema  string
	topic   string   // "" = org.fedoraproject.prod.<schema>
	headers []string // header key/value pairs besides the schema's; a "" value leaves the header out
	body    string
	raises  string // the Python properties that raise, for the reader
	want    schemaWant
	// check, when set, makes more checks of the parsed message.
	check func(t *testing.T, p *Parsed)
}

// schemaWant is what fmn derives from a message. Summary "" is the base
// class's summary (the topic), Text "" the base class's text (the
// id/topic/headers/body dump); lists compare as sets, nil and empty alike;
// Severity 0 is info, what a message without a severity header has.
type schemaWant struct {
	App, Agent, Summary, Text, URL, PatchURL               string
	Users, Groups, Packages, Containers, Modules, Flatpaks []string
	Severity                                               int
	Deprecated                                             bool
}

// strIsSummary returns c expecting its summary as the text too, as a class
// whose __str__ is its summary.
func (c schemaCase) strIsSummary() schemaCase { c.want.Text = c.want.Summary; return c }

// schemaRun parses each case's body as a message of its schema and checks
// every field fmn derives.
func schemaRun(t *testing.T, cases []schemaCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topic := c.topic
			if topic == "" {
				topic = "org.fedoraproject.prod." + c.schema
			}
			h := hdr(HeaderSchema, c.schema)
			for i := 0; i+1 < len(c.headers); i += 2 {
				if k, v := c.headers[i], c.headers[i+1]; v == "" {
					delete(h, k)
				} else {
					h[k] = []string{v}
				}
			}
			p := mustParse(t, topic, h, c.body)
			if c.raises != "" {
				t.Logf("Python raises (%s); fmn derives these values", c.raises)
			}
			if p.ExtractError != "" {
				t.Fatalf("extract error: %s", p.ExtractError)
			}
			if s := DefaultRegistry.Lookup(c.schema); s == nil || p.Extractor != s.Class {
				t.Fatalf("schema %q: extractor %q, want the class of a registered schema", c.schema, p.Extractor)
			}
			w := c.want
			if w.Summary == "" {
				w.Summary = topic
			}
			if w.Severity == 0 {
				w.Severity = SeverityInfo
			}
			check := func(field, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s:\n got  %q\n want %q", field, got, want)
				}
			}
			check("app", p.App, w.App)
			check("agent", p.Agent, w.Agent)
			check("summary", p.Summary, w.Summary)
			check("text", p.Text, w.Text)
			if w.Text == "" && !strings.HasPrefix(p.DisplayText(), "Id: id-1\nTopic: "+topic+"\n") {
				t.Errorf("display text %q, want the base dump", p.DisplayText())
			}
			check("url", p.URL, w.URL)
			check("patch_url", p.PatchURL, w.PatchURL)
			for _, l := range []struct {
				field     string
				got, want []string
			}{
				{"usernames", p.Usernames, w.Users}, {"groups", p.Groups, w.Groups},
				{"packages", p.Packages, w.Packages}, {"containers", p.Containers, w.Containers},
				{"modules", p.Modules, w.Modules}, {"flatpaks", p.Flatpaks, w.Flatpaks},
			} {
				want := sortedUnique(slices.Clone(l.want))
				if !slices.Equal(l.got, want) {
					t.Errorf("%s: got %q, want %q", l.field, l.got, want)
				}
			}
			if p.Severity != w.Severity || p.Deprecated != w.Deprecated {
				t.Errorf("severity %d, deprecated %v, want %d, %v", p.Severity, p.Deprecated, w.Severity, w.Deprecated)
			}
			if c.check != nil {
				c.check(t, p)
			}
		})
	}
}
