package rules

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The expectations agree with Python's fnmatch.fnmatchcase, which FMN's topic
// filter uses.
func TestGlobMatch(t *testing.T) {
	t.Parallel()

	const topic = "org.fedoraproject.prod.bodhi.update.comment"
	tests := []struct {
		name    string
		pattern string
		s       string
		want    bool
	}{
		{"literal full topic", topic, topic, true},
		{"literal prefix only", "org.fedoraproject.prod.bodhi", topic, false},
		{"literal longer than topic", topic + ".x", topic, false},
		{"star crosses dots", "org.fedoraproject.*.comment", topic, true},
		{"star suffix", "org.fedoraproject.prod.bodhi.*", topic, true},
		{"star prefix", "*.comment", topic, true},
		{"star prefix wrong end", "*.commentx", topic, false},
		{"star alone", "*", topic, true},
		{"star matches empty", "org.fedoraproject.prod.bodhi.update.comment*", topic, true},
		{"star in middle matches empty", "a*b", "ab", true},
		{"two stars", "*bodhi*comment", topic, true},
		{"two stars wrong order", "*comment*bodhi*", topic, false},
		{"stars need backtracking", "*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true},
		{"stars backtracking fails", "*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"question one char", "org.fedoraproject.pro?.bodhi.update.comment", topic, true},
		{"question not zero chars", "org.fedoraproject.prod?.bodhi.update.comment", topic, false},
		{"question crosses dot", "org?fedoraproject.prod.bodhi.update.comment", topic, true},
		{"question is one rune", "caf?", "café", true},
		{"class", "org.fedoraproject.[ps]*.bodhi.*", topic, true},
		{"class miss", "org.fedoraproject.[st]*.bodhi.*", topic, false},
		{"class range", "org.fedoraproject.[a-z]rod.*", topic, true},
		{"negated class", "org.fedoraproject.[!s]rod.*", topic, true},
		{"negated class miss", "org.fedoraproject.[!p]rod.*", topic, false},
		{"bracket first in class is literal", "[]]", "]", true},
		{"bracket first in negated class is literal", "[!]]", "a", true},
		{"bracket first in negated class excluded", "[!]]", "]", false},
		{"dash last is literal", "a[x-]b", "a-b", true},
		{"dash first is literal", "a[-x]b", "a-b", true},
		{"literal open bracket", "[[]x", "[x", true},
		{"caret is literal in class", "[^a]", "^", true},
		{"backslash is literal", `a\*`, `a\bc`, true},
		{"case-sensitive", "org.fedoraproject.prod.BODHI.*", topic, false},
		{"empty pattern matches empty", "", "", true},
		{"empty pattern does not match topic", "", topic, false},
		{"star matches empty string", "*", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := CompileGlob(tt.pattern)
			if err != nil {
				t.Fatalf("CompileGlob(%q): %v", tt.pattern, err)
			}
			if got := g.Match(tt.s); got != tt.want {
				t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

func TestCompileGlobErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		pattern string
		wantErr string
	}{
		{"unclosed bracket", "org.[prod", `unclosed "[" at position 5 (write [[] to match a literal "[")`},
		{"empty class is unclosed", "a[]", `unclosed "[" at position 2`},
		{"reversed range", "org.[z-a]", `range "z-a" at position 5 matches nothing (write the lower bound first)`},
		{"invalid UTF-8", "a\xffb", "pattern is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := CompileGlob(tt.pattern)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CompileGlob(%q) error = %v, want %q", tt.pattern, err, tt.wantErr)
			}
		})
	}
}

func TestGlobMatchLongInputIsFast(t *testing.T) {
	t.Parallel()
	// A pattern that makes naive recursive matchers exponential.
	g, err := CompileGlob(strings.Repeat("*a", 30) + "b")
	if err != nil {
		t.Fatal(err)
	}
	if g.Match(strings.Repeat("a", 10000)) {
		t.Error("matched a string without b")
	}
}

// naiveMatch is a reference matcher: plain recursion over the tokens,
// exponential but obviously right, for the fuzz test.
func naiveMatch(toks []globTok, s []rune) bool {
	if len(toks) == 0 {
		return len(s) == 0
	}
	t := &toks[0]
	switch t.kind {
	case globStar:
		for i := 0; i <= len(s); i++ {
			if naiveMatch(toks[1:], s[i:]) {
				return true
			}
		}
		return false
	case globLiteral:
		lit := []rune(t.lit)
		return len(s) >= len(lit) && string(s[:len(lit)]) == t.lit && naiveMatch(toks[1:], s[len(lit):])
	case globAny:
		return len(s) > 0 && naiveMatch(toks[1:], s[1:])
	default:
		return len(s) > 0 && t.matchRune(s[0]) && naiveMatch(toks[1:], s[1:])
	}
}

func FuzzGlob(f *testing.F) {
	for _, s := range []string{"*", "a*b", "[!a-c]?", "[[]", "[]]", "*.bodhi.*", "a*a*b"} {
		f.Add(s, "org.fedoraproject.prod.bodhi")
		f.Add(s, "aab")
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 24 || len(s) > 48 || !utf8.ValidString(s) {
			return // keep the reference matcher fast
		}
		g, err := CompileGlob(pattern)
		if err != nil {
			return
		}
		if got, want := g.Match(s), naiveMatch(g.toks, []rune(s)); got != want {
			t.Errorf("%q.Match(%q) = %v, reference says %v", pattern, s, got, want)
		}
	})
}
