package jsonenc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// encodingJSON is what encoding/json writes for s, with or without HTML
// escaping.
func encodingJSON(t testing.TB, s string, esc Escaping) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(bool(esc))
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// The eight-byte skipping must not skip a byte that needs escaping: every
// byte value at every place of a long string, both escapings.
func TestEveryByteEveryPlace(t *testing.T) {
	t.Parallel()
	for _, esc := range []Escaping{HTML, NoHTML} {
		for c := range 256 {
			for at := range 20 {
				b := []byte(strings.Repeat("abcdefgh", 3))
				b[at] = byte(c)
				s := string(b)
				if got, want := string(AppendString(nil, s, esc)), encodingJSON(t, s, esc); got != want {
					t.Fatalf("html %v, byte %#x at %d: got %s, want %s", esc, c, at, got, want)
				}
			}
		}
	}
}

func TestStrings(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", "abcdefg\u2028hijklmnop", "abcdefgh\u2029ijklmnop", "ab\xe2\x80", "abcdefghé<ijklmnop>&",
		"tab\there \"quoted\" back\\slash", "\x00\x1f\x7f", "日本語のテキスト<b>", "\xff\xfe valid after",
	} {
		for _, esc := range []Escaping{HTML, NoHTML} {
			if got, want := string(AppendString([]byte("x"), s, esc)), "x"+encodingJSON(t, s, esc); got != want {
				t.Errorf("%q html %v: got %s, want %s", s, esc, got, want)
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a<b>&c", "\u2028", "\xff", "long plain text with \"quotes\"\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, esc := range []Escaping{HTML, NoHTML} {
			if got, want := string(AppendString(nil, s, esc)), encodingJSON(t, s, esc); got != want {
				t.Fatalf("%q html %v: got %s, want %s", s, esc, got, want)
			}
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat("A notification text, mostly plain: koji build of python-requests-2.32 completed. ", 8)
	buf := make([]byte, 0, 2*len(s))
	for _, esc := range []Escaping{HTML, NoHTML} {
		name := "html"
		if !esc {
			name = "nohtml"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				buf = AppendString(buf[:0], s, esc)
			}
		})
	}
}
