package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Glob is a compiled shell-style pattern for the topic filter, with the
// semantics of Python's fnmatch (which FMN uses): "*" matches any run of
// characters, dots included, "?" matches one character, "[abc]", "[a-z]" and
// "[!abc]" match one character of (or not of) a set, and the pattern must
// match the whole topic. Matching is case-sensitive, as fnmatch is on POSIX.
//
// Glob is immutable and safe for concurrent use. Matching neither allocates
// nor builds a regular expression.
type Glob struct {
	pattern string
	toks    []globTok
}

type globKind uint8

const (
	globLiteral globKind = iota
	globAny              // ?
	globStar             // *
	globClass            // [...]
)

type globTok struct {
	kind   globKind
	lit    string      // globLiteral
	ranges []runeRange // globClass
	negate bool        // globClass
}

type runeRange struct{ lo, hi rune }

// CompileGlob compiles pattern. Where fnmatch would silently take a broken
// set literally, CompileGlob refuses it with an explanation, because in a
// topic filter that is always a typo: an unclosed "[" (write "[[]" for a
// literal "[") and a reversed range such as "[z-a]", which matches nothing.
func CompileGlob(pattern string) (*Glob, error) {
	if !utf8.ValidString(pattern) {
		return nil, fmt.Errorf("pattern is not valid UTF-8")
	}
	g := &Glob{pattern: pattern}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			g.toks = append(g.toks, globTok{kind: globLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		switch c := pattern[i]; c {
		case '*':
			flush()
			// Consecutive stars are one star.
			if n := len(g.toks); n == 0 || g.toks[n-1].kind != globStar {
				g.toks = append(g.toks, globTok{kind: globStar})
			}
			i++
		case '?':
			flush()
			g.toks = append(g.toks, globTok{kind: globAny})
			i++
		case '[':
			tok, next, err := parseClass(pattern, i)
			if err != nil {
				return nil, err
			}
			flush()
			g.toks = append(g.toks, tok)
			i = next
		default:
			_, n := utf8.DecodeRuneInString(pattern[i:])
			lit.WriteString(pattern[i : i+n])
			i += n
		}
	}
	flush()
	return g, nil
}

// parseClass parses the set that starts with the "[" at pattern[start] and
// returns the index after its closing "]". As in fnmatch, a "]" right after
// "[" or "[!" belongs to the set, "-" first or last is literal, and a
// backslash has no special meaning.
func parseClass(pattern string, start int) (globTok, int, error) {
	tok := globTok{kind: globClass}
	i := start + 1
	if i < len(pattern) && pattern[i] == '!' {
		tok.negate = true
		i++
	}
	first := i
	end := -1
	for j := first; j < len(pattern); j++ {
		if pattern[j] == ']' && j > first {
			end = j
			break
		}
	}
	if end < 0 {
		return tok, 0, fmt.Errorf("unclosed %q at position %d (write [[] to match a literal %q)", "[", start+1, "[")
	}
	body := []rune(pattern[first:end])
	for k := 0; k < len(body); k++ {
		lo := body[k]
		if k+2 < len(body) && body[k+1] == '-' {
			hi := body[k+2]
			if hi < lo {
				return tok, 0, fmt.Errorf("range %q at position %d matches nothing (write the lower bound first)",
					string([]rune{lo, '-', hi}), start+1)
			}
			tok.ranges = append(tok.ranges, runeRange{lo, hi})
			k += 2
			continue
		}
		tok.ranges = append(tok.ranges, runeRange{lo, lo})
	}
	return tok, end + 1, nil
}

// String returns the pattern as written.
func (g *Glob) String() string { return g.pattern }

func (t *globTok) matchRune(r rune) bool {
	in := false
	for _, rr := range t.ranges {
		if rr.lo <= r && r <= rr.hi {
			in = true
			break
		}
	}
	return in != t.negate
}

// Match reports whether the whole of s matches the pattern.
//
// The algorithm is the classic one for wildcard matching with a single
// backtrack point: every token other than "*" consumes a fixed number of
// characters, so when a later token fails it is enough to let the most
// recent "*" swallow one more character and retry. That keeps the worst case
// at O(len(pattern) * len(s)) and never recurses.
func (g *Glob) Match(s string) bool {
	toks := g.toks
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case globStar:
				if ti == len(toks)-1 {
					return true // a trailing star matches the rest
				}
				starTi, starSi = ti, si
				ti++
				continue
			case globLiteral:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			case globAny:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			case globClass:
				if si < len(s) {
					r, n := utf8.DecodeRuneInString(s[si:])
					if t.matchRune(r) {
						si += n
						ti++
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last star take one more character.
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		si = starSi
		ti = starTi + 1
	}
}
