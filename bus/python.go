package bus

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Python's view of JSON values. Fedora's schema classes build their texts
// with str(), repr(), f-strings and json.dumps on the decoded body; these
// render a Value the same way, so that fmn's notifications read exactly as
// FMN's.
//
// Decoding follows Python's json module: a number with '.', 'e' or 'E' is a
// float, any other an int (of any size); objects keep the position of a
// key's first occurrence and the value of its last.

// Kind is the JSON type of a value.
type Kind uint8

// The kinds of Value.
const (
	KindAbsent Kind = iota
	KindNull
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// Kind returns the JSON type of v.
func (v Value) Kind() Kind {
	if len(v.raw) == 0 {
		return KindAbsent
	}
	switch v.raw[0] {
	case 'n':
		return KindNull
	case 't', 'f':
		return KindBool
	case '"':
		return KindString
	case '[':
		return KindArray
	case '{':
		return KindObject
	}
	return KindNumber
}

// IsFloat reports whether v is a number Python decodes as a float.
func (v Value) IsFloat() bool {
	return v.Kind() == KindNumber && strings.ContainsAny(string(v.raw), ".eE")
}

// Float returns a number as float64 (a string holding one too).
func (v Value) Float() (float64, bool) {
	switch v.Kind() {
	case KindNumber:
		f, err := strconv.ParseFloat(string(v.raw), 64)
		return f, err == nil
	case KindString:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.Str()), 64)
		return f, err == nil
	}
	return 0, false
}

// Members calls fn for each member of an object in order of appearance,
// until fn returns false. Duplicate keys are reported each time.
func (v Value) Members(fn func(key string, val Value) bool) {
	d := v.raw
	if len(d) == 0 || d[0] != '{' {
		return
	}
	i := skipWS(d, 1)
	for i < len(d) && d[i] == '"' {
		ks := i
		i = skipString(d, i)
		key := Value{raw: d[ks:i]}.Str()
		i = skipWS(d, i)
		i = skipWS(d, i+1) // ':'
		vs := i
		i = skip(d, i)
		if !fn(key, Value{raw: d[vs:i]}) {
			return
		}
		i = skipWS(d, i)
		if i < len(d) && d[i] == ',' {
			i = skipWS(d, i+1)
		}
	}
}

type pyMember struct {
	key string
	val Value
}

// pyMembers returns an object's members as a Python dict holds them: in
// order of first occurrence, each with its last value.
func (v Value) pyMembers() []pyMember {
	var out []pyMember
	v.Members(func(k string, val Value) bool {
		for i := range out {
			if out[i].key == k {
				out[i].val = val
				return true
			}
		}
		out = append(out, pyMember{k, val})
		return true
	})
	return out
}

// Keys returns an object's keys as a Python dict holds them (first
// occurrence order, no duplicates).
func (v Value) Keys() []string {
	var out []string
	for _, m := range v.pyMembers() {
		out = append(out, m.key)
	}
	return out
}

// Truthy reports Python truthiness: absent, null, false, 0, "", [] and {}
// are false.
func (v Value) Truthy() bool {
	switch v.Kind() {
	case KindAbsent, KindNull:
		return false
	case KindBool:
		b, _ := v.Bool()
		return b
	case KindNumber:
		f, _ := v.Float()
		return f != 0
	case KindString:
		return len(v.raw) > 2
	case KindArray:
		return v.Len() > 0
	case KindObject:
		return skipWS(v.raw, 1) < len(v.raw) && v.raw[skipWS(v.raw, 1)] != '}'
	}
	return false
}

// PyStr renders v as Python's str() of the decoded value: a string as
// itself, None, True/False, an int's digits, a float's repr, and lists and
// dicts as their repr. An absent value is None, as dict.get gives it.
func PyStr(v Value) string {
	if v.Kind() == KindString {
		return v.Str()
	}
	return PyRepr(v)
}

// PyRepr renders v as Python's repr() of the decoded value.
func PyRepr(v Value) string {
	var b strings.Builder
	pyRepr(&b, v)
	return b.String()
}

func pyRepr(b *strings.Builder, v Value) {
	switch v.Kind() {
	case KindAbsent, KindNull:
		b.WriteString("None")
	case KindBool:
		if t, _ := v.Bool(); t {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case KindNumber:
		b.WriteString(pyNumber(v))
	case KindString:
		b.WriteString(PyReprString(v.Str()))
	case KindArray:
		b.WriteByte('[')
		first := true
		v.Each(func(e Value) bool {
			if !first {
				b.WriteString(", ")
			}
			first = false
			pyRepr(b, e)
			return true
		})
		b.WriteByte(']')
	case KindObject:
		b.WriteByte('{')
		for i, m := range v.pyMembers() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(PyReprString(m.key))
			b.WriteString(": ")
			pyRepr(b, m.val)
		}
		b.WriteByte('}')
	}
}

// pyNumber renders a JSON number as Python prints the int or float that
// json.loads makes of it.
func pyNumber(v Value) string {
	s := string(v.raw)
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return s
	}
	return PyFloat(f)
}

// PyFloat renders f as Python's repr(float): the shortest text that reads
// back as f, in exponent form below 1e-4 and from 1e16 on, and with ".0"
// when integral.
func PyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	exp := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	i := strings.LastIndexByte(exp, 'e')
	e, _ := strconv.Atoi(exp[i+1:])
	if e < -4 || e >= 16 {
		mant, ex := exp[:i], exp[i+1:]
		sign := ex[0]
		ex = strings.TrimLeft(ex[1:], "0")
		if len(ex) < 2 {
			ex = strings.Repeat("0", 2-len(ex)) + ex
		}
		return mant + "e" + string(sign) + ex
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// PyReprString renders s as Python's repr() of a str: single quotes unless
// s holds a single quote and no double quote, backslash escapes for the
// quote, backslash and control characters, \x, \u or \U escapes for
// characters Python does not print.
func PyReprString(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && (r < 0x20 || r == 0x7f):
			b.WriteString(`\x` + hex2(int(r)))
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			b.WriteString(`\x` + hex2(int(r)))
		case r <= 0xffff:
			b.WriteString(`\u` + hexN(int(r), 4))
		default:
			b.WriteString(`\U` + hexN(int(r), 8))
		}
	}
	b.WriteByte(quote)
	return b.String()
}

const hexDigits = "0123456789abcdef"

func hex2(n int) string { return hexN(n, 2) }

func hexN(n, width int) string {
	buf := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		buf[i] = hexDigits[n&0xf]
		n >>= 4
	}
	return string(buf)
}

// PyJSON renders v as Python's json.dumps(value, sort_keys=sortKeys,
// indent=indent) with ensure_ascii (the default): with indent < 0 on one
// line with ", " and ": " separators; with indent >= 0 one member a line and
// "," and ": " separators (what fedora-messaging's base text uses).
func PyJSON(v Value, indent int, sortKeys bool) string {
	var b strings.Builder
	b.Grow(len(v.raw) * 2)
	pyJSON(&b, v, indent, sortKeys, 0)
	return b.String()
}

func pyJSON(b *strings.Builder, v Value, indent int, sortKeys bool, level int) {
	newline := func(l int) {
		if indent >= 0 {
			b.WriteByte('\n')
			for i := 0; i < l*indent; i++ {
				b.WriteByte(' ')
			}
		}
	}
	sep := ", "
	if indent >= 0 {
		sep = ","
	}
	switch v.Kind() {
	case KindAbsent, KindNull:
		b.WriteString("null")
	case KindBool:
		b.Write(v.raw)
	case KindNumber:
		b.WriteString(pyNumber(v))
	case KindString:
		PyJSONString(b, v.Str())
	case KindArray:
		if v.Len() == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		first := true
		v.Each(func(e Value) bool {
			if !first {
				b.WriteString(sep)
			}
			first = false
			newline(level + 1)
			pyJSON(b, e, indent, sortKeys, level+1)
			return true
		})
		newline(level)
		b.WriteByte(']')
	case KindObject:
		ms := v.pyMembers()
		if len(ms) == 0 {
			b.WriteString("{}")
			return
		}
		if sortKeys {
			sort.SliceStable(ms, func(i, j int) bool { return ms[i].key < ms[j].key })
		}
		b.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(level + 1)
			PyJSONString(b, m.key)
			b.WriteString(": ")
			pyJSON(b, m.val, indent, sortKeys, level+1)
		}
		newline(level)
		b.WriteByte('}')
	}
}

// PyJSONString writes s as Python's json module does with ensure_ascii:
// every non-ASCII character as \uXXXX (surrogate pairs beyond the BMP).
func PyJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			b.WriteString(`\u` + hexN(int(r), 4))
		case r < 0x80:
			b.WriteRune(r)
		case r <= 0xffff:
			b.WriteString(`\u` + hexN(int(r), 4))
		default:
			r -= 0x10000
			b.WriteString(`\u` + hexN(0xd800+int(r>>10), 4) + `\u` + hexN(0xdc00+int(r&0x3ff), 4))
		}
	}
	b.WriteByte('"')
}

// ValueOf wraps JSON text as a Value (for values built by extractors, such
// as a header map). The text must be valid JSON.
func ValueOf(raw []byte) Value { return Value{raw: raw} }
