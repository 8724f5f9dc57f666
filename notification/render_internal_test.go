package notification

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBodyTextFastPath: texts made of every kind of piece (plain ASCII,
// line ends of each kind, tabs, control characters, DEL, U+2028,
// non-ASCII letters, invalid UTF-8) come out as from the three passes
// alone.
func TestBodyTextFastPath(t *testing.T) {
	t.Parallel()
	pieces := []string{"plain text ", "x", "\n", "\t", "\r\n", "\r", "\x00", "\x1b[31m", "\x7f", "\u2028", "\u2029",
		"é", "日本", "\xff", "\xe2\x80", "~", " ", "\u0085", "\U0001F600"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		if i%3 == 0 { // a third plain, the fast path's case
			s = strings.Map(func(r rune) rune {
				if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f {
					return 'a'
				}
				return r
			}, s)
		}
		if got, want := bodyText(s), normaliseBodyText(s); got != want {
			t.Fatalf("bodyText(%q) = %q, want %q", s, got, want)
		}
	}
}
