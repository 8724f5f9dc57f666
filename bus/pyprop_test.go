package bus

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPyTryRecoversOnlyPyErrors(t *testing.T) {
	t.Parallel()
	if PyTry(func() { ValueOf([]byte(`{}`)).PyItem("k") }) {
		t.Error("a KeyError completed")
	}
	defer func() {
		if recover() == nil {
			t.Error("a panic that is no PyError was swallowed")
		}
	}()
	PyTry(func() { panic("bug") })
}

// pyRaises reports whether f raises a Python exception.
func pyRaises(f func()) bool { return !PyTry(f) }

func TestPyLookups(t *testing.T) {
	t.Parallel()
	b, err := scanBody([]byte(`{"a": {"b": null, "c": [1]}, "s": "x"}`), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []Value{b.Value, ValueOf([]byte(`{"a": {"b": null, "c": [1]}, "s": "x"}`))} {
		if got := v.PyItem("a", "b"); !got.IsNull() {
			t.Errorf("PyItem(a, b) = %s, want null", got.Raw())
		}
		for _, path := range [][]string{{"x"}, {"a", "x"}, {"s", "x"}, {"a", "c", "x"}} {
			if !pyRaises(func() { v.PyItem(path...) }) {
				t.Errorf("PyItem(%q) does not raise", path)
			}
		}
		if got := v.Get("a").PyGet("x"); got.Exists() {
			t.Errorf("PyGet of a missing key = %s, want absent", got.Raw())
		}
		if !pyRaises(func() { v.Get("s").PyGet("x") }) {
			t.Error("PyGet of a str does not raise")
		}
	}
	if got := b.PyItem("a", "c"); string(got.Raw()) != "[1]" || b.PyGet("s").Str() != "x" {
		t.Errorf("Body.PyItem(a, c) = %s", got.Raw())
	}
	if !pyRaises(func() { b.PyItem("x") }) || !pyRaises(func() { (Body{}).PyGet("x") }) {
		t.Error("Body lookups do not raise")
	}
}

// TestPyIteration checks len(), iteration, str.join and [i[k] for i in v]
// on each kind of value.
func TestPyIteration(t *testing.T) {
	t.Parallel()
	const raises = -1
	for _, c := range []struct {
		json     string
		len      int
		strs     []string
		join     string // "|".join; "!" raises
		skipNone string // the same leaving None out
	}{
		{`["a", "b"]`, 2, []string{"a", "b"}, "a|b", "a|b"},
		{`["a", null, 1]`, 3, []string{"a", "None", "1"}, "!", "!"},
		{`["a", null]`, 2, []string{"a", "None"}, "!", "a"},
		{`[]`, 0, nil, "", ""},
		{`"été"`, 3, []string{"é", "t", "é"}, "é|t|é", "é|t|é"},
		{`{"x": 1, "y": 2, "x": 3}`, 2, []string{"x", "y"}, "x|y", "x|y"},
		{`null`, raises, nil, "!", "!"},
		{`5`, raises, nil, "!", "!"},
		{`true`, raises, nil, "!", "!"},
		{``, raises, nil, "!", "!"},
	} {
		v := ValueOf([]byte(c.json))
		n := raises
		PyTry(func() { n = PyLen(v) })
		var strs []string
		PyTry(func() { strs = PyStrs(v) })
		join, skipNone := "!", "!"
		PyTry(func() { join = PyJoin("|", v) })
		PyTry(func() { skipNone = PyJoinSkipNone("|", v) })
		if n != c.len || !slices.Equal(strs, c.strs) || join != c.join || skipNone != c.skipNone {
			t.Errorf("%s: len %d, strs %q, join %q, skipping None %q; want %d, %q, %q, %q",
				c.json, n, strs, join, skipNone, c.len, c.strs, c.join, c.skipNone)
		}
	}
	for _, c := range []struct {
		json string
		want string // the plucked values' JSON, "!" when it raises
	}{
		{`[{"k": 1}, {"k": null}]`, "1 null"},
		{`[]`, ""}, {`""`, ""}, {`{}`, ""},
		{`[{"k": 1}, {}]`, "!"}, {`[1]`, "!"}, {`"s"`, "!"}, {`{"k": 1}`, "!"}, {`null`, "!"},
	} {
		got := "!"
		PyTry(func() {
			var s []string
			for _, v := range PyPluck(ValueOf([]byte(c.json)), "k") {
				s = append(s, string(v.Raw()))
			}
			got = strings.Join(s, " ")
		})
		if got != c.want {
			t.Errorf("PyPluck(%s) = %q, want %q", c.json, got, c.want)
		}
	}
}

func TestPyIndexIn(t *testing.T) {
	t.Parallel()
	list := ValueOf([]byte(`["a", 2, "refs/heads/"]`))
	if string(PyIndex(list, -1).Raw()) != `"refs/heads/"` || string(PyIndex(list, 0).Raw()) != `"a"` {
		t.Error("PyIndex of a list")
	}
	for _, f := range []func(){
		func() { PyIndex(list, 3) }, func() { PyIndex(ValueOf([]byte(`[]`)), 0) },
		func() { PyIndex(ValueOf([]byte(`{"0": 1}`)), 0) }, func() { PyIndex(ValueOf([]byte(`"abc"`)), 0) },
	} {
		if !pyRaises(f) {
			t.Error("PyIndex does not raise")
		}
	}
	for _, c := range []struct {
		hay  string
		want string // "true", "false" or "raises"
	}{
		{`["x", "refs/heads/"]`, "true"}, {`["refs/heads/x"]`, "false"}, {`[1]`, "false"},
		{`"a refs/heads/ b"`, "true"}, {`"refs/head"`, "false"},
		{`{"refs/heads/": 1}`, "true"}, {`{"x": "refs/heads/"}`, "false"},
		{`null`, "raises"}, {`1`, "raises"}, {``, "raises"},
	} {
		got := "raises"
		PyTry(func() { got = strconv.FormatBool(PyIn("refs/heads/", ValueOf([]byte(c.hay)))) })
		if got != c.want {
			t.Errorf("'refs/heads/' in %s: %s, want %s", c.hay, got, c.want)
		}
	}
}

// TestPyEquality checks PyEq (Python's ==) and PyReprEq (the same repr),
// which differ on numbers of different types.
func TestPyEquality(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b         string
		eq, sameRepr bool
	}{
		{`"a"`, `"a"`, true, true}, {`"a"`, `"b"`, false, false}, {`"1"`, `1`, false, false},
		{`null`, ``, true, true}, {`null`, `"None"`, false, false}, {`null`, `0`, false, false},
		{`1`, `1`, true, true}, {`1`, `1.0`, true, false}, {`1`, `true`, true, false}, {`0`, `false`, true, false},
		{`1e400`, `2e400`, true, true}, {`1e400`, `-1e400`, false, false},
		{`[1, "a"]`, `[1, "a"]`, true, true}, {`[1]`, `[1.0]`, false, false}, {`{"a": 1}`, `{"a": 1}`, true, true},
		{`[]`, `{}`, false, false}, {`true`, `true`, true, true},
	} {
		a, b := ValueOf([]byte(c.a)), ValueOf([]byte(c.b))
		if PyEq(a, b) != c.eq || PyEq(b, a) != c.eq || PyReprEq(a, b) != c.sameRepr {
			t.Errorf("%s, %s: PyEq %v, PyReprEq %v; want %v, %v", c.a, c.b, PyEq(a, b), PyReprEq(a, b), c.eq, c.sameRepr)
		}
	}
}

func TestPyConversions(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`true`: "1", `false`: "0", `42`: "42", `-0`: "0", `2.9`: "2", `-2.9`: "-2", `-0.5`: "0", `1e3`: "1000",
		`123456789012345678901234567890`: "123456789012345678901234567890",
		`" 4 "`:                          "4", `"-0_38_492"`: "-38492", `"+007"`: "7", `"0"`: "0",
		`"x"`: "!", `""`: "!", `"1_"`: "!", `"1__2"`: "!", `"_1"`: "!", `"1.5"`: "!", `1e400`: "!", `null`: "!", `[1]`: "!",
	} {
		got := "!"
		PyTry(func() { got = PyIntStr(ValueOf([]byte(in))) })
		if got != want {
			t.Errorf("str(int(%s)) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{`null`: "", ``: "", `"s"`: "s", `1.0`: "1.0", `[1]`: "[1]"} {
		if got := PyOptStr(ValueOf([]byte(in))); got != want {
			t.Errorf("PyOptStr(%s) = %q, want %q", in, got, want)
		}
	}
	if PyMustStr(ValueOf([]byte(`"s"`))) != "s" || !pyRaises(func() { PyMustStr(ValueOf([]byte(`1`))) }) {
		t.Error("PyMustStr")
	}
	if n, ok := PyNumber(ValueOf([]byte(`true`))); !ok || n != 1 {
		t.Error("PyNumber(true)")
	}
	if _, ok := PyNumber(ValueOf([]byte(`"1"`))); ok {
		t.Error(`PyNumber("1")`)
	}
	for in, want := range map[string]string{"ΟΔΟΣ": "οδος", "ΣΑ": "σα", "Σ": "σ", "AΣ.": "aς.", "AΣ.b": "aσ.b",
		"İstanbul": "i̇stanbul", "SomeUser": "someuser", "A\u0301Σ": "a\u0301ς", "ΑΣ:Β": "ασ:β"} {
		if got := PyLower(in); got != want {
			t.Errorf("PyLower(%q) = %q, want %q", in, got, want)
		}
	}
}
