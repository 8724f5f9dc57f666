package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// A lazy parse (Parser.Lazy) runs each extractor twice: first for what
// matching reads only (Extraction.Display false), then, in Parsed.Display,
// for the texts. TestLazyParseMutatedBodies checks, for the bodies of
// each schema package's table test, of the corpus and many variants of
// them (each member up to three levels deep removed or replaced by a value
// of another type, where the classes raise), that a lazy parse derives
// exactly what an eager one does: the matching fields before Display,
// every field after it.

// lazyMutPackages are the packages whose extractors skip their display
// work when matching only (the others would pass trivially).
var lazyMutPackages = []string{
	"bodhi-messages", "bugzilla2fedmsg-schema", "ci-messages", "copr-messaging",
	"fedora-elections-messages", "fedora-image-uploader-messages",
	"fedora-messaging-git-hook-messages", "fedorainfra-ansible-messages",
	"koji-fedoramessaging-messages", "koschei-messages", "mdapi-messages",
	"noggin-messages",
}

// lazyMutCase is a body given to a schema under a topic ("" = the
// schema's default topic) and headers (nil: the schema's only); schema ""
// gives it to each schema of the package.
type lazyMutCase struct {
	schema, topic, body string
	h                   nats.Header
	// asIs: compare the body only, not its variants (the corpus's
	// bodies beyond the first few of a schema: they mostly differ in
	// values, and the variants of big bodies are many).
	asIs bool
}

func TestLazyParseMutatedBodies(t *testing.T) {
	t.Parallel()
	corpus := loadCorpus(t)
	for _, name := range lazyMutPackages {
		var pkg *Package
		for _, p := range DefaultRegistry.Packages() {
			if p.Name == name {
				pkg = p
			}
		}
		if pkg == nil {
			t.Errorf("package %s is not registered", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var schemas []string
			for _, s := range pkg.Schemas {
				schemas = append(schemas, s.Name)
			}
			cases := lazyMutTableBodies(t, "schema_"+strings.NewReplacer("-", "_", ".", "_").Replace(name)+"_test.go")
			if name == "bodhi-messages" {
				for _, c := range bodhiCases {
					cases = append(cases, lazyMutCase{schema: c.schema, topic: c.topic, body: c.body})
				}
			}
			perSchema := map[string]int{}
			for _, m := range corpus {
				nm, err := m.NATSMsg()
				if err != nil || !m.bodyValid() {
					continue
				}
				if s := nm.Header.Get(HeaderSchema); slices.Contains(schemas, s) {
					perSchema[s]++
					cases = append(cases, lazyMutCase{schema: s, topic: m.Topic, body: string(m.Body), h: nm.Header,
						asIs: perSchema[s] > 2})
				}
			}
			if len(cases) == 0 {
				t.Fatalf("no bodies for %s", name)
			}
			n := 0
			covered := map[string]bool{}
			for _, c := range cases {
				targets := []string{c.schema}
				if c.schema == "" {
					targets = schemas
				}
				for _, s := range targets {
					covered[s] = true
				}
				bodies := []string{c.body}
				if !c.asIs {
					bodies = append(bodies, lazyMutVariants(c.body)...)
				}
				for _, s := range targets {
					topic := c.topic
					if topic == "" {
						topic = "org.fedoraproject.prod." + s
					}
					for _, b := range bodies {
						n++
						h := c.h
						if h == nil {
							h = hdr(HeaderSchema, s)
						}
						if !lazyMutSame(t, s, topic, h, b) {
							return // one report per package is enough
						}
					}
				}
			}
			for _, s := range schemas {
				if !covered[s] {
					t.Errorf("no body for %s", s)
				}
			}
			t.Logf("%d bases, %d parses compared", len(cases), n)
		})
	}
}

// lazyMutSame parses body as a message of schema eagerly and lazily and
// reports whether both derive the same.
func lazyMutSame(t *testing.T, schema, topic string, h nats.Header, body string) bool {
	t.Helper()
	eager, err := (&Parser{}).ParseNATS("bus."+topic, h, []byte(body))
	if err != nil {
		return true // not a message fmn parses at all
	}
	lazy, err := (&Parser{Lazy: true}).ParseNATS("bus."+topic, h, []byte(body))
	if err != nil {
		t.Errorf("%s %s: lazy parse fails, eager does not: %v", schema, body, err)
		return false
	}
	match := func(p *Parsed) string {
		return fmt.Sprintf("users %q groups %q packages %q containers %q modules %q flatpaks %q agent %q app %q severity %d deprecated %v",
			p.Usernames, p.Groups, p.Packages, p.Containers, p.Modules, p.Flatpaks, p.Agent, p.App, p.Severity, p.Deprecated)
	}
	if g, w := match(lazy), match(eager); g != w {
		t.Errorf("%s, body %s:\nlazy  %s\neager %s", schema, body, g, w)
		return false
	}
	lazy.Display()
	all := func(p *Parsed) string {
		return match(p) + fmt.Sprintf(" summary %q url %q patch %q text %q error %q",
			p.Summary, p.URL, p.PatchURL, p.DisplayText(), p.ExtractError)
	}
	if g, w := all(lazy), all(eager); g != w {
		t.Errorf("%s, body %s, after Display:\nlazy  %s\neager %s", schema, body, g, w)
		return false
	}
	return true
}

// lazyMutTableBodies collects the bodies a table test file writes as
// string literals (a case's body: "…", with its schema: and topic: when
// literal too; other JSON objects among its strings, such as the bodies
// the cases derive theirs from, for each schema).
func lazyMutTableBodies(t *testing.T, file string) []lazyMutCase {
	src, err := os.ReadFile(file)
	if err != nil {
		t.Logf("%s: %v", file, err)
		return nil
	}
	f, err := parser.ParseFile(token.NewFileSet(), file, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	str := func(e ast.Expr) (string, bool) {
		if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
			s, err := strconv.Unquote(l.Value)
			return s, err == nil
		}
		return "", false
	}
	var out []lazyMutCase
	inCase := map[*ast.BasicLit]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		var c lazyMutCase
		var bodyLit *ast.BasicLit
		for _, e := range cl.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			k, ok := kv.Key.(*ast.Ident)
			if !ok {
				continue
			}
			v, ok := str(kv.Value)
			if !ok {
				continue
			}
			switch k.Name {
			case "schema":
				c.schema = v
			case "topic":
				c.topic = v
			case "body":
				c.body, bodyLit = v, kv.Value.(*ast.BasicLit)
			}
		}
		if bodyLit != nil {
			inCase[bodyLit] = true
			out = append(out, c)
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		l, ok := n.(*ast.BasicLit)
		if !ok || inCase[l] {
			return true
		}
		if s, ok := str(l); ok && strings.HasPrefix(strings.TrimSpace(s), "{") && json.Valid([]byte(s)) {
			out = append(out, lazyMutCase{body: s})
		}
		return true
	})
	return out
}

// lazyMutValues replace a member in the variants: values of each JSON
// type, strings the classes treat apart.
var lazyMutValues = []any{
	nil, false, json.Number("0"), json.Number("1.5"), "", "x", "a:b", "@g",
	[]any{}, map[string]any{}, []any{"x", nil, json.Number("1")},
	map[string]any{"name": "n", "nvr": "n-1-1"},
}

// lazyMutVariants returns body with each member, up to three levels deep
// (the first two elements of an array), removed and replaced by each of
// lazyMutValues; and a few bodies that are no object.
func lazyMutVariants(body string) []string {
	out := []string{"null", "[]", "1", `"s"`, "{}"}
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	var root any
	if d.Decode(&root) != nil {
		return out
	}
	enc := func() {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if e.Encode(root) == nil {
			out = append(out, strings.TrimSpace(b.String()))
		}
	}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth == 3 {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				old := v[k]
				delete(v, k)
				enc()
				for _, r := range lazyMutValues {
					v[k] = r
					enc()
				}
				v[k] = old
				walk(old, depth+1)
			}
		case []any:
			for i := 0; i < len(v) && i < 2; i++ {
				old := v[i]
				for _, r := range lazyMutValues {
					v[i] = r
					enc()
				}
				v[i] = old
				walk(old, depth+1)
			}
		}
	}
	walk(root, 0)
	return out
}
