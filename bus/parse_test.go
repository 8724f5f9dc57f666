package bus

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

const bodhiTopic = "org.fedoraproject.prod.bodhi.update.comment"

// hdr builds headers with a message id and the given key/value pairs.
func hdr(kv ...string) nats.Header {
	h := nats.Header{"Nats-Msg-Id": {"id-1"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = []string{kv[i+1]}
	}
	return h
}

func mustParse(t *testing.T, topic string, h nats.Header, body string) *Parsed {
	t.Helper()
	p, err := ParseNATS("bus."+topic, h, []byte(body))
	if err != nil {
		t.Fatalf("ParseNATS: %v", err)
	}
	return p
}

func TestGenericExtractor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		topic  string
		schema string
		body   string
		want   Parsed // only the extracted fields are compared
	}{
		{
			name: "app_name wins over app and topic", topic: bodhiTopic,
			body: `{"app_name":"Bodhi2","app":"other"}`,
			want: Parsed{App: "Bodhi2"},
		},
		{
			name: "app when no app_name", topic: bodhiTopic,
			body: `{"app":"koji"}`,
			want: Parsed{App: "koji"},
		},
		{
			name: "empty app_name falls through to app", topic: bodhiTopic,
			body: `{"app_name":"","app":"koji"}`,
			want: Parsed{App: "koji"},
		},
		{
			name: "app from the fourth topic token", topic: bodhiTopic,
			body: `{}`,
			want: Parsed{App: "bodhi"},
		},
		{
			name: "four tokens exactly", topic: "org.fedoraproject.prod.fas",
			body: `{}`,
			want: Parsed{App: "fas"},
		},
		{
			name: "short topic has no app", topic: "org.fedoraproject.prod",
			body: `{}`,
			want: Parsed{App: ""},
		},
		{
			name: "single-token topic", topic: "hello",
			body: `{}`,
			want: Parsed{App: ""},
		},
		{
			name: "non-string app_name is ignored", topic: bodhiTopic,
			body: `{"app_name":42}`,
			want: Parsed{App: "bodhi"},
		},
		{
			name: "agent_name wins over agent", topic: bodhiTopic,
			body: `{"agent_name":"alice","agent":"bob"}`,
			want: Parsed{App: "bodhi", Agent: "alice"},
		},
		{
			name: "agent when no agent_name", topic: bodhiTopic,
			body: `{"agent":"bob"}`,
			want: Parsed{App: "bodhi", Agent: "bob"},
		},
		{
			name: "summary, content and url from the body", topic: bodhiTopic,
			body: `{"summary":"S","content":"C","url":"https://example.org/x"}`,
			want: Parsed{App: "bodhi", Summary: "S", Text: "C", URL: "https://example.org/x"},
		},
		{
			name: "escaped strings are decoded", topic: bodhiTopic,
			body: `{"summary":"caf\u00e9 \"quoted\"\nline"}`,
			want: Parsed{App: "bodhi", Summary: "café \"quoted\"\nline"},
		},
		{
			name: "body lists when the headers have none", topic: bodhiTopic,
			body: `{"usernames":["bob","alice","bob"],"packages":["pkg"],"containers":["c"],"modules":["m"],"flatpaks":["f"],"groups":["g"]}`,
			want: Parsed{App: "bodhi", Usernames: []string{"alice", "bob"}, Packages: []string{"pkg"},
				Containers: []string{"c"}, Modules: []string{"m"}, Flatpaks: []string{"f"}, Groups: []string{"g"}},
		},
		{
			name: "non-string list items are skipped", topic: bodhiTopic,
			body: `{"usernames":["alice",3,null,"",{"a":1}],"packages":"notalist"}`,
			want: Parsed{App: "bodhi", Usernames: []string{"alice"}},
		},
		{
			name: "base.message gets the generic extractor whatever the topic", topic: bodhiTopic, schema: "base.message",
			body: `{"comment":{"user":{"name":"zed"}},"agent":"carol"}`,
			want: Parsed{App: "bodhi", Agent: "carol"},
		},
		{
			name: "unknown schema gets the generic extractor", topic: "org.fedoraproject.prod.buildsys.build.state.change", schema: "nobody.knows.v9",
			body: `{"owner":"dan","agent_name":"erin"}`,
			want: Parsed{App: "buildsys", Agent: "erin"},
		},
		{
			name: "a body that is not an object", topic: bodhiTopic,
			body: `[1,2,3]`,
			want: Parsed{App: "bodhi"},
		},
		{
			name: "duplicate keys: the last one counts", topic: bodhiTopic,
			body: `{"agent":"first","agent":"last"}`,
			want: Parsed{App: "bodhi", Agent: "last"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := hdr()
			if tt.schema != "" {
				h[HeaderSchema] = []string{tt.schema}
			}
			p := mustParse(t, tt.topic, h, tt.body)
			want := tt.want
			if want.Summary == "" {
				want.Summary = tt.topic
			}
			got := Parsed{Agent: p.Agent, App: p.App, Summary: p.Summary, Text: p.Text, URL: p.URL,
				Usernames: p.Usernames, Groups: p.Groups, Packages: p.Packages,
				Containers: p.Containers, Modules: p.Modules, Flatpaks: p.Flatpaks}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	t.Run("filter headers", func(t *testing.T) {
		t.Parallel()
		h := hdr(
			"fedora_messaging_user_bob", "true",
			"fedora_messaging_user_alice", "true",
			"fedora_messaging_group_infra", "true",
			"fedora_messaging_rpm_libstdc++", "true",
			"fedora_messaging_container_fedora-toolbox", "true",
			"fedora_messaging_module_nodejs", "true",
			"fedora_messaging_flatpak_firefox", "true",
			"fedora_messaging_user_nobody", "false",
			"fedora_messaging_user_", "true",
			"fedora_messaging_unknownkind_x", "true",
			HeaderSchema, "base.message",
		)
		// The body lists lose to the headers for every kind the headers carry.
		p := mustParse(t, bodhiTopic, h, `{"usernames":["mallory"],"packages":["other"]}`)
		want := map[string][]string{
			"users": {"alice", "bob"}, "groups": {"infra"}, "packages": {"libstdc++"},
			"containers": {"fedora-toolbox"}, "modules": {"nodejs"}, "flatpaks": {"firefox"},
		}
		got := map[string][]string{
			"users": p.Usernames, "groups": p.Groups, "packages": p.Packages,
			"containers": p.Containers, "modules": p.Modules, "flatpaks": p.Flatpaks,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		if p.Schema != "base.message" || p.ID != "id-1" || p.Topic != bodhiTopic {
			t.Errorf("schema/id/topic: %q %q %q", p.Schema, p.ID, p.Topic)
		}
	})
	t.Run("body lists fill the kinds the headers lack", func(t *testing.T) {
		t.Parallel()
		p := mustParse(t, bodhiTopic, hdr("fedora_messaging_user_alice", "true"), `{"usernames":["bob"],"packages":["pkg"]}`)
		if !reflect.DeepEqual(p.Usernames, []string{"alice"}) || !reflect.DeepEqual(p.Packages, []string{"pkg"}) {
			t.Errorf("usernames %v packages %v", p.Usernames, p.Packages)
		}
	})
}

func TestSeverity(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		header string
		set    bool
		want   int
	}{
		{"10", true, SeverityDebug}, {"20", true, SeverityInfo}, {"30", true, SeverityWarning},
		{"40", true, SeverityError}, {"", false, SeverityInfo}, {"", true, SeverityInfo},
		{"high", true, SeverityInfo}, {"25", true, SeverityInfo}, {"50", true, SeverityInfo},
		{"-10", true, SeverityInfo}, {" 40 ", true, SeverityError},
	} {
		h := hdr()
		if tt.set {
			h[HeaderSeverity] = []string{tt.header}
		}
		p := mustParse(t, bodhiTopic, h, `{}`)
		if p.Severity != tt.want {
			t.Errorf("severity %q (set %v) = %d, want %d", tt.header, tt.set, p.Severity, tt.want)
		}
	}
}

func TestSentAt(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	received := utc("2030-01-01T00:00:00Z")
	for _, tt := range []struct {
		header string
		want   time.Time
	}{
		{"2024-05-01T12:30:45+00:00", utc("2024-05-01T12:30:45Z")},
		{"2024-05-01T12:30:45.123456+02:00", utc("2024-05-01T10:30:45.123456Z")},
		{"2024-05-01T12:30:45Z", utc("2024-05-01T12:30:45Z")},
		{"2024-05-01 12:30:45+00:00", utc("2024-05-01T12:30:45Z")},
		{"2024-05-01T12:30:45", utc("2024-05-01T12:30:45Z")},
		{"yesterday", received},
		{"", received},
	} {
		h := hdr()
		if tt.header != "" {
			h[HeaderSentAt] = []string{tt.header}
		}
		p, err := defaultParser.ParseAt("bus."+bodhiTopic, h, []byte(`{}`), received)
		if err != nil {
			t.Fatal(err)
		}
		if !p.SentAt.Equal(tt.want) {
			t.Errorf("sent-at %q = %v, want %v", tt.header, p.SentAt, tt.want)
		}
	}
	p := mustParse(t, bodhiTopic, hdr(), `{}`)
	if !p.SentAt.IsZero() {
		t.Errorf("no sent-at, no received time: %v, want zero", p.SentAt)
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	many := hdr()
	for i := 0; i < 1001; i++ {
		many[fmt.Sprintf("x-%d", i)] = []string{"v"}
	}
	long := hdr(strings.Repeat("n", 300), "v")
	longValue := hdr("x", strings.Repeat("v", 5000))
	tests := []struct {
		name    string
		subject string
		h       nats.Header
		body    string
		reason  string // a substring of the reason
	}{
		{"not JSON", "bus." + bodhiTopic, hdr(), `{"a":`, "not valid JSON"},
		{"not JSON at all", "bus." + bodhiTopic, hdr(), `hello`, "not valid JSON"},
		{"empty body", "bus." + bodhiTopic, hdr(), ``, "not valid JSON"},
		{"trailing garbage", "bus." + bodhiTopic, hdr(), `{} {}`, "not valid JSON"},
		{"no id", "bus." + bodhiTopic, nats.Header{}, `{}`, "no message id"},
		{"nil headers", "bus." + bodhiTopic, nil, `{}`, "no message id"},
		{"huge body", "bus." + bodhiTopic, hdr(), `{"a":"` + strings.Repeat("x", 1<<20) + `"}`, "exceeds the limit"},
		{"too many headers", "bus." + bodhiTopic, many, `{}`, "headers exceed"},
		{"long header name", "bus." + bodhiTopic, long, `{}`, "header name"},
		{"long header value", "bus." + bodhiTopic, longValue, `{}`, "value of 5000 bytes"},
		// Several faults: the id first, then the body's size, then a header.
		{"no id and a long header value", "bus." + bodhiTopic, nats.Header{"x": {strings.Repeat("v", 5000)}}, `{}`, "no message id"},
		{"long id", "bus." + bodhiTopic, nats.Header{"Nats-Msg-Id": {strings.Repeat("i", 5000)}}, `{}`, "message id of 5000 bytes"},
		{"empty id value list", "bus." + bodhiTopic, nats.Header{"Nats-Msg-Id": {}}, `{}`, "no message id"},
		{"huge body and a long header value", "bus." + bodhiTopic, longValue, `{"a":"` + strings.Repeat("x", 1<<20) + `"}`, "body of"},
		{"not a bus subject", "dlq.bus", hdr(), `{}`, "not a bus subject"},
		{"empty topic", "bus.", hdr(), `{}`, "topic is missing"},
		{"empty token", "bus.a..b", hdr(), `{}`, "empty token"},
		{"wildcard", "bus.a.*", hdr(), `{}`, "wildcard"},
		{"deep nesting", "bus." + bodhiTopic, hdr(), strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "nesting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseNATS(tt.subject, tt.h, []byte(tt.body))
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if !strings.Contains(ie.Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", ie.Reason, tt.reason)
			}
		})
	}
	t.Run("configurable body limit", func(t *testing.T) {
		t.Parallel()
		p := Parser{Limits: Limits{MaxBody: 10}}
		if _, err := p.ParseNATS("bus.a.b", hdr(), []byte(`{"a":"0123456789"}`)); !IsInvalid(err) {
			t.Errorf("err = %v, want invalid", err)
		}
		if _, err := p.ParseNATS("bus.a.b", hdr(), []byte(`{"a":1}`)); err != nil {
			t.Errorf("small body: %v", err)
		}
	})
}

func TestKnownApplications(t *testing.T) {
	t.Parallel()
	got := KnownApplications()
	for _, want := range []string{"bodhi", "Copr", "Koji", "Pagure", "anitya", "FAS", "Bugzilla", "Koschei", "Discourse", "The New Hotness", "Git"} {
		found := false
		for _, a := range got {
			found = found || a == want
		}
		if !found {
			t.Errorf("KnownApplications() = %v, missing %q", got, want)
		}
	}
}

func TestRegistryConcurrent(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	p := Parser{Registry: r}
	h := hdr(HeaderSchema, "test.schema.v1")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				pd, err := p.ParseNATS("bus.org.example.prod.test.x", h, []byte(`{"summary":"s"}`))
				if err != nil {
					t.Error(err)
					return
				}
				if pd.App != "test" && pd.App != "example-app" {
					t.Errorf("app %q", pd.App)
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		r.Register(Schema{Name: fmt.Sprintf("other.%d", i), App: "other"})
		if i == 25 {
			r.Register(Schema{Name: "test.schema.v1", App: "example-app", Extract: func(x *Extraction) { x.Summary = x.Body.Get("summary").Str() }})
		}
	}
	wg.Wait()
	pd, err := p.ParseNATS("bus.org.example.prod.test.x", h, []byte(`{}`))
	if err != nil || pd.App != "example-app" || pd.Summary != "" {
		t.Errorf("after Register: %+v, %v", pd, err)
	}
	if apps := r.KnownApplications(); !reflect.DeepEqual(apps, []string{"example-app", "other"}) {
		t.Errorf("KnownApplications = %v", apps)
	}
}

func TestPanickingExtractor(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.Register(Schema{Name: "fragile.v1", App: "fragile", Extract: func(x *Extraction) {
		x.Summary = "half done"
		_ = x.Body.Get("list").Strings()[3] // assumes a shape the body lacks
	}})
	p := Parser{Registry: r}
	pd, err := p.ParseNATS("bus.org.example.prod.frag", hdr(HeaderSchema, "fragile.v1"), []byte(`{"agent":"ann"}`))
	if err != nil {
		t.Fatal(err)
	}
	if pd.App != "fragile" || pd.Agent != "" || pd.Summary != "org.example.prod.frag" ||
		pd.Extractor != "fragile.v1" || !strings.Contains(pd.ExtractError, "fragile.v1") {
		t.Errorf("after a panic: %+v", pd)
	}
}

func TestTopicApp(t *testing.T) {
	t.Parallel()
	for topic, want := range map[string]string{
		"org.fedoraproject.prod.bodhi.update.comment": "bodhi",
		"org.fedoraproject.stg.koji":                  "koji",
		"io.pagure.prod.pagure.git.receive":           "pagure",
		"org.fedoraproject.prod":                      "",
		"a.b":                                         "",
		"":                                            "",
	} {
		if got := TopicApp(topic); got != want {
			t.Errorf("TopicApp(%q) = %q, want %q", topic, got, want)
		}
	}
}

// Applications lists what FMN v3's /applications lists: app names, or the
// schema name's first part for a schema without one, one spelling each.
func TestApplicationsAsFMN(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.RegisterPackage(Package{Name: "p", Schemas: []Schema{
		{Name: "buildsys.tag", App: "koji"}, {Name: "buildsys.build", App: "Koji"},
		{Name: "ci_messages.CIMessageV1"}, {Name: "base.message"}, {Name: "zed.x", App: "zed"},
		{Name: "Alpha.y", App: "alpha"},
	}})
	if got, want := r.Applications(), []string{"alpha", "ci_messages", "Koji", "zed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Applications() = %v, want %v", got, want)
	}
	if got := DefaultRegistry.Applications(); len(got) < 20 {
		t.Errorf("DefaultRegistry.Applications() = %v: every package FMN installs has apps", got)
	}
}

// Only http(s) URLs leave the parser: a URL from the bus becomes a link in
// emails and in the web UI.
func TestWebURLOnly(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "file:///etc/passwd", "//evil.example", "ftp://x/y", " javascript:x"} {
		p := mustParse(t, bodhiTopic, hdr(HeaderSchema, "base.message"), `{"url":`+strconv.Quote(u)+`}`)
		if p.URL != "" {
			t.Errorf("URL %q kept", u)
		}
	}
	for _, u := range []string{"https://bodhi.fedoraproject.org/updates/X", "HTTP://example.org/"} {
		p := mustParse(t, bodhiTopic, hdr(HeaderSchema, "base.message"), `{"url":`+strconv.Quote(u)+`}`)
		if p.URL != u {
			t.Errorf("URL %q became %q", u, p.URL)
		}
	}
}
