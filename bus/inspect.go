package bus

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Fields is everything fmn reads from one message, for operators: which
// schema and extractor read it and every derived field. `fmn inspect` and
// `fmn replay bus --explain` print it.
type Fields struct {
	ID           string    `json:"id"`
	Topic        string    `json:"topic"`
	Schema       string    `json:"schema,omitempty"`
	Package      string    `json:"schema_package,omitempty"`
	Extractor    string    `json:"extractor"`
	ExtractError string    `json:"extract_error,omitempty"`
	App          string    `json:"app_name"`
	Agent        string    `json:"agent_name"`
	Usernames    []string  `json:"usernames"`
	Groups       []string  `json:"groups"`
	Packages     []string  `json:"packages"`
	Containers   []string  `json:"containers"`
	Modules      []string  `json:"modules"`
	Flatpaks     []string  `json:"flatpaks"`
	Severity     int       `json:"severity"`
	SeverityName string    `json:"severity_name"`
	SentAt       time.Time `json:"sent_at,omitzero"`
	Deprecated   bool      `json:"deprecated"`
	Summary      string    `json:"summary"`
	Text         string    `json:"text"`
	URL          string    `json:"url"`
	PatchURL     string    `json:"patch_url,omitempty"`
}

// Fields returns what fmn reads from p (the registry names the schema's
// package; nil means DefaultRegistry).
func (p *Parsed) Fields(reg *Registry) Fields {
	if reg == nil {
		reg = DefaultRegistry
	}
	p.Display()
	f := Fields{
		ID: p.ID, Topic: p.Topic, Schema: p.Schema, Extractor: p.Extractor, ExtractError: p.ExtractError,
		App: p.App, Agent: p.Agent,
		Usernames: nonNil(p.Usernames), Groups: nonNil(p.Groups), Packages: nonNil(p.Packages),
		Containers: nonNil(p.Containers), Modules: nonNil(p.Modules), Flatpaks: nonNil(p.Flatpaks),
		Severity: p.Severity, SeverityName: SeverityName(p.Severity), SentAt: p.SentAt,
		Deprecated: p.Deprecated, Summary: p.Summary, Text: p.DisplayText(), URL: p.URL, PatchURL: p.PatchURL,
	}
	if pkg := reg.PackageOf(p.Schema); pkg != nil && pkg.Name != "" && p.Extractor != ExtractorGeneric {
		f.Package = pkg.Name + " " + pkg.Version
	}
	return f
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteText prints f for people: one "name: value" line a field, the text
// indented under it. indent starts every line.
func (f Fields) WriteText(w io.Writer, indent string) {
	line := func(name, value string) {
		fmt.Fprintf(w, "%s%-12s %s\n", indent, name+":", value)
	}
	none := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	list := func(s []string) string {
		if len(s) == 0 {
			return "(none)"
		}
		return strings.Join(s, ", ")
	}
	schema := none(f.Schema)
	if f.Package != "" {
		schema += " (" + f.Package + ")"
	}
	line("schema", schema)
	line("extractor", f.Extractor)
	if f.ExtractError != "" {
		line("failed", f.ExtractError)
	}
	line("app", none(f.App))
	line("agent", none(f.Agent))
	line("usernames", list(f.Usernames))
	line("groups", list(f.Groups))
	line("packages", list(f.Packages))
	line("containers", list(f.Containers))
	line("modules", list(f.Modules))
	line("flatpaks", list(f.Flatpaks))
	line("severity", fmt.Sprintf("%s (%d)", f.SeverityName, f.Severity))
	if !f.SentAt.IsZero() {
		line("sent at", f.SentAt.UTC().Format(time.RFC3339))
	}
	if f.Deprecated {
		line("deprecated", "yes: counted, not notified (the app sends it with a newer schema too)")
	}
	line("summary", f.Summary)
	line("url", none(f.URL))
	if f.PatchURL != "" {
		line("patch url", f.PatchURL)
	}
	fmt.Fprintf(w, "%stext:\n", indent)
	for _, l := range strings.Split(strings.TrimRight(f.Text, "\n"), "\n") {
		if l == "" {
			fmt.Fprintf(w, "%s  |\n", indent)
			continue
		}
		fmt.Fprintf(w, "%s  | %s\n", indent, l)
	}
}
