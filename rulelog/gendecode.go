package rulelog

import (
	"encoding/json"

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
	d := decoder{b: data}
	if gen, ok := d.generationRules(); ok {
		return gen, nil
	}
	var gen []rules.GenerationRule
	err := json.Unmarshal(data, &gen)
	return gen, err
}

// The generation rules' decoder is decoder (decode.go) too, with the
// methods below: each answers ok false as soon as the input leaves the
// form it knows, and decodeGenerationRules then falls back.

// known are strings that come back in every rule: knownStr does not
// allocate them again.
var known = map[string]string{
	"email": "email", "irc": "irc", "matrix": "matrix", "sse": "sse",
	"debug": "debug", "info": "info", "warning": "warning", "error": "error",
}

// uniqueObject is object, but a key given twice falls back: encoding/json
// merges them into a struct.
func (d *decoder) uniqueObject(field func(key []byte) bool) bool {
	var (
		seen [8][]byte
		n    int
	)
	return d.object(func(key []byte) bool {
		if n == len(seen) {
			return false
		}
		for _, k := range seen[:n] {
			if string(k) == string(key) {
				return false
			}
		}
		seen[n], n = key, n+1
		return field(key)
	})
}

// array reads null or an array (whitespace allowed), elem reading each
// element; isNull tells null from an empty array.
func (d *decoder) array(elem func() bool) (isNull, ok bool) {
	if d.null() {
		return true, true
	}
	if !d.lit("[") {
		return false, false
	}
	if d.lit("]") {
		return false, true
	}
	for {
		if !elem() {
			return false, false
		}
		if d.lit("]") {
			return false, true
		}
		if !d.lit(",") {
			return false, false
		}
	}
}

// generationRules reads the whole input as a []rules.GenerationRule.
func (d *decoder) generationRules() ([]rules.GenerationRule, bool) {
	var gen []rules.GenerationRule
	isNull, ok := d.array(func() bool {
		var g rules.GenerationRule
		if !d.generationRule(&g) {
			return false
		}
		gen = append(gen, g)
		return true
	})
	if !ok || !d.end() {
		return nil, false
	}
	if !isNull && gen == nil {
		gen = []rules.GenerationRule{}
	}
	return gen, true
}

func (d *decoder) generationRule(g *rules.GenerationRule) bool {
	return d.uniqueObject(func(key []byte) bool {
		switch string(key) {
		case "destinations":
			return d.destinations(&g.Destinations)
		case "filters":
			return d.null() || d.filters(&g.Filters)
		}
		return false
	})
}

func (d *decoder) destinations(out *[]rules.Destination) bool {
	var list []rules.Destination
	isNull, ok := d.array(func() bool {
		var dst rules.Destination
		ok := d.uniqueObject(func(key []byte) bool {
			var ok bool
			switch string(key) {
			case "protocol":
				dst.Protocol, ok = d.knownStr()
			case "address":
				dst.Address, ok = d.knownStr()
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

func (d *decoder) filters(f *rules.Filters) bool {
	return d.uniqueObject(func(key []byte) bool {
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
			s, ok := d.knownStr()
			f.Topic = &s
			return ok
		case "my_actions":
			var ok bool
			f.MyActions, ok = d.bool()
			return ok
		}
		return false
	})
}

func (d *decoder) strings(out *[]string) bool {
	var list []string
	isNull, ok := d.array(func() bool {
		s, ok := d.knownStr()
		list = append(list, s)
		return ok
	})
	if ok && !isNull && list == nil {
		list = []string{}
	}
	*out = list
	return ok
}
