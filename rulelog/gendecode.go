package rulelog

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/fmn-project/fmn/rules"
)

// decodeGenerationRules decodes a rule's generation_rules column. Every
// rule read decodes one (GET /users/{u}/rules twenty at a time, a
// consumer's start every rule), and encoding/json spent more there than
// the query itself. The column holds what ruleColumns wrote, printed by
// PostgreSQL's jsonb: a small scanner reads that form, and anything it
// does not expect (another key, a duplicate, an escape, another type) goes
// to encoding/json, so the result is always encoding/json's.
func decodeGenerationRules(data []byte) ([]rules.GenerationRule, error) {
	d := genDecoder{data: data}
	if gen, ok := d.rules(); ok {
		return gen, nil
	}
	var gen []rules.GenerationRule
	err := json.Unmarshal(data, &gen)
	return gen, err
}

// genDecoder reads generation rules as encoding/json would into
// []rules.GenerationRule; a method answers ok false as soon as the input
// leaves the form it knows, and the caller then falls back.
type genDecoder struct {
	data []byte
	i    int
}

func (d *genDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and says whether c comes next, consuming it.
func (d *genDecoder) next(c byte) bool {
	d.space()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// null consumes a null.
func (d *genDecoder) null() bool {
	d.space()
	if len(d.data)-d.i >= 4 && string(d.data[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// raw reads a string without escapes and returns its bytes (valid UTF-8,
// which encoding/json leaves as they are).
func (d *genDecoder) raw() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.data) {
		switch c := d.data[d.i]; {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// known are strings that come back in every rule: they are not allocated
// again.
var known = map[string]string{
	"email": "email", "irc": "irc", "matrix": "matrix", "sse": "sse",
	"debug": "debug", "info": "info", "warning": "warning", "error": "error",
}

func (d *genDecoder) str() (string, bool) {
	b, ok := d.raw()
	if !ok {
		return "", false
	}
	if s, ok := known[string(b)]; ok {
		return s, true
	}
	return string(b), true
}

// object reads an object whose keys field handles (false: unknown key or
// bad value). A key given twice falls back: encoding/json merges them.
func (d *genDecoder) object(field func(key []byte) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	var (
		seen [8][]byte
		n    int
	)
	for {
		key, ok := d.raw()
		if !ok || !d.next(':') || n == len(seen) {
			return false
		}
		for _, k := range seen[:n] {
			if string(k) == string(key) {
				return false
			}
		}
		seen[n], n = key, n+1
		if !field(key) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

// array reads an array, elem reading each element; null is a nil slice
// (empty says whether the array had none).
func (d *genDecoder) array(elem func() bool) (isNull, ok bool) {
	if d.null() {
		return true, true
	}
	if !d.next('[') {
		return false, false
	}
	if d.next(']') {
		return false, true
	}
	for {
		if !elem() {
			return false, false
		}
		if d.next(']') {
			return false, true
		}
		if !d.next(',') {
			return false, false
		}
	}
}

func (d *genDecoder) rules() ([]rules.GenerationRule, bool) {
	var gen []rules.GenerationRule
	isNull, ok := d.array(func() bool {
		var g rules.GenerationRule
		if !d.generationRule(&g) {
			return false
		}
		gen = append(gen, g)
		return true
	})
	if !ok {
		return nil, false
	}
	d.space()
	if d.i != len(d.data) {
		return nil, false
	}
	if !isNull && gen == nil {
		gen = []rules.GenerationRule{}
	}
	return gen, true
}

func (d *genDecoder) generationRule(g *rules.GenerationRule) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "destinations":
			return d.destinations(&g.Destinations)
		case "filters":
			return d.null() || d.filters(&g.Filters)
		}
		return false
	})
}

func (d *genDecoder) destinations(out *[]rules.Destination) bool {
	var list []rules.Destination
	isNull, ok := d.array(func() bool {
		var dst rules.Destination
		ok := d.object(func(key []byte) bool {
			var ok bool
			switch string(key) {
			case "protocol":
				dst.Protocol, ok = d.str()
			case "address":
				dst.Address, ok = d.str()
			}
			return ok
		})
		list = append(list, dst)
		return ok
	})
	if ok && !isNull && list == nil {
		list = []rules.Destination{}
	}
	*out = list
	return ok
}

func (d *genDecoder) filters(f *rules.Filters) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "applications":
			return d.strings(&f.Applications)
		case "excluded_applications":
			return d.strings(&f.ExcludedApplications)
		case "severities":
			return d.strings(&f.Severities)
		case "topic":
			if d.null() {
				f.Topic = nil
				return true
			}
			s, ok := d.str()
			f.Topic = &s
			return ok
		case "my_actions":
			d.space()
			switch {
			case len(d.data)-d.i >= 4 && string(d.data[d.i:d.i+4]) == "true":
				f.MyActions, d.i = true, d.i+4
			case len(d.data)-d.i >= 5 && string(d.data[d.i:d.i+5]) == "false":
				f.MyActions, d.i = false, d.i+5
			default:
				return false
			}
			return true
		}
		return false
	})
}

func (d *genDecoder) strings(out *[]string) bool {
	var list []string
	isNull, ok := d.array(func() bool {
		s, ok := d.str()
		list = append(list, s)
		return ok
	})
	if ok && !isNull && list == nil {
		list = []string{}
	}
	*out = list
	return ok
}
