package bus

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Python semantics for the schema extractors.
//
// A schema class computes each property with Python on the decoded body:
// body["a"]["b"], len(), iteration, str.join, ==, `in`, int(). Where the
// body has an unexpected shape, Python raises (KeyError, TypeError, …) and
// the property has no value; FMN then goes on with the other properties.
// fmn mirrors this per property: the helpers below panic with a PyError
// where Python raises, and PyTry runs one property's computation and
// recovers its PyError, so that the field keeps the base class's value and
// the other fields stand.
//
//	PyTry(func() { x.Summary = PyStr(b.PyItem("user", "name")) + " did it" })
//
// A panic that is no PyError is a bug: PyTry lets it through (runSchema
// then reports it as the message's ExtractError).

// PyError is a Python exception a property raises: Type is the exception's
// class (KeyError, TypeError, …), Msg what it says.
type PyError struct{ Type, Msg string }

func (e PyError) Error() string { return e.Type + ": " + e.Msg }

// PyRaise raises a Python exception: it panics with a PyError.
func PyRaise(typ, msg string) { panic(PyError{typ, msg}) }

// PyTry runs one property's computation and reports whether it completed.
// A PyError panic (the Python property raises) is recovered, leaving what
// f had not assigned yet; any other panic propagates.
func PyTry(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, raised := r.(PyError); !raised {
				panic(r)
			}
			ok = false
		}
	}()
	f()
	return true
}

// PyItem is Python's v[k1][k2]…: each step must be a dict holding the key,
// else it raises (TypeError, KeyError). The value found may be null (None).
// With no keys it is v itself.
func (v Value) PyItem(path ...string) Value {
	for _, k := range path {
		w := v.Get(k) // absent when v is no object or lacks k
		if !w.Exists() {
			pyRaiseKey(v, k)
		}
		v = w
	}
	return v
}

// PyItem is Value.PyItem, the first key looked up in the body's index.
func (b Body) PyItem(path ...string) Value {
	if len(path) == 0 {
		return b.Value
	}
	v := b.Get(path[0])
	if !v.Exists() {
		pyRaiseKey(b.Value, path[0])
	}
	return v.PyItem(path[1:]...)
}

func pyRaiseKey(v Value, key string) {
	if v.Kind() != KindObject {
		PyRaise("TypeError", "not subscriptable by "+PyReprString(key))
	}
	PyRaise("KeyError", PyReprString(key))
}

// PyGet is Python's v.get(key): absent (None) when the dict lacks key; it
// raises AttributeError when v is no dict. (Value.Get never raises.)
func (v Value) PyGet(key string) Value {
	if v.Kind() != KindObject {
		PyRaise("AttributeError", "object has no attribute 'get'")
	}
	return v.Get(key)
}

// PyGet is Value.PyGet through the body's index.
func (b Body) PyGet(key string) Value {
	if b.Kind() != KindObject {
		PyRaise("AttributeError", "object has no attribute 'get'")
	}
	return b.Get(key)
}

// PyOptStr renders a property that may be None: "" for None (or absent),
// str() of anything else.
func PyOptStr(v Value) string {
	switch v.Kind() {
	case KindAbsent, KindNull:
		return ""
	}
	return PyStr(v)
}

// PyMustStr is v where Python needs a str (str.join, .split, .replace, a
// dict key): anything else raises TypeError.
func PyMustStr(v Value) string {
	s, ok := v.StrOK()
	if !ok {
		PyRaise("TypeError", "expected str, got "+PyRepr(v))
	}
	return s
}

// PyLen is Python's len(v): the characters of a str, the elements of a
// list, the keys of a dict; anything else raises TypeError.
func PyLen(v Value) int {
	switch v.Kind() {
	case KindString:
		return utf8.RuneCountInString(v.Str())
	case KindArray:
		return v.Len()
	case KindObject:
		return len(v.Keys())
	}
	PyRaise("TypeError", "object of type "+PyRepr(v)+" has no len()")
	return 0
}

// pyEach calls fn for each item Python's iteration over v yields: a list's
// elements (elem, s ""), a str's characters and a dict's keys (s, elem
// absent). It raises TypeError, before any call, when v is not iterable
// (None, a number, a boolean, absent).
func pyEach(v Value, fn func(elem Value, s string)) {
	switch v.Kind() {
	case KindArray:
		v.Each(func(e Value) bool { fn(e, ""); return true })
	case KindString:
		for _, r := range v.Str() {
			fn(Value{}, string(r))
		}
	case KindObject:
		for _, k := range v.Keys() {
			fn(Value{}, k)
		}
	default:
		PyRaise("TypeError", PyRepr(v)+" is not iterable")
	}
}

// PyEachStr is `for item in v:` with str(item) (what an f-string or
// str.format shows of each item): a list's elements, a str's characters, a
// dict's keys. It raises TypeError, before any call, when v is not
// iterable.
func PyEachStr(v Value, fn func(item string)) {
	pyEach(v, func(e Value, s string) {
		if e.Exists() {
			s = PyStr(e)
		}
		fn(s)
	})
}

// PyStrs is [str(item) for item in v] (see PyEachStr).
func PyStrs(v Value) []string {
	var out []string
	PyEachStr(v, func(s string) { out = append(out, s) })
	return out
}

// PyJoin is Python's sep.join(v): every item must be a str, else it raises
// TypeError (as it does when v is not iterable).
func PyJoin(sep string, v Value) string { return pyJoin(sep, v, false) }

// PyJoinSkipNone is PyJoin leaving None items out where Python raises on
// them (pagure joins lists its schema lets hold null).
func PyJoinSkipNone(sep string, v Value) string { return pyJoin(sep, v, true) }

func pyJoin(sep string, v Value, skipNone bool) string {
	var parts []string
	pyEach(v, func(e Value, s string) {
		if e.Exists() {
			var ok bool
			if s, ok = e.StrOK(); !ok {
				if skipNone && e.IsNull() {
					return
				}
				PyRaise("TypeError", "sequence item: expected str instance, got "+PyRepr(e))
			}
		}
		parts = append(parts, s)
	})
	return strings.Join(parts, sep)
}

// PyPluck is [item[key] for item in v]: v's items must be dicts holding
// key, else it raises (a str's characters and a dict's keys are strs, which
// item[key] raises TypeError on), as it does when v is not iterable.
func PyPluck(v Value, key string) []Value {
	var out []Value
	if v.Kind() == KindArray {
		out = make([]Value, 0, 4)
	}
	pyEach(v, func(e Value, _ string) { out = append(out, e.PyItem(key)) })
	return out
}

// PyIndex is Python's v[i] on a list (a negative i counts from the end):
// IndexError out of range, TypeError for anything but a list.
func PyIndex(v Value, i int) Value {
	if v.Kind() != KindArray {
		PyRaise("TypeError", "list index of "+PyRepr(v))
	}
	e := v.Index(i)
	if !e.Exists() {
		PyRaise("IndexError", "list index out of range")
	}
	return e
}

// PyIn is Python's `needle in hay` for a str needle: a key of a dict, a
// substring of a str, an element of a list. Anything else raises TypeError.
func PyIn(needle string, hay Value) bool {
	switch hay.Kind() {
	case KindObject:
		return hay.Get(needle).Exists()
	case KindString:
		return strings.Contains(hay.Str(), needle)
	case KindArray:
		in := false
		hay.Each(func(e Value) bool {
			if s, isStr := e.StrOK(); isStr && s == needle {
				in = true
			}
			return !in
		})
		return in
	}
	PyRaise("TypeError", "argument of type "+PyRepr(hay)+" is not iterable")
	return false
}

// PyNumber is the number Python compares v as: an int or float (1e400 is
// inf, as Python reads it), or a bool (0, 1); false for anything else.
func PyNumber(v Value) (float64, bool) {
	switch v.Kind() {
	case KindNumber:
		f, err := strconv.ParseFloat(string(v.raw), 64)
		return f, err == nil || math.IsInf(f, 0)
	case KindBool:
		if b, _ := v.Bool(); b {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// PyEq is Python's a == b on decoded JSON values (absent is None): strs
// by their text, numbers and booleans by value (1 == 1.0 == True, as
// float64), None only to None, lists and dicts of the same repr.
func PyEq(a, b Value) bool {
	ka, kb := a.Kind(), b.Kind()
	if ka == KindAbsent {
		ka = KindNull
	}
	if kb == KindAbsent {
		kb = KindNull
	}
	switch {
	case ka == KindString && kb == KindString:
		return a.Str() == b.Str()
	case ka == KindNull || kb == KindNull:
		return ka == kb
	}
	if fa, ok := PyNumber(a); ok {
		fb, ok := PyNumber(b)
		return ok && fa == fb
	}
	return ka == kb && PyRepr(a) == PyRepr(b)
}

// PyReprEq is a == b as far as repr() tells: equal strs, or values of the
// same repr (None, True, lists, dicts). Unlike PyEq (and Python), numbers
// of different types differ: 1, 1.0 and True are three values.
func PyReprEq(a, b Value) bool {
	as, aok := a.StrOK()
	bs, bok := b.StrOK()
	if aok || bok {
		return aok && bok && as == bs
	}
	return PyRepr(a) == PyRepr(b)
}

// PyIntStr is str(int(v)): int() of a str (surrounding whitespace, a sign,
// underscores between digits), of an int, of a float (truncated) or of a
// bool. It raises (ValueError, TypeError, OverflowError) where int() does.
func PyIntStr(v Value) string {
	switch v.Kind() {
	case KindBool:
		if t, _ := v.Bool(); t {
			return "1"
		}
		return "0"
	case KindNumber:
		if !v.IsFloat() {
			return pyNumber(v)
		}
		f, ok := v.Float()
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			PyRaise("OverflowError", "cannot convert float infinity to integer")
		}
		n := strconv.FormatFloat(math.Trunc(f), 'f', 0, 64)
		if n == "-0" {
			n = "0"
		}
		return n
	case KindString:
		s := strings.TrimSpace(v.Str())
		neg := false
		if s != "" && (s[0] == '+' || s[0] == '-') {
			neg = s[0] == '-'
			s = s[1:]
		}
		digits := strings.ReplaceAll(s, "_", "")
		if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") ||
			strings.Trim(digits, "0123456789") != "" {
			PyRaise("ValueError", "invalid literal for int() with base 10: "+PyRepr(v))
		}
		digits = strings.TrimLeft(digits, "0")
		if digits == "" {
			return "0"
		}
		if neg {
			digits = "-" + digits
		}
		return digits
	}
	PyRaise("TypeError", "int() argument must be a string, a number or a bool, not "+PyRepr(v))
	return ""
}

// PyLower is Python's str.lower(): Go's simple lower-casing plus the full
// mappings Python applies, İ (U+0130) to "i̇" and a capital sigma ending a
// word to ς.
func PyLower(s string) string {
	if !strings.ContainsAny(s, "\u0130\u03a3") {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch r {
		case '\u0130':
			b.WriteString("i\u0307")
		case '\u03a3':
			if pyFinalSigma(rs, i) {
				b.WriteRune('\u03c2')
			} else {
				b.WriteRune('\u03c3')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// pyFinalSigma is the Final_Sigma condition: a cased letter before
// (case-ignorable characters skipped) and none after.
func pyFinalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && pyCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !pyCased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && pyCaseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !pyCased(rs[j])
}

func pyCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

func pyCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '\u00b7', '\u0387', '\u055f', '\u05f4', '\u2018', '\u2019', '\u2024', '\u2027',
		'\ufe13', '\ufe52', '\ufe55', '\uff07', '\uff0e', '\uff1a':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
