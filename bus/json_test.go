package bus

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e10`, `-1E-2`, `true`, `false`, `null`, ` {"a" : [1, {"b":null}] } `,
		`{"a":"\u00e9\n\t\"\\\/"}`, `{"a":1,}`, `{,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{"a":}`, `01`, `1.`, `.5`,
		`-`, `1e`, `1e+`, `+1`, `tru`, `nul`, `"abc`, `"\x"`, `"\u12"`, "\"a\x01b\"", `{} x`, `{"a":1}}`,
		``, ` `, `[`, `]`, `{"a":[}`, `"\ud800"`, "\"\xff\"", `{"a":{"b":{"c":[[[]]]}}}`,
	} {
		got := validJSON([]byte(in)) == nil
		if want := json.Valid([]byte(in)); got != want {
			t.Errorf("%q: scanner says valid=%v, encoding/json says %v (%v)", in, got, want, validJSON([]byte(in)))
		}
	}
}

func TestValueAccessors(t *testing.T) {
	t.Parallel()
	data := []byte(`{"s":"x\u0041","n":42,"f":1.5,"big":1e3,"neg":-3,"t":true,"null":null,
		"obj":{"k":{"deep":"yes"},"k\u0031":"escaped key"},"arr":[ "a" , 1, "b", {"x":[1,2]} ],"empty":[]}`)
	b, err := scanBody(data, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Get("s").Str(); got != "xA" {
		t.Errorf("s = %q", got)
	}
	if n, ok := b.Get("n").Int(); !ok || n != 42 {
		t.Errorf("n = %d %v", n, ok)
	}
	if _, ok := b.Get("f").Int(); ok {
		t.Error("1.5 is not an int")
	}
	if n, ok := b.Get("big").Int(); !ok || n != 1000 {
		t.Errorf("big = %d %v", n, ok)
	}
	if v, ok := b.Get("t").Bool(); !ok || !v {
		t.Error("t")
	}
	if !b.Get("null").IsNull() || !b.Get("null").Exists() || b.Get("missing").Exists() {
		t.Error("null/missing")
	}
	if got := b.Get("obj", "k", "deep").Str(); got != "yes" {
		t.Errorf("deep = %q", got)
	}
	if got := b.Get("obj", "k1").Str(); got != "escaped key" {
		t.Errorf("escaped key = %q", got)
	}
	if got := b.Get("arr").Strings(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("strings = %v", got)
	}
	if b.Get("arr").Len() != 4 || b.Get("empty").Len() != 0 {
		t.Error("len")
	}
	if got := b.Get("arr").Index(-1).Get("x").Index(1).Text(); got != "2" {
		t.Errorf("arr[-1].x[1] = %q", got)
	}
	if b.Get("arr").Index(9).Exists() || b.Get("arr").Index(-9).Exists() {
		t.Error("out of range index")
	}
	if b.Get("s", "x").Exists() || b.Get("n").Str() != "" || b.Get("obj").Text() != "" {
		t.Error("type mismatches must give zero values")
	}
	var zero Value
	if zero.Get("a").Exists() || zero.Str() != "" || zero.Len() != 0 || zero.Strings() != nil {
		t.Error("zero Value")
	}
}

func TestSkipAndObject(t *testing.T) {
	t.Parallel()
	data := []byte(`{"a":"ends with a backslash \\","b":"has \"quotes\" and \\\"","c":{"x":"}","y":[1,"]"]},"d\u0041":4,"e":"last"}`)
	if !json.Valid(data) {
		t.Fatalf("test data is not JSON: %s", data)
	}
	b, err := scanBody(data, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	top := Value{raw: data}
	for _, v := range []Body{b, top.Object()} {
		if v.Get("e").Str() != "last" || v.Get("a").Str() != `ends with a backslash \` || v.Get("b").Str() != `has "quotes" and \"` {
			t.Errorf("lookups after escaped strings: %q %q %q", v.Get("e").Str(), v.Get("a").Str(), v.Get("b").Str())
		}
		if v.Get("c", "y").Index(1).Str() != "]" || v.Get("c", "x").Str() != "}" {
			t.Error("structural characters inside strings")
		}
		if n, _ := v.Get("dA").Int(); n != 4 {
			t.Error("escaped key")
		}
	}
	if top.Get("e").Str() != "last" {
		t.Error("Value.Get")
	}
	if (Value{raw: []byte(`[1]`)}).Object().Get("x").Exists() {
		t.Error("Object of an array")
	}
}

func TestHeaderString(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`"text"`: "text", `"a\"b"`: `a"b`, `20`: "20", `1.50`: "1.50", `true`: "true", `false`: "false",
		`{"a": [1, 2]}`: `{"a":[1,2]}`, `[ 1 ]`: `[1]`,
	} {
		got, ok := HeaderString(json.RawMessage(raw))
		if !ok || got != want {
			t.Errorf("HeaderString(%s) = %q %v, want %q", raw, got, ok, want)
		}
	}
	if _, ok := HeaderString(json.RawMessage(`null`)); ok {
		t.Error("null must be dropped")
	}
}

func TestNestingLimit(t *testing.T) {
	t.Parallel()
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if err := validJSON([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
	deep := "[" + ok + "]"
	if err := validJSON([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Errorf("depth %d: %v", maxDepth+1, err)
	}
}

// The scanner skips plain runs eight bytes at a time: every byte value at
// every place of a long string must still be seen.
func TestScannerEveryByteEveryPlace(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		for at := range 20 {
			b := []byte(`"` + strings.Repeat("abcdefgh", 3) + `"`)
			b[1+at] = byte(c)
			got := validJSON(b) == nil
			if want := json.Valid(b); got != want {
				t.Fatalf("byte %#x at %d: scanner says valid=%v, encoding/json says %v", c, at, got, want)
			}
		}
	}
}

// TestPlainRun: plainRun stops exactly on the first byte that is not
// plain, or where fewer than eight bytes are left, on random bytes with
// quotes, backslashes, control characters and high bytes at every place.
func TestPlainRun(t *testing.T) {
	t.Parallel()
	special := []byte{'"', '\\', 0, 0x1f, '\n', 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0x9f, 0xa0, 0xff, 'a'}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		d := make([]byte, rng.IntN(40))
		for j := range d {
			if rng.IntN(4) == 0 {
				d[j] = special[rng.IntN(len(special))]
			} else {
				d[j] = byte(0x20 + rng.IntN(0x60))
			}
		}
		for i := 0; i <= len(d); i++ {
			r := plainRun(d, i)
			if r < i || r > len(d) {
				t.Fatalf("plainRun(%q, %d) = %d", d, i, r)
			}
			for j := i; j < r; j++ {
				if !plain[d[j]] {
					t.Fatalf("plainRun(%q, %d) = %d passes %q at %d", d, i, r, d[j], j)
				}
			}
			if r < len(d) && plain[d[r]] && len(d)-r >= 8 {
				t.Fatalf("plainRun(%q, %d) = %d stops on a plain byte with %d left", d, i, r, len(d)-r)
			}
		}
	}
}
