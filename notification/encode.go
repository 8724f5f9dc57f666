package notification

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/internal/jsonenc"
)

// A notification travels on NOTIFY as the JSON of Notification, and its
// readers (senders, the live feed, statistics, replay) decode it with
// encoding/json. Encoding it is a large share of the matcher's CPU: with
// encoding/json, a notification costs a reflective walk, a sort of the
// email headers map and a copy of the result. Marshal writes the same bytes
// directly. It is used only while Notification and Email have exactly the
// fields it was written for (checked once, by reflection); any change to
// them makes it fall back to encoding/json, so the wire form can never
// drift. encode_test.go checks the fast path is on and byte-identical to
// json.Marshal; BenchmarkMarshal measures it.

// fastEncoding is whether the hand-written encoder matches the types.
var fastEncoding = notificationLayoutMatches()

type fieldSpec struct {
	name, tag string
	typ       reflect.Type
}

func notificationLayoutMatches() bool {
	str, i64, in, tm := reflect.TypeFor[string](), reflect.TypeFor[int64](), reflect.TypeFor[int](), reflect.TypeFor[time.Time]()
	strs := reflect.TypeFor[[]string]()
	return layoutIs(reflect.TypeFor[Notification](), []fieldSpec{
		{"ID", `json:"id"`, str},
		{"MessageID", `json:"message_id"`, str},
		{"Topic", `json:"topic"`, str},
		{"Protocol", `json:"protocol"`, str},
		{"Address", `json:"address"`, str},
		{"User", `json:"user"`, str},
		{"RuleID", `json:"rule_id"`, i64},
		{"RuleIDs", `json:"rule_ids"`, reflect.TypeFor[[]int64]()},
		{"App", `json:"app,omitempty"`, str},
		{"Severity", `json:"severity"`, in},
		{"SentAt", `json:"sent_at"`, tm},
		{"Summary", `json:"summary"`, str},
		{"Text", `json:"text,omitempty"`, str},
		{"URL", `json:"url,omitempty"`, str},
		{"CreatedAt", `json:"created_at"`, tm},
		{"Meta", `json:"meta,omitempty"`, reflect.TypeFor[*Meta]()},
		{"Email", `json:"email,omitempty"`, reflect.TypeFor[*Email]()},
		{"Line", `json:"line,omitempty"`, str},
	}) && layoutIs(reflect.TypeFor[Email](), []fieldSpec{
		{"Subject", `json:"subject"`, str},
		{"Body", `json:"body"`, str},
		{"Headers", `json:"headers"`, reflect.TypeFor[map[string]string]()},
		{"PatchURL", `json:"patch_url,omitempty"`, str},
	}) && layoutIs(reflect.TypeFor[Meta](), []fieldSpec{
		{"Agent", `json:"agent,omitempty"`, str},
		{"Usernames", `json:"usernames,omitempty"`, strs},
		{"Groups", `json:"groups,omitempty"`, strs},
		{"Packages", `json:"packages,omitempty"`, strs},
		{"Containers", `json:"containers,omitempty"`, strs},
		{"Modules", `json:"modules,omitempty"`, strs},
		{"Flatpaks", `json:"flatpaks,omitempty"`, strs},
		{"NumUsernames", `json:"num_usernames,omitempty"`, in},
		{"NumGroups", `json:"num_groups,omitempty"`, in},
		{"NumPackages", `json:"num_packages,omitempty"`, in},
		{"NumContainers", `json:"num_containers,omitempty"`, in},
		{"NumModules", `json:"num_modules,omitempty"`, in},
		{"NumFlatpaks", `json:"num_flatpaks,omitempty"`, in},
	}) && !reflect.PointerTo(reflect.TypeFor[Notification]()).Implements(reflect.TypeFor[json.Marshaler]()) &&
		!reflect.PointerTo(reflect.TypeFor[Email]()).Implements(reflect.TypeFor[json.Marshaler]()) &&
		!reflect.PointerTo(reflect.TypeFor[Meta]()).Implements(reflect.TypeFor[json.Marshaler]())
}

func layoutIs(t reflect.Type, want []fieldSpec) bool {
	if t.Kind() != reflect.Struct || t.NumField() != len(want) {
		return false
	}
	for i, w := range want {
		f := t.Field(i)
		if f.Name != w.name || string(f.Tag) != w.tag || f.Type != w.typ || f.Anonymous {
			return false
		}
	}
	return true
}

// Marshal is json.Marshal(n), faster: the form of n on NOTIFY.
func Marshal(n *Notification) ([]byte, error) {
	if !fastEncoding || !jsonTime(n.SentAt) || !jsonTime(n.CreatedAt) {
		return json.Marshal(n)
	}
	// One allocation in the usual case: the fields, their names and
	// quotes, and some room for escapes.
	size := len(n.ID) + len(n.MessageID) + len(n.Topic) + len(n.Protocol) + len(n.Address) + len(n.User) + len(n.App) +
		len(n.Summary) + len(n.Text) + len(n.URL) + len(n.Line) + 20*len(n.RuleIDs)
	if e := n.Email; e != nil {
		size += len(e.Subject) + len(e.Body) + len(e.PatchURL) + 6*len(e.Headers)
		for k, v := range e.Headers {
			size += len(k) + len(v)
		}
	}
	if m := n.Meta; m != nil {
		size += 12 + len(m.Agent)
		for _, l := range [...][]string{m.Usernames, m.Groups, m.Packages, m.Containers, m.Modules, m.Flatpaks} {
			if len(l) > 0 {
				size += 40 + 3*len(l) // key, count and quotes
				for _, s := range l {
					size += len(s)
				}
			}
		}
	}
	size += size/4 + 320 // room for escapes: JSON dumps in texts are full of quotes
	return appendNotification(make([]byte, 0, size), n), nil
}

// AppendMarshal is Marshal appending to dst, for a caller that reuses
// buffers.
func AppendMarshal(dst []byte, n *Notification) ([]byte, error) {
	if !fastEncoding || !jsonTime(n.SentAt) || !jsonTime(n.CreatedAt) {
		data, err := json.Marshal(n)
		return append(dst, data...), err
	}
	return appendNotification(dst, n), nil
}

func appendNotification(b []byte, n *Notification) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, n.ID)
	b = append(b, `,"message_id":`...)
	b = appendJSONString(b, n.MessageID)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, n.Topic)
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, n.Protocol)
	b = append(b, `,"address":`...)
	b = appendJSONString(b, n.Address)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, n.User)
	b = appendRuleIDs(b, n.RuleID, n.RuleIDs)
	b = appendMessageFields(b, n)
	if n.Meta != nil {
		b = appendMeta(b, n.Meta)
	}
	if e := n.Email; e != nil {
		b = append(b, `,"email":{"subject":`...)
		b = appendJSONString(b, e.Subject)
		b = append(b, `,"body":`...)
		b = appendJSONString(b, e.Body)
		b = append(b, `,"headers":`...)
		if e.Headers == nil {
			b = append(b, "null"...)
		} else {
			var buf [16]string
			keys := buf[:0]
			for k := range e.Headers {
				keys = append(keys, k)
			}
			// encoding/json orders map keys by their string value.
			slices.Sort(keys)
			b = append(b, '{')
			for i, k := range keys {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, k)
				b = append(b, ':')
				b = appendJSONString(b, e.Headers[k])
			}
			b = append(b, '}')
		}
		if e.PatchURL != "" {
			b = append(b, `,"patch_url":`...)
			b = appendJSONString(b, e.PatchURL)
		}
		b = append(b, '}')
	}
	if n.Line != "" {
		b = append(b, `,"line":`...)
		b = appendJSONString(b, n.Line)
	}
	return append(b, '}')
}

// appendRuleIDs appends rule_id and rule_ids.
func appendRuleIDs(b []byte, ruleID int64, ids []int64) []byte {
	b = append(b, `,"rule_id":`...)
	b = strconv.AppendInt(b, ruleID, 10)
	b = append(b, `,"rule_ids":`...)
	if ids == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return append(b, ']')
}

// appendMessageFields appends the fields that follow rule_ids, which come
// from the bus message and the time of rendering: app to created_at.
func appendMessageFields(b []byte, n *Notification) []byte {
	if n.App != "" {
		b = append(b, `,"app":`...)
		b = appendJSONString(b, n.App)
	}
	b = append(b, `,"severity":`...)
	b = strconv.AppendInt(b, int64(n.Severity), 10)
	b = append(b, `,"sent_at":"`...)
	b = n.SentAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","summary":`...)
	b = appendJSONString(b, n.Summary)
	if n.Text != "" {
		b = append(b, `,"text":`...)
		b = appendJSONString(b, n.Text)
	}
	if n.URL != "" {
		b = append(b, `,"url":`...)
		b = appendJSONString(b, n.URL)
	}
	b = append(b, `,"created_at":"`...)
	b = n.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendMeta(b []byte, m *Meta) []byte {
	b = append(b, `,"meta":{`...)
	start := len(b)
	sep := func(b []byte) []byte {
		if len(b) > start {
			b = append(b, ',')
		}
		return b
	}
	if m.Agent != "" {
		b = append(b, `"agent":`...)
		b = appendJSONString(b, m.Agent)
	}
	lists := [...]struct {
		key   string
		names []string
	}{
		{`"usernames":[`, m.Usernames}, {`"groups":[`, m.Groups}, {`"packages":[`, m.Packages},
		{`"containers":[`, m.Containers}, {`"modules":[`, m.Modules}, {`"flatpaks":[`, m.Flatpaks},
	}
	for _, l := range lists {
		if len(l.names) == 0 {
			continue
		}
		b = append(sep(b), l.key...)
		for i, s := range l.names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	nums := [...]struct {
		key string
		n   int
	}{
		{`"num_usernames":`, m.NumUsernames}, {`"num_groups":`, m.NumGroups}, {`"num_packages":`, m.NumPackages},
		{`"num_containers":`, m.NumContainers}, {`"num_modules":`, m.NumModules}, {`"num_flatpaks":`, m.NumFlatpaks},
	}
	for _, x := range nums {
		if x.n != 0 {
			b = append(sep(b), x.key...)
			b = strconv.AppendInt(b, int64(x.n), 10)
		}
	}
	return append(b, '}')
}

// jsonTime reports whether t encodes as time.Time.MarshalJSON does with
// AppendFormat(RFC3339Nano): a four-digit year and an offset within a day.
// Other times go to encoding/json, which reports the error.
func jsonTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off > -24*3600 && off < 24*3600
}

// appendJSONString is encoding/json's string encoding with HTML escaping
// (json.Marshal's default), so that the fast encoding's bytes are
// encoding/json's.
func appendJSONString(dst []byte, s string) []byte {
	return jsonenc.AppendString(dst, s, jsonenc.HTML)
}
