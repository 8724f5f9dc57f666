package api

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/internal/jsonenc"
)

// jsonFormat is huma's JSON format, except that rules, the API's most read
// answer, are written by hand: encoding/json's reflection was a sixth of
// the CPU of GET /users/{u}/rules. The bytes are the ones encoding/json
// writes with HTML left unescaped, as huma's format has it
// (TestRuleEncoding compares them); anything else, or a rule whose params
// are not valid JSON, goes to huma's format.
var jsonFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		bp := encodeBuffers.Get().(*[]byte)
		b, ok := *bp, false
		defer func() {
			if cap(b) <= 1<<20 {
				*bp = b[:0]
				encodeBuffers.Put(bp)
			}
		}()
		switch body := v.(type) {
		case []Rule:
			b, ok = appendRules(b[:0], body)
		case Rule:
			b, ok = appendRule(b[:0], &body)
		}
		if !ok {
			return huma.DefaultJSONFormat.Marshal(w, v)
		}
		b = append(b, '\n')
		if l, ok := w.(interface{ setLength(int) }); ok {
			l.setLength(len(b))
		}
		_, err := w.Write(b)
		return err
	},
	Unmarshal: huma.DefaultJSONFormat.Unmarshal,
}

var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

func appendRules(b []byte, list []Rule) ([]byte, bool) {
	if list == nil {
		return append(b, "null"...), true
	}
	b = append(b, '[')
	for i := range list {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendRule(b, &list[i]); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

// appendRule writes r as encoding/json does: the fields in order, nil
// pointers and slices as null, omitempty fields left out when nil.
func appendRule(b []byte, r *Rule) ([]byte, bool) {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"name":`...)
	b = appendStringPtr(b, r.Name)
	b = append(b, `,"disabled":`...)
	b = strconv.AppendBool(b, r.Disabled)
	b = append(b, `,"user":{"id":`...)
	if r.User.ID == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *r.User.ID, 10)
	}
	b = append(b, `,"name":`...)
	b = appendString(b, r.User.Name)
	b = append(b, `,"is_admin":`...)
	b = strconv.AppendBool(b, r.User.IsAdmin)
	b = append(b, `},"tracking_rule":{"name":`...)
	b = appendString(b, r.TrackingRule.Name)
	b = append(b, `,"params":`...)
	if r.TrackingRule.Params == nil {
		b = append(b, "null"...)
	} else {
		// encoding/json compacts a RawMessage, and refuses an invalid one.
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, r.TrackingRule.Params); err != nil {
			return b, false
		}
		b = buf.Bytes()
	}
	b = append(b, `},"generation_rules":`...)
	if r.GenerationRules == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.GenerationRules {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendGenerationRule(b, &r.GenerationRules[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"generated_last_week":`...)
	b = strconv.AppendInt(b, r.GeneratedLastWeek, 10)
	if r.Origin != nil {
		b = append(b, `,"origin":`...)
		b = appendString(b, *r.Origin)
	}
	return append(b, '}'), true
}

func appendGenerationRule(b []byte, g *GenerationRule) []byte {
	b = append(b, '{')
	if g.ID != nil {
		b = append(b, `"id":`...)
		b = strconv.AppendInt(b, *g.ID, 10)
		b = append(b, ',')
	}
	b = append(b, `"destinations":`...)
	if g.Destinations == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, d := range g.Destinations {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"protocol":`...)
			b = appendString(b, d.Protocol)
			b = append(b, `,"address":`...)
			b = appendString(b, d.Address)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	f := &g.Filters
	b = append(b, `,"filters":{"applications":`...)
	b = appendStrings(b, f.Applications)
	b = append(b, `,"excluded_applications":`...)
	b = appendStrings(b, f.ExcludedApplications)
	b = append(b, `,"severities":`...)
	b = appendStrings(b, f.Severities)
	b = append(b, `,"topic":`...)
	b = appendStringPtr(b, f.Topic)
	b = append(b, `,"my_actions":`...)
	b = strconv.AppendBool(b, f.MyActions)
	return append(b, "}}"...)
}

func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendString quotes s as huma writes strings: encoding/json's escaping
// without HTML escaping.
func appendString(b []byte, s string) []byte {
	return jsonenc.AppendString(b, s, jsonenc.NoHTML)
}
