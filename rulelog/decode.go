package rulelog

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
)

// decodeApplied decodes an event for the projector: as DecodeEvent does,
// but with the rule's generation rules left undecoded (ev.Rule's
// GenerationRules is nil) and returned as gen, the JSON the
// generation_rules column takes, which is what ruleColumns would encode.
//
// Decoding was a fifth of the projector's CPU, most of it encoding/json
// walking the generation rules into structs only to encode them again. The
// events fmn itself appends are json.Marshal's output, so a strict decoder
// of that shape reads nearly all of them; whatever it does not read exactly
// as encoding/json would (escapes, unknown or differently cased keys,
// duplicates, whitespace or other encodings inside the generation rules,
// settings) goes to DecodeEvent, so the result never differs.
func decodeApplied(subject string, header nats.Header, data []byte) (ev Event, gen json.RawMessage, err error) {
	user, err := subjectUser(subject)
	if err != nil {
		return ev, nil, err
	}
	if gen, ok := fastEvent(data, &ev); ok {
		ev.User = user
		if err := ev.check(subject, header); err != nil {
			return ev, nil, err
		}
		return ev, gen, nil
	}
	ev, err = DecodeEvent(subject, header, data)
	if err != nil || ev.Rule == nil {
		return ev, nil, err
	}
	_, gen, err = ruleColumns(ev.Rule)
	ev.Rule.GenerationRules = nil
	return ev, gen, err
}

// emptyGen is the column of a rule without generation rules.
var emptyGen = json.RawMessage("[]")

// fastEvent decodes data into ev (which must be zero) when it is an event
// as json.Marshal writes one, and returns the rule's generation rules as
// the column takes them. It reports false for anything else: ev is then
// garbage.
func fastEvent(data []byte, ev *Event) (gen json.RawMessage, ok bool) {
	d := decoder{b: data}
	var seen uint8
	ok = d.object(func(key []byte) bool {
		var bit uint8
		switch string(key) {
		case "type":
			bit = 1
			ev.Type, ok = d.str()
		case "user":
			bit = 2
			ev.User, ok = d.str()
		case "rule_id":
			bit = 4
			ev.RuleID, ok = d.int()
		case "rule":
			bit = 8
			if d.null() {
				ev.Rule, ok = nil, true
				break
			}
			ev.Rule = &rules.Rule{}
			gen, ok = d.rule(ev.Rule)
		case "actor":
			bit = 16
			ev.Actor, ok = d.str()
		case "request_id":
			bit = 32
			ev.RequestID, ok = d.str()
		case "time":
			bit = 64
			start := d.i
			if _, ok = d.str(); ok {
				ok = ev.Time.UnmarshalJSON(d.b[start:d.i]) == nil
			}
		default:
			// settings, and keys encoding/json matches case-insensitively
			// or skips.
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return ok
	})
	if !ok || !d.end() {
		return nil, false
	}
	if ev.Rule != nil && gen == nil {
		gen = emptyGen
	}
	return gen, true
}

// decoder reads the JSON in b from i on. Its methods report false for
// what they do not read exactly as encoding/json would.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// end says whether only whitespace is left.
func (d *decoder) end() bool {
	d.ws()
	return d.i == len(d.b)
}

// lit reads the literal s (a token) after whitespace.
func (d *decoder) lit(s string) bool {
	d.ws()
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *decoder) null() bool { return d.lit("null") }

// object reads an object, calling field after each key with the decoder
// at the key's value, which field must read.
func (d *decoder) object(field func(key []byte) bool) bool {
	if !d.lit("{") {
		return false
	}
	if d.lit("}") {
		return true
	}
	for {
		d.ws()
		key, ok := d.raw()
		if !ok || !d.lit(":") || !field(key) {
			return false
		}
		if d.lit("}") {
			return true
		}
		if !d.lit(",") {
			return false
		}
	}
}

// raw reads a string without escapes and returns its bytes, which must be
// valid UTF-8 (encoding/json replaces invalid bytes).
func (d *decoder) raw() ([]byte, bool) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	ascii := true
	for i := start; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			s := d.b[start:i]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			d.i = i + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (d *decoder) str() (string, bool) {
	s, ok := d.raw()
	return string(s), ok
}

// knownStr is str for the strings of generation rules: the known ones
// (protocols, severities) are not allocated again.
func (d *decoder) knownStr() (string, bool) {
	b, ok := d.raw()
	if !ok {
		return "", false
	}
	if s, ok := known[string(b)]; ok {
		return s, true
	}
	return string(b), true
}

// int reads an integer that fits an int64, written as JSON writes it.
func (d *decoder) int() (int64, bool) {
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || (d.b[digits] == '0' && d.i > digits+1) {
		return 0, false
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	return n, err == nil
}

func (d *decoder) bool() (bool, bool) {
	if d.lit("true") {
		return true, true
	}
	return false, d.lit("false")
}

// rule reads a rule but for its generation rules, which it returns as
// they are when json.Marshal would write them so (nil when absent).
func (d *decoder) rule(r *rules.Rule) (gen json.RawMessage, ok bool) {
	var seen uint8
	ok = d.object(func(key []byte) bool {
		var bit uint8
		switch string(key) {
		case "id":
			bit = 1
			r.ID, ok = d.int()
		case "name":
			bit = 2
			r.Name, ok = d.str()
		case "disabled":
			bit = 4
			r.Disabled, ok = d.bool()
		case "user":
			bit = 8
			named := false
			ok = d.object(func(key []byte) bool {
				if string(key) != "name" || named {
					return false
				}
				named = true
				var ok bool
				r.User.Name, ok = d.str()
				return ok
			})
		case "tracking_rule":
			bit = 16
			var tseen uint8
			ok = d.object(func(key []byte) bool {
				var ok bool
				switch {
				case string(key) == "name" && tseen&1 == 0:
					tseen |= 1
					r.TrackingRule.Name, ok = d.str()
				case string(key) == "params" && tseen&2 == 0:
					tseen |= 2
					d.ws()
					start := d.i
					if ok = d.value(); ok {
						r.TrackingRule.Params = append(json.RawMessage(nil), d.b[start:d.i]...)
					}
				}
				return ok
			})
		case "generation_rules":
			bit = 32
			d.ws()
			start := d.i
			if d.null() {
				gen, ok = emptyGen, true
				break
			}
			if ok = d.genRules(); ok {
				gen = append(json.RawMessage(nil), d.b[start:d.i]...)
			}
		case "generated_last_week":
			bit = 64
			r.GeneratedLastWeek, ok = d.int()
		case "origin":
			bit = 128
			r.Origin, ok = d.str()
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return ok
	})
	return gen, ok
}

// The generation rules are taken as they are only in the exact form
// json.Marshal gives a []rules.GenerationRule: no whitespace, fields in
// order, strings that it would not escape.

func (d *decoder) genRules() bool {
	return d.list(func() bool {
		return d.exact(`{"destinations":`) && d.list(d.destination) &&
			d.exact(`,"filters":{"applications":`) && d.list(d.canonical) &&
			d.exact(`,"excluded_applications":`) && d.list(d.canonical) &&
			d.exact(`,"severities":`) && d.list(d.canonical) &&
			d.exact(`,"topic":`) && (d.exact("null") || d.canonical()) &&
			d.exact(`,"my_actions":`) && (d.exact("true") || d.exact("false")) &&
			d.exact(`}}`)
	})
}

func (d *decoder) destination() bool {
	return d.exact(`{"protocol":`) && d.canonical() && d.exact(`,"address":`) && d.canonical() && d.exact(`}`)
}

// exact reads s, with no whitespace before it.
func (d *decoder) exact(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// list reads null or a compact array of items.
func (d *decoder) list(item func() bool) bool {
	if d.exact("null") {
		return true
	}
	if !d.exact("[") {
		return false
	}
	if d.exact("]") {
		return true
	}
	for {
		if !item() {
			return false
		}
		if d.exact("]") {
			return true
		}
		if !d.exact(",") {
			return false
		}
	}
}

// canonical reads a string as json.Marshal writes it when it escapes
// nothing: no quote, backslash, control character, <, > or &, valid UTF-8
// and neither U+2028 nor U+2029.
func (d *decoder) canonical() bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	for i := d.i + 1; i < len(d.b); {
		c := d.b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				d.i = i + 1
				return true
			case c < 0x20 || c == '\\' || c == '<' || c == '>' || c == '&':
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(d.b[i:])
		if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += n
	}
	return false
}

// value reads any JSON value (after whitespace) as strictly as
// encoding/json checks one.
func (d *decoder) value() bool {
	d.ws()
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(func([]byte) bool { return d.value() })
	case c == '[':
		// Not d.array(d.value): a method value in this recursion would
		// be allocated for every array.
		d.i++
		if d.lit("]") {
			return true
		}
		for {
			if !d.value() {
				return false
			}
			if d.lit("]") {
				return true
			}
			if !d.lit(",") {
				return false
			}
		}
	case c == '"':
		return d.anyString()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	default:
		return d.lit("true") || d.lit("false") || d.null()
	}
}

// anyString reads a string with any escapes, as encoding/json's scanner
// accepts them.
func (d *decoder) anyString() bool {
	for i := d.i + 1; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			d.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(d.b) {
				return false
			}
			switch d.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d.b) {
					return false
				}
				for _, h := range d.b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

// number reads a JSON number.
func (d *decoder) number() bool {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
