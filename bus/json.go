package bus

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
)

// The consumer parses every bus message once, at ~100k messages a second,
// and needs a dozen fields of its body. Decoding the body into
// map[string]any would allocate every nested value; instead the body is
// validated in one pass that records where the top-level members are, and
// fields are read lazily from the raw bytes (nested ones by a cheap skip
// over already-validated JSON).

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 512

// member locates a top-level member in the body by offsets, keeping the
// index small (16 bytes a member) and free of pointers.
type member struct {
	ks, ke uint32 // the key, quotes included
	vs, ve uint32 // the value
}

func (b *Body) key(m *member) []byte { return b.raw[m.ks+1 : m.ke-1] }

func (b *Body) is(m *member, key string) bool {
	k := b.key(m)
	if string(k) == key {
		return true
	}
	// An escape is longer than what it stands for: only a longer key
	// can hold key escaped.
	if len(k) <= len(key) || !containsByte(k, '\\') {
		return false
	}
	var dk string
	return json.Unmarshal(b.raw[m.ks:m.ke], &dk) == nil && dk == key
}

// Value is a JSON value inside a message body. The zero Value is absent:
// every accessor on it returns a zero result.
type Value struct {
	raw []byte
}

// Body is a validated message body with an index of its top-level members.
type Body struct {
	Value
	members []member
}

// scanBody validates data as JSON and indexes the members of a top-level
// object. The error says what is wrong and where.
func scanBody(data []byte, members []member, index bool) (Body, error) {
	s := scanner{data: data}
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '{' {
		var err error
		members, err = s.object(members, index)
		if err != nil {
			return Body{}, err
		}
	} else if err := s.value(); err != nil {
		return Body{}, err
	}
	s.ws()
	if s.i != len(s.data) {
		return Body{}, s.errf("unexpected %s after the JSON value", s.what())
	}
	return Body{Value: Value{raw: data}, members: members}, nil
}

// validJSON reports whether data is one JSON value, like json.Valid, with
// an error saying where it is not.
func validJSON(data []byte) error {
	_, err := scanBody(data, nil, false)
	return err
}

type scanner struct {
	data  []byte
	i     int
	depth int
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{s.i}, args...)...)
}

func (s *scanner) what() string {
	if s.i >= len(s.data) {
		return "end of input"
	}
	return fmt.Sprintf("character %q", s.data[s.i])
}

func (s *scanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value() error {
	if s.i >= len(s.data) {
		return s.errf("unexpected end of input, expecting a value")
	}
	switch c := s.data[s.i]; {
	case c == '{':
		_, err := s.object(nil, false)
		return err
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return s.errf("unexpected %s, expecting a value", s.what())
}

// object scans an object at s.i; when top is set it appends the object's
// members to members.
func (s *scanner) object(members []member, top bool) ([]member, error) {
	s.depth++
	if s.depth > maxDepth {
		return nil, s.errf("nesting deeper than %d", maxDepth)
	}
	s.i++ // {
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		s.depth--
		return members, nil
	}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return nil, s.errf("unexpected %s, expecting an object key", s.what())
		}
		ks := s.i
		if _, err := s.str(); err != nil {
			return nil, err
		}
		ke := s.i
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return nil, s.errf("unexpected %s, expecting ':'", s.what())
		}
		s.i++
		s.ws()
		vs := s.i
		if err := s.value(); err != nil {
			return nil, err
		}
		if top {
			members = append(members, member{ks: uint32(ks), ke: uint32(ke), vs: uint32(vs), ve: uint32(s.i)})
		}
		s.ws()
		if s.i >= len(s.data) {
			return nil, s.errf("unexpected end of input in an object")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
			continue
		case '}':
			s.i++
			s.depth--
			return members, nil
		}
		return nil, s.errf("unexpected %s, expecting ',' or '}'", s.what())
	}
}

func (s *scanner) array() error {
	s.depth++
	if s.depth > maxDepth {
		return s.errf("nesting deeper than %d", maxDepth)
	}
	s.i++ // [
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.data) {
			return s.errf("unexpected end of input in an array")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
			continue
		case ']':
			s.i++
			s.depth--
			return nil
		}
		return s.errf("unexpected %s, expecting ',' or ']'", s.what())
	}
}

// plain marks the bytes a string can hold without a closer look.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Eight bytes at a time: every byte of these words, and the high bit of
// each byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns the index of the first byte from i on that is not
// plain, looking at eight bytes at a time, or where fewer than eight are
// left: the text fields of bus messages are long runs of plain bytes, their
// keys short ones, and the body is scanned whole once per message.
func plainRun(d []byte, i int) int {
	for i+8 <= len(d) {
		x := binary.LittleEndian.Uint64(d[i:])
		q := x ^ (ones * '"')
		b := x ^ (ones * '\\')
		// A byte below 0x20, or a zero byte of q or b (a quote or a
		// backslash), sets its high bit here (bytes from 0x80 on never do).
		// A borrow may set bits above the first such byte too, never
		// below it: the lowest bit set is that byte's.
		if m := ((x - ones*0x20) | (q - ones) | (b - ones)) &^ x & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	return i
}

// str scans a string at s.i and reports whether it had escapes.
func (s *scanner) str() (escaped bool, err error) {
	s.i++ // "
	for s.i < len(s.data) {
		s.i = plainRun(s.data, s.i)
		for s.i < len(s.data) && plain[s.data[s.i]] {
			s.i++
		}
		if s.i >= len(s.data) {
			break
		}
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.data) {
				return false, s.errf("unexpected end of input in a string escape")
			}
			switch s.data[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for k := 0; k < 4; k++ {
					if s.i >= len(s.data) || !isHex(s.data[s.i]) {
						return false, s.errf("invalid \\u escape in a string")
					}
					s.i++
				}
			default:
				return false, s.errf("invalid escape %q in a string", s.data[s.i])
			}
		case c < 0x20:
			return false, s.errf("control character %q in a string", c)
		default:
			s.i++
		}
	}
	return false, s.errf("unexpected end of input in a string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() error {
	if s.data[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.data) {
		return s.errf("unexpected end of input in a number")
	}
	switch c := s.data[s.i]; {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.errf("unexpected %s in a number", s.what())
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.errf("unexpected %s after a decimal point", s.what())
		}
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.errf("unexpected %s in an exponent", s.what())
		}
	}
	return nil
}

func (s *scanner) lit(word string) error {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return s.errf("unexpected %s, expecting %s", s.what(), word)
	}
	s.i += len(word)
	return nil
}

// skip returns the end of the already-validated value starting at data[i].
func skip(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// skipString returns the end of the string starting at data[i], finding
// quotes with IndexByte and telling escaped ones by the backslashes
// before them.
func skipString(data []byte, i int) int {
	i++
	for {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return len(data)
		}
		i += q
		bs := 0
		for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
			bs++
		}
		i++
		if bs%2 == 0 {
			return i
		}
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Get returns the member of a top-level object by key, or of nested
// objects by a path of keys. When a key occurs twice the last one counts,
// as with encoding/json.
func (b Body) Get(path ...string) Value {
	if len(path) == 0 {
		return b.Value
	}
	var v Value
	for i := len(b.members) - 1; i >= 0; i-- {
		if m := &b.members[i]; b.is(m, path[0]) {
			v = Value{raw: b.raw[m.vs:m.ve]}
			break
		}
	}
	return v.Get(path[1:]...)
}

// Object indexes the members of an object value once, for several
// lookups; Get on the result is as cheap as on the top-level body. For
// anything but an object it returns an empty Body.
func (v Value) Object() Body {
	d := v.raw
	if len(d) == 0 || d[0] != '{' {
		return Body{}
	}
	return Body{Value: v, members: appendMembers(make([]member, 0, 8), d)}
}

// appendMembers appends the members of the object d to members.
func appendMembers(members []member, d []byte) []member {
	i := skipWS(d, 1)
	for i < len(d) && d[i] == '"' {
		ks := i
		i = skipString(d, i)
		ke := i
		i = skipWS(d, i)
		i = skipWS(d, i+1) // ':'
		vs := i
		i = skip(d, i)
		members = append(members, member{ks: uint32(ks), ke: uint32(ke), vs: uint32(vs), ve: uint32(i)})
		i = skipWS(d, i)
		if i < len(d) && d[i] == ',' {
			i = skipWS(d, i+1)
		}
	}
	return members
}

// Raw returns the value's JSON text (nil when absent).
func (v Value) Raw() json.RawMessage { return v.raw }

// Exists reports whether the value is present (it may be null).
func (v Value) Exists() bool { return len(v.raw) > 0 }

// IsNull reports whether the value is JSON null.
func (v Value) IsNull() bool { return string(v.raw) == "null" }

// Get looks up a path of keys through nested objects.
func (v Value) Get(path ...string) Value {
	for _, key := range path {
		v = v.member(key)
		if v.raw == nil {
			return v
		}
	}
	return v
}

func (v Value) member(key string) Value {
	d := v.raw
	if len(d) == 0 || d[0] != '{' {
		return Value{}
	}
	var found Value
	i := skipWS(d, 1)
	for i < len(d) && d[i] == '"' {
		ks := i
		i = skip(d, i)
		match := false
		if k := d[ks+1 : i-1]; string(k) == key {
			match = true
		} else if len(k) > len(key) && containsByte(k, '\\') {
			var dk string
			if json.Unmarshal(d[ks:i], &dk) == nil && dk == key {
				match = true
			}
		}
		i = skipWS(d, i)
		i = skipWS(d, i+1) // ':'
		vs := i
		i = skip(d, i)
		if match {
			found = Value{raw: d[vs:i]} // keep looking: the last one counts
		}
		i = skipWS(d, i)
		if i < len(d) && d[i] == ',' {
			i = skipWS(d, i+1)
		}
	}
	return found
}

// containsByte is bytes.IndexByte's vectorised search: every string read
// from a body is checked for escapes with it.
func containsByte(b []byte, c byte) bool { return bytes.IndexByte(b, c) >= 0 }

// Str returns the value as a string; "" when it is not a JSON string.
func (v Value) Str() string {
	s, _ := v.StrOK()
	return s
}

// StrOK returns the value as a string and whether it is a JSON string.
func (v Value) StrOK() (string, bool) {
	d := v.raw
	if len(d) < 2 || d[0] != '"' {
		return "", false
	}
	if !containsByte(d, '\\') {
		return string(d[1 : len(d)-1]), true
	}
	var s string
	if json.Unmarshal(d, &s) != nil {
		return "", false
	}
	return s, true
}

// Int returns the value as an integer when it is a JSON number with an
// integral value, or a string holding one.
func (v Value) Int() (int64, bool) {
	d := v.raw
	if len(d) == 0 {
		return 0, false
	}
	if d[0] == '"' {
		s, _ := v.StrOK()
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if n, err := strconv.ParseInt(string(d), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(d), 64)
	if err != nil || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

// Bool returns the value as a boolean when it is true or false.
func (v Value) Bool() (val, ok bool) {
	switch string(v.raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// Text renders a scalar for display: a string as itself, a number or
// boolean as its JSON text; "" for null, arrays, objects and absence.
func (v Value) Text() string {
	d := v.raw
	if len(d) == 0 {
		return ""
	}
	switch d[0] {
	case '"':
		return v.Str()
	case '{', '[', 'n':
		return ""
	}
	return string(d)
}

// Each calls fn for every element of an array, in order, until fn returns
// false.
func (v Value) Each(fn func(Value) bool) {
	d := v.raw
	if len(d) == 0 || d[0] != '[' {
		return
	}
	i := skipWS(d, 1)
	for i < len(d) && d[i] != ']' {
		s := i
		i = skip(d, i)
		if !fn(Value{raw: d[s:i]}) {
			return
		}
		i = skipWS(d, i)
		if i < len(d) && d[i] == ',' {
			i = skipWS(d, i+1)
		}
	}
}

// Len returns the number of elements of an array (0 for anything else).
func (v Value) Len() int {
	n := 0
	v.Each(func(Value) bool { n++; return true })
	return n
}

// Index returns the i-th element of an array; a negative i counts from the
// end (-1 is the last).
func (v Value) Index(i int) Value {
	if i < 0 {
		i += v.Len()
		if i < 0 {
			return Value{}
		}
	}
	var found Value
	k := 0
	v.Each(func(e Value) bool {
		if k == i {
			found = e
			return false
		}
		k++
		return true
	})
	return found
}

// Strings returns the non-empty strings of an array; other elements are
// skipped.
func (v Value) Strings() []string {
	var out []string
	v.Each(func(e Value) bool {
		if s := e.Str(); s != "" {
			out = append(out, s)
		}
		return true
	})
	return out
}
