package bus

import (
	"strings"
	"testing"
)

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
	summ := func(s string) schemaWant {
		return schemaWant{App: "Bugzilla", Summary: s, Text: s, URL: url, Packages: []string{"perl-Class-AutoClass"}}
	}
	withAgent := func(w schemaWant, agent string, users ...string) schemaWant {
		w.Agent, w.Users = agent, users
		return w
	}
	noPkg := func(w schemaWant) schemaWant { w.Packages = nil; return w }
	schemaRun(t, []schemaCase{
		{name: "bug create", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.new",
			body: bugzillaBody(false, `"agent_name": "zebob", `, "perl-Class-AutoClass", `"action": "create", "target": "bug", "changes": []`),
			want: withAgent(summ("zebob filed a new bug RHBZ#1702701 "+title), "zebob")},
		{name: "comment create, no agent: the login", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(true, "", "perl-Class-AutoClass", `"action": "create", "target": "comment"`),
			want: summ("zebob.m@gmail.com added comment on RHBZ#1702701 " + title)},
		{name: "empty agent_name: the login", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(true, `"agent_name": "", `, "perl-Class-AutoClass", `"action": "create", "target": "attachment"`),
			want: summ("zebob.m@gmail.com added attachment on RHBZ#1702701 " + title)},
		{name: "one change, usernames", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(true, `"agent_name": "zebob", "usernames": ["zebob", "ppisar"], `, "perl-Class-AutoClass", modify+ch("cc")),
			want: withAgent(summ("zebob updated 'cc' on RHBZ#1702701 "+title), "zebob", "zebob", "ppisar")},
		{name: "two changes", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(false, "", "perl-Class-AutoClass", modify+ch("assigned_to", "bug_status")),
			want: summ("zebob.m@gmail.com updated 'assigned_to' and 'bug_status' on RHBZ#1702701 " + title)},
		{name: "three changes", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(false, "", "perl-Class-AutoClass", modify+ch("assigned_to", "bug_status", "cc")),
			want: summ("zebob.m@gmail.com updated 'assigned_to', 'bug_status', and 'cc' on RHBZ#1702701 " + title)},
		{name: "no changes key", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(true, "", "perl-Class-AutoClass", `"action": "modify", "target": "bug"`),
			want: summ("zebob.m@gmail.com updated something unknown on RHBZ#1702701 " + title)},
		{name: "empty changes, attachment", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(true, "", "perl-Class-AutoClass", `"action": "modify", "target": "attachment", "changes": []`),
			want: summ("zebob.m@gmail.com updated something unknown for attachment on RHBZ#1702701 " + title)},
		{name: "attachment change", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(false, "", "kernel", `"action": "modify", "target": "attachment", `+ch("isobsolete")),
			want: schemaWant{App: "Bugzilla", URL: url, Packages: []string{"kernel"},
				Summary: "zebob.m@gmail.com updated 'isobsolete' for attachment on RHBZ#1702701 " + title,
				Text:    "zebob.m@gmail.com updated 'isobsolete' for attachment on RHBZ#1702701 " + title}},
		{name: "component that is no package (BZ4)", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(false, "", "Package Review", modify+ch("cc")),
			want: noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{name: "component that is no package (V1)", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(true, "", "LiveCD - KDE", modify+ch("cc")),
			want: noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{name: "short title, non-ASCII title cut by characters", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: strings.Replace(bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")),
				"Review Request: perl-Class-AutoClass - Define classes and objects for Perl", "\u00e9t\u00e9 \u00e0 la plage, encore et toujours, \u00e0 jamais ici", 1),
			want: summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 'été à la plage, encore et toujours, à ja...'")},
		{name: "short title", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: strings.Replace(bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")),
				"Review Request: perl-Class-AutoClass - Define classes and objects for Perl", "Forty characters exactly, not one more!!", 1),
			want: summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 'Forty characters exactly, not one more!!'")},
		// Properties that raise in Python: the others stand.
		{name: "no login, no agent_name: summary and text raise", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: strings.Replace(bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")), `"login": "zebob.m@gmail.com", "real_name": "Robert-Andr\u00e9 Mauchin"}, "who"`, `"real_name": "R"}, "who"`, 1),
			want: schemaWant{App: "Bugzilla", URL: url, Packages: []string{"perl-Class-AutoClass"}}},
		{name: "a change without field: summary raises", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(false, "", "perl-Class-AutoClass", modify+`"changes": [{"added": "x"}]`),
			want: schemaWant{App: "Bugzilla", URL: url, Packages: []string{"perl-Class-AutoClass"}}},
		{name: "null changes: summary raises", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(false, "", "perl-Class-AutoClass", modify+`"changes": null`),
			want: schemaWant{App: "Bugzilla", URL: url, Packages: []string{"perl-Class-AutoClass"}}},
		{name: "V1 component without name: packages raise", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: strings.Replace(bugzillaBody(true, "", "x", modify+ch("cc")), `{"id": 18186, "name": "x"}`, `{"id": 18186}`, 1),
			want: noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{name: "V1 body under the BZ4 schema: the component is a dict", schema: bz4, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: bugzillaBody(true, "", "perl-Class-AutoClass", modify+ch("cc")),
			want: noPkg(summ("zebob.m@gmail.com updated 'cc' on RHBZ#1702701 " + title))},
		{name: "no bug: all but agent and usernames raise", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: `{"agent_name": "zebob", "usernames": ["zebob"], "event": {"action": "create", "target": "bug"}}`,
			want: schemaWant{App: "Bugzilla", Agent: "zebob", Users: []string{"zebob"}}},
		{name: "body not an object", schema: v1, topic: "org.fedoraproject.prod.bugzilla.bug.update",
			body: `[1, 2]`,
			want: schemaWant{App: "Bugzilla"}},
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
