package bus

import (
	"reflect"
	"strings"
	"testing"
)

// The table tests of the small packages (bugzilla2fedmsg, noggin,
// git-hook, fedorainfra-ansible, fmn, kerneltest, maubot) share miscCase
// and miscRun, defined here.

// miscBase as the wanted Text means the base class's text (the dump).
const miscBase = "<base dump>"

type miscCase struct {
	name   string
	schema string
	topic  string // the topic's tail after org.fedoraproject.prod.
	body   string
	want   miscWant
}

// miscWant is what fmn derives. Summary "" means the topic (the base
// class's); lists compare as sets, nil and empty alike.
type miscWant struct {
	Agent, App, Summary, Text, URL, PatchURL         string
	Users, Groups, Packages, Containers, Modules, Fl []string
}

func miscRun(t *testing.T, cases []miscCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := "org.fedoraproject.prod." + c.topic
			p := mustParse(t, topic, hdr("fedora_messaging_schema", c.schema), c.body)
			if s := DefaultRegistry.Lookup(c.schema); s == nil || p.Extractor != s.Class {
				t.Fatalf("schema %q: extractor %q", c.schema, p.Extractor)
			}
			if p.ExtractError != "" {
				t.Errorf("ExtractError: %s", p.ExtractError)
			}
			w := c.want
			if w.Summary == "" {
				w.Summary = topic
			}
			check := func(field, got, want string) {
				if got != want {
					t.Errorf("%s:\n got  %q\n want %q", field, got, want)
				}
			}
			check("agent", p.Agent, w.Agent)
			check("app", p.App, w.App)
			check("summary", p.Summary, w.Summary)
			check("url", p.URL, w.URL)
			check("patch_url", p.PatchURL, w.PatchURL)
			if w.Text == miscBase {
				if p.Text != "" || !strings.HasPrefix(p.DisplayText(), "Id: id-1\nTopic: "+topic+"\n") {
					t.Errorf("text: got %q, want the base dump", p.Text)
				}
			} else {
				check("text", p.Text, w.Text)
			}
			lists := []struct {
				name      string
				got, want []string
			}{
				{"usernames", p.Usernames, w.Users}, {"groups", p.Groups, w.Groups},
				{"packages", p.Packages, w.Packages}, {"containers", p.Containers, w.Containers},
				{"modules", p.Modules, w.Modules}, {"flatpaks", p.Flatpaks, w.Fl},
			}
			for _, l := range lists {
				want := sortedUnique(append([]string(nil), l.want...))
				if len(l.got) != 0 || len(want) != 0 {
					if !reflect.DeepEqual(l.got, want) {
						t.Errorf("%s: got %q, want %q", l.name, l.got, want)
					}
				}
			}
		})
	}
}

// bugzillaBody builds a body from the package's samples: bug 1702701 (a
// review request) with the given event, agent and component.
func bugzillaBody(v1 bool, extra, component, event string) string {
	comp := `"component": "` + component + `", "product": "Fedora", "assigned_to": "zebob.m@gmail.com", "cc": [], "weburl": "https://bugzilla.redhat.com/show_bug.cgi?id=1702701"`
	if v1 {
		comp = `"component": {"id": 18186, "name": "` + component + `"}, "product": {"id": 49, "name": "Fedora"}, "assigned_to": {"id": 401767, "login": "zebob.m@gmail.com", "real_name": "Robert-Andr\u00e9 Mauchin"}`
	}
	return `{` + extra + `"bug": {"alias": [], ` + comp + `, "classification": "Fedora", "creation_time": 1556114414.0,
 "flags": [], "id": 1702701, "is_private": false, "keywords": [], "last_change_time": 1556114414.0, "operating_system": "Linux",
 "platform": "All", "priority": "medium", "qa_contact": null, "reporter": {"id": 295770, "login": "ppisar@redhat.com", "real_name": "Petr Pisar"},
 "resolution": "", "severity": "medium", "status": {"id": 26, "name": "POST"},
 "summary": "Review Request: perl-Class-AutoClass - Define classes and objects for Perl", "url": "", "version": {"id": 495, "name": "rawhide"}, "whiteboard": ""},
 "event": {"bug_id": 1702701, "change_set": "113867.1556151814.59504", "routing_key": "bug.modify", "time": 1556151815.0,
  "user": {"id": 401767, "login": "zebob.m@gmail.com", "real_name": "Robert-Andr\u00e9 Mauchin"}, "who": "zebob.m@gmail.com", ` + event + `}}`
}

func TestBugzilla2fedmsgSchema(t *testing.T) {
	t.Parallel()
	const (
		v1     = "bugzilla2fedmsg.messageV1"
		bz4    = "bugzilla2fedmsg.messageV1bz4"
		url    = "https://bugzilla.redhat.com/show_bug.cgi?id=1702701"
		title  = "'Review Request: perl-Class-AutoClass - D...'"
		modify = `"action": "modify", "target": "bug", `
	)
	ch := func(fields ...string) string {
		var parts []string
		for _, f := range fields {
			parts = append(parts, `{"added": "x", "field": "`+f+`", "removed": ""}`)
		}
		return `"changes": [` + strings.Join(parts, ", ") + `]`
	}
	summ := func(s string) miscWant {
		return miscWant{App: "Bugzilla", Summary: s, Text: s, URL: url, Packages: []string{"perl-Class-AutoClass"}}
	}
	withAgent := func(w miscWant, agent string, users ...string) miscWant {
		w.Agent, w.Users = agent, users
		return w
	}
	noPkg := func(w miscWant) miscWant { w.Packages = nil; return w }
	miscRun(t, []miscCase{
		{"bug create", bz4, "bugzilla.bug.new",
			bugzillaBody(false, `"agent_name": "zebob", `, "perl-Class-AutoClass", `"action": "create", "target": "bug", "changes": []`),
			withAgent(summ("zebob filed a new bug RHBZ#1702701 "+title), "zebob")},
		{"comment create, no agent: the login", v1, "bugzilla.bug.update",
			bugzillaBody(true, "", "perl-Class-AutoClass", `"action": "create", "target": "comment"`),
			summ("zebob.m@gmail.com added comment on RHBZ#1702701 " + title)},
		{"empty agent_name: the login", v1, "bugzilla.bug.update",
			bugzillaBody(true, `"agent_name": "", `, "perl-Class-AutoClass", `"action": "create", "target": "attachment"`),
			summ("zebob.m@gmail.com added attachment on RHBZ#1702701 " + title)},
		{"one change, usernames", v1, "bugzilla.bug.update",
			bugzillaBody(true, `"agent_name": "zebob", "usernames": ["zebob", "ppisar"], `, "perl-Class-AutoClass", modify+ch("cc")),
			withAgent(summ("zebob updated 'cc' on RHBZ#1702701 "+title), "zebob", "zebob", "ppisar")},
		{"two changes", bz4, "bugzilla.bug.update",
			bugzillaBody(false, "", "perl-Class-AutoClass", modify+ch("assigned_to", "bug_status")),
			summ("zebob.m@gmail.com updated 'assigned_to' and 'bug_status' on RHBZ#1702701 " + title)},
		{"three changes", bz4, "bugzilla.bug.update",
			bugzillaBody(false, "", "perl-Class-AutoClass", modify+ch("assigned_to", "bug_status", "cc")),
			summ("zebob.m@gmail.com updated 'assigned_to', 'bug_status', and 'cc' on RHBZ#1702701 " + title)},
		{"no changes key", v1, "bugzilla.bug.update",
			bugzillaBody(true, "", "perl-Class-AutoClass", `"action": "modify", "target": "bug"`),
			summ("zebob.m@gmail.com updated something unknown on RHBZ#1702701 " + title)},
		{"empty changes, attachment", v1, "bugzilla.bug.update",
			bugzillaBody(true, "", "perl-Class-AutoClass", `"action": "modify", "target": "attachment", "changes": []`),
			summ("zebob.m@gmail.com updated something unknown for attachment on RHBZ#1702701 " + title)},
		{"attachment change", bz4, "bugzilla.bug.update",
			bugzillaBody(false, "", "kernel", `"action": "modify", "target": "attachment", `+ch("isobsolete")),
			miscWant{App: "Bugzilla", URL: url, Packages: []string{"kernel"},
				Summary: "zebob.m@gmail.com updated 'isobsolete' for attachment on RHBZ#1702701 " + title,
				Text:    "zebob.m@gmail.com updated 'isobsolete' for attachment on RHBZ#1702701 " + title}},
		{"component that is no package (BZ4)", bz4, "bugzilla.bug.update",
			bugzillaBody(false, "", "Package Review", modify+ch("cc")),
			noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{"component that is no package (V1)", v1, "bugzilla.bug.update",
			bugzillaBody(true, "", "LiveCD - KDE", modify+ch("cc")),
			noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{"short title, non-ASCII title cut by characters", v1, "bugzilla.bug.update",
			strings.Replace(bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")),
				"Review Request: perl-Class-AutoClass - Define classes and objects for Perl", "\u00e9t\u00e9 \u00e0 la plage, encore et toujours, \u00e0 jamais ici", 1),
			summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 'été à la plage, encore et toujours, à ja...'")},
		{"short title", v1, "bugzilla.bug.update",
			strings.Replace(bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")),
				"Review Request: perl-Class-AutoClass - Define classes and objects for Perl", "Forty characters exactly, not one more!!", 1),
			summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 'Forty characters exactly, not one more!!'")},
		// Properties that raise in Python: the others stand.
		{"no login, no agent_name: summary and text raise", v1, "bugzilla.bug.update",
			strings.Replace(bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")), `"login": "zebob.m@gmail.com", "real_name": "Robert-Andr\u00e9 Mauchin"}, "who"`, `"real_name": "R"}, "who"`, 1),
			miscWant{App: "Bugzilla", Text: miscBase, URL: url, Packages: []string{"perl-Class-AutoClass"}}},
		{"a change without field: summary raises", bz4, "bugzilla.bug.update",
			bugzillaBody(false, "", "perl-Class-AutoClass", modify+`"changes": [{"added": "x"}]`),
			miscWant{App: "Bugzilla", Text: miscBase, URL: url, Packages: []string{"perl-Class-AutoClass"}}},
		{"null changes: summary raises", bz4, "bugzilla.bug.update",
			bugzillaBody(false, "", "perl-Class-AutoClass", modify+`"changes": null`),
			miscWant{App: "Bugzilla", Text: miscBase, URL: url, Packages: []string{"perl-Class-AutoClass"}}},
		{"V1 component without name: packages raise", v1, "bugzilla.bug.update",
			strings.Replace(bugzillaBody(true, "", "x", modify+ch("cc")), `{"id": 18186, "name": "x"}`, `{"id": 18186}`, 1),
			noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{"V1 body under the BZ4 schema: the component is a dict", bz4, "bugzilla.bug.update",
			bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")),
			noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{"no bug: all but agent and usernames raise", v1, "bugzilla.bug.update",
			`{"agent_name": "zebob", "usernames": ["zebob"], "event": {"action": "create", "target": "bug"}}`,
			miscWant{App: "Bugzilla", Agent: "zebob", Users: []string{"zebob"}, Text: miscBase}},
		{"body not an object", v1, "bugzilla.bug.update", `[1, 2]`, miscWant{App: "Bugzilla", Text: miscBase}},
	})
}

func TestBugzillaCommaJoin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, "something unknown"},
		{[]string{"a"}, "'a'"},
		{[]string{"a", "b"}, "'a' and 'b'"},
		{[]string{"a", "b", "c", "d"}, "'a', 'b', 'c', and 'd'"},
	} {
		if got := bugzillaCommaJoin(c.in); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}
