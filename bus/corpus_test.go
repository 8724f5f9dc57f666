package bus

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The conformance test: every message of the corpus (real Fedora bus
// messages with what the Python schema classes compute from each, see
// testdata/corpus/README.md) is parsed, and every field fmn derives is
// compared with the class's value.
//
//	go test ./bus -run TestCorpus -v     # prints the table per app and field
//
// fmn differs from a class only where a deviation names the message, the
// field and the reason (deviate, in the schema's own test file).

const corpusPath = "testdata/corpus/fedora-messages.jsonl"

type corpusMessage struct {
	Message
	Expect map[string]json.RawMessage `json:"expect"`
	Meta   struct {
		App    string `json:"app"`
		Test   string `json:"test"`
		Origin string `json:"origin"`
	} `json:"meta"`
	line int
}

func (c *corpusMessage) bodyValid() bool { return string(c.Expect["body_valid"]) == "true" }

var corpusOnce = sync.OnceValues(func() ([]*corpusMessage, error) {
	f, err := os.Open(corpusPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*corpusMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var m corpusMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", corpusPath, n, err)
		}
		m.line = n
		out = append(out, &m)
	}
	return out, sc.Err()
})

func loadCorpus(tb testing.TB) []*corpusMessage {
	tb.Helper()
	ms, err := corpusOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

// deviations: (message id, field) → why fmn differs from the class there.
var deviations = map[[2]string]string{}

// deviate records that fmn differs on purpose from the Python class for
// one message's field (a corpus expect key, e.g. "usernames", "str") and
// why. For a property that raises in Python, the deviation says what fmn
// derives instead; the schema's test checks that value.
func deviate(id, field, reason string) {
	if reason == "" {
		panic("deviate: a deviation needs a reason")
	}
	deviations[[2]string{id, field}] = reason
}

// corpusFields are the expect keys compared, in table order.
var corpusFields = []string{
	"schema_class", "app_name", "agent_name", "usernames", "groups", "packages", "containers",
	"modules", "flatpaks", "summary", "str", "url", "severity", "deprecated", "patch_url",
}

// fieldValue returns what fmn derived for an expect key, as JSON-comparable
// Go values (strings, string lists, numbers, booleans; nil for None).
func fieldValue(p *Parsed, field string) any {
	str := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	switch field {
	case "schema_class":
		return p.Extractor
	case "app_name":
		return str(p.App)
	case "agent_name":
		return str(p.Agent)
	case "usernames":
		return p.Usernames
	case "groups":
		return p.Groups
	case "packages":
		return p.Packages
	case "containers":
		return p.Containers
	case "modules":
		return p.Modules
	case "flatpaks":
		return p.Flatpaks
	case "summary":
		return p.Summary
	case "str":
		return p.DisplayText()
	case "url":
		return str(p.URL)
	case "severity":
		return p.Severity
	case "deprecated":
		return p.Deprecated
	case "patch_url":
		return str(p.PatchURL)
	}
	panic("unknown field " + field)
}

// agree compares fmn's value with the class's (JSON). Lists compare as
// sets (FMN uses them so).
func agree(got any, want json.RawMessage) (bool, string) {
	switch g := got.(type) {
	case []string:
		var w []string
		if err := json.Unmarshal(want, &w); err != nil {
			return false, "expected " + string(want)
		}
		slices.Sort(w)
		w = slices.Compact(w)
		gs := slices.Clone(g)
		slices.Sort(gs)
		gs = slices.Compact(gs)
		if len(gs) == 0 && len(w) == 0 {
			return true, ""
		}
		return slices.Equal(gs, w), fmt.Sprintf("got %q, want %q", gs, w)
	default:
		gj, _ := json.Marshal(got)
		var wv, gv any
		_ = json.Unmarshal(want, &wv)
		_ = json.Unmarshal(gj, &gv)
		if fmt.Sprint(wv) == fmt.Sprint(gv) && string(normJSON(want)) == string(normJSON(gj)) {
			return true, ""
		}
		return false, diffText(gv, wv)
	}
}

func normJSON(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, _ := json.Marshal(v)
	return out
}

// diffText shows where two values part.
func diffText(got, want any) string {
	gs, gok := got.(string)
	ws, wok := want.(string)
	if !gok || !wok {
		return fmt.Sprintf("got %#v, want %#v", got, want)
	}
	i := 0
	for i < len(gs) && i < len(ws) && gs[i] == ws[i] {
		i++
	}
	from := max(0, i-40)
	clip := func(s string) string {
		if len(s) > i+60 {
			s = s[:i+60] + "…"
		}
		return s[from:]
	}
	return fmt.Sprintf("differ at byte %d:\n      got  %q\n      want %q", i, clip(gs), clip(ws))
}

type tally struct{ agree, checked int }

func TestCorpus(t *testing.T) {
	t.Parallel()
	msgs := loadCorpus(t)
	byApp := map[string][]*corpusMessage{}
	for _, m := range msgs {
		byApp[m.Meta.App] = append(byApp[m.Meta.App], m)
	}
	apps := make([]string, 0, len(byApp))
	for a := range byApp {
		apps = append(apps, a)
	}
	sort.Strings(apps)

	table := map[string]map[string]*tally{}
	used := map[[2]string]bool{}
	ran := map[string]bool{}
	appOf := map[string]string{}
	for _, m := range msgs {
		appOf[m.ID] = m.Meta.App
	}
	var mu sync.Mutex
	t.Run("apps", func(t *testing.T) {
		for _, app := range apps {
			row := map[string]*tally{}
			for _, f := range corpusFields {
				row[f] = &tally{}
			}
			table[app] = row
			t.Run(app, func(t *testing.T) {
				t.Parallel()
				mu.Lock()
				ran[app] = true
				mu.Unlock()
				report := t.Errorf
				for _, m := range byApp[app] {
					p := parseCorpus(t, m)
					if !m.bodyValid() || p == nil {
						continue
					}
					if p.ExtractError != "" {
						key := [2]string{m.ID, "extract"}
						mu.Lock()
						_, ok := deviations[key]
						used[key] = ok
						mu.Unlock()
						if !ok {
							report("%s (%s, line %d): %s", m.ID, m.Expect["schema"], m.line, p.ExtractError)
						}
					}
					for _, f := range corpusFields {
						want, ok := m.Expect[f]
						if !ok {
							t.Fatalf("line %d: expect has no %q", m.line, f)
						}
						got := fieldValue(p, f)
						ok, why := agree(got, want)
						raises := strings.HasPrefix(string(want), `{"exception"`)
						key := [2]string{m.ID, f}
						mu.Lock()
						reason, deviates := deviations[key]
						if deviates {
							used[key] = true
						}
						row[f].checked++
						if ok || deviates {
							row[f].agree++
						}
						mu.Unlock()
						switch {
						case ok && deviates && !raises:
							report("%s %s: agrees with the class, yet a deviation is recorded (%s)", m.ID, f, reason)
						case !ok && !deviates && raises:
							report("%s (%s, line %d) %s: the class raises %s; record what fmn derives with deviate",
								m.ID, m.Expect["schema"], m.line, f, want)
						case !ok && !deviates:
							report("%s (%s, line %d) %s: %s", m.ID, m.Expect["schema"], m.line, f, why)
						}
					}
				}
			})
		}
	})
	for key := range deviations {
		if !used[key] && ran[appOf[key[0]]] {
			t.Errorf("deviation %v names no message field that differs", key)
		}
	}
	t.Log("\n" + corpusTable(apps, table))
}

// parseCorpus parses one corpus message as it arrives on BUS. Messages
// with invalid bodies (never delivered by fedora-messaging) must parse or
// fail with an *InvalidError, and never panic.
func parseCorpus(t *testing.T, m *corpusMessage) *Parsed {
	t.Helper()
	nm, err := m.NATSMsg()
	if err != nil {
		if m.bodyValid() {
			t.Errorf("line %d: %v", m.line, err)
		}
		return nil
	}
	p, err := ParseNATS(nm.Subject, nm.Header, nm.Data)
	if err != nil {
		var inv *InvalidError
		if m.bodyValid() || !errors.As(err, &inv) {
			t.Errorf("line %d: %v", m.line, err)
		}
		return nil
	}
	_ = p.DisplayText()
	return p
}

// A lazy parse (the matcher's) derives the same fields as an eager one:
// matching fields at once, the texts when Display is called.
func TestCorpusLazyParse(t *testing.T) {
	t.Parallel()
	lazy := Parser{Lazy: true}
	for _, m := range loadCorpus(t) {
		nm, err := m.NATSMsg()
		if err != nil {
			continue
		}
		eager, err := ParseNATS(nm.Subject, nm.Header, nm.Data)
		if err != nil {
			continue
		}
		p, err := lazy.ParseNATS(nm.Subject, nm.Header, nm.Data)
		if err != nil {
			t.Fatalf("line %d: lazy parse fails where an eager one does not: %v", m.line, err)
		}
		for _, f := range []string{"usernames", "groups", "packages", "containers", "modules", "flatpaks", "agent_name", "app_name", "severity", "deprecated"} {
			if g, w := fmt.Sprint(fieldValue(p, f)), fmt.Sprint(fieldValue(eager, f)); g != w {
				t.Errorf("line %d (%s) %s before Display: %s, eager %s", m.line, m.Expect["schema"], f, g, w)
			}
		}
		p.Display()
		for _, f := range corpusFields {
			if g, w := fmt.Sprint(fieldValue(p, f)), fmt.Sprint(fieldValue(eager, f)); g != w {
				t.Errorf("line %d (%s) %s after Display: %.200s, eager %.200s", m.line, m.Expect["schema"], f, g, w)
			}
		}
		if p.ExtractError != eager.ExtractError {
			t.Errorf("line %d: extract error %q, eager %q", m.line, p.ExtractError, eager.ExtractError)
		}
	}
}

func corpusTable(apps []string, table map[string]map[string]*tally) string {
	var b strings.Builder
	short := map[string]string{"schema_class": "class", "agent_name": "agent", "app_name": "app",
		"usernames": "users", "containers": "contnr", "flatpaks": "flatpk", "severity": "sev",
		"deprecated": "deprec", "patch_url": "patch"}
	fmt.Fprintf(&b, "%-20s", "app")
	for _, f := range corpusFields {
		name := f
		if s, ok := short[f]; ok {
			name = s
		}
		fmt.Fprintf(&b, " %7s", name)
	}
	b.WriteString("\n")
	total := map[string]*tally{}
	for _, f := range corpusFields {
		total[f] = &tally{}
	}
	for _, app := range apps {
		fmt.Fprintf(&b, "%-20s", app)
		for _, f := range corpusFields {
			c := table[app][f]
			total[f].agree += c.agree
			total[f].checked += c.checked
			fmt.Fprintf(&b, " %7s", fmt.Sprintf("%d/%d", c.agree, c.checked))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%-20s", "all (agree/checked)")
	for _, f := range corpusFields {
		fmt.Fprintf(&b, " %7s", fmt.Sprintf("%d/%d", total[f].agree, total[f].checked))
	}
	b.WriteString("\n")
	return b.String()
}
