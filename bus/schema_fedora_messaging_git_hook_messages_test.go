package bus

import (
	"strings"
	"testing"
)

// Bodies from fedora-messaging-git-hook-messages' tests (tests/conftest.py,
// tests/test_commit.py, tests/test_common.py).
func TestFedoraMessagingGitHookMessages(t *testing.T) {
	t.Parallel()
	const schema = "fedora_messaging_git_hook.commit.v1"
	const commit = `{"name": "Dummy User", "email": "dummy@example.com", "username": "dummyuser",
 "summary": "second commit", "message": "second commit\n",
 "stats": {"files": {"something.txt": {"additions": 0, "deletions": 0, "lines": 0}}, "total": {"additions": 0, "deletions": 0, "lines": 0, "files": 1}},
 "rev": "3aa6642b0990d1f6a0e0ce7373c8ad37d2f980ce", "path": "/tmp/pytest-of-dummyuser/pytest-109/test_namespace0/dummyns/dummyrepo/",
 "repo": "dummyrepo", "namespace": "dummyns", "branch": "main",
 "patch": "diff --git a/something.txt b/something.txt\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/something.txt\n",
 "date": "2023-11-30T10:42:31+01:00", "url": "http://example.com/repo/c/3aa6642b0990d1f6a0e0ce7373c8ad37d2f980ce?branch=main"}`
	const emptyCommit = `{"name": "Dummy User", "email": "dummy@example.com", "username": "dummyuser",
 "summary": "initial commit", "message": "initial commit\n", "stats": {"files": {}, "total": {}},
 "rev": "e03df21592dcdc201cebbc578ea0644645b825a6", "path": "/tmp/pytest-of-dummyuser/pytest-109/test_namespace0/dummyns/dummyrepo/",
 "repo": "dummyrepo", "namespace": "dummyns", "branch": "main", "patch": "", "date": "2023-11-30T10:42:31+01:00", "url": null}`
	const text = "From 3aa6642b0990d1f6a0e0ce7373c8ad37d2f980ce Mon Sep 17 00:00:00 2001\nFrom: Dummy User <dummy@example.com>\n" +
		"Date: 2023-11-30T10:42:31+01:00\nSubject: second commit\n\nsecond commit\n\n---\n\n" +
		"diff --git a/something.txt b/something.txt\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/something.txt\n\n"
	const url = "http://example.com/repo/c/3aa6642b0990d1f6a0e0ce7373c8ad37d2f980ce?branch=main"
	body := func(c string) string { return `{"agent": "dummy-user", "commit": ` + c + `}` }
	ns := func(n string) string {
		return body(strings.Replace(commit, `"namespace": "dummyns"`, `"namespace": `+n, 1))
	}
	w := func(summary string) schemaWant {
		return schemaWant{App: "Git", Agent: "dummy-user", Users: []string{"dummy-user"}, Summary: summary, Text: text, URL: url}
	}
	rpms := w(`dummy-user pushed to rpms/dummyrepo (main). "second commit"`)
	rpms.Packages = []string{"dummyrepo"}
	cont := w(`dummy-user pushed to container/dummyrepo (main). "second commit"`)
	cont.Containers = []string{"dummyrepo"}
	mods := w(`dummy-user pushed to modules/dummyrepo (main). "second commit"`)
	mods.Modules = []string{"dummyrepo"}
	flat := w(`dummy-user pushed to flatpaks/dummyrepo (main). "second commit"`)
	flat.Flatpaks = []string{"dummyrepo"}
	grp := w(`dummy-user pushed to dummyns/dummyrepo (main). "second commit"`)
	grp.Groups = []string{"provenpackager"}
	schemaRun(t, []schemaCase{
		{name: "minimal (no url, empty patch)", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: body(emptyCommit),
			want: schemaWant{App: "Git", Agent: "dummy-user", Users: []string{"dummy-user"},
				Summary: `dummy-user pushed to dummyns/dummyrepo (main). "initial commit"`,
				Text: "From e03df21592dcdc201cebbc578ea0644645b825a6 Mon Sep 17 00:00:00 2001\nFrom: Dummy User <dummy@example.com>\n" +
					"Date: 2023-11-30T10:42:31+01:00\nSubject: initial commit\n\ninitial commit\n\n---\n\n\n"}},
		{name: "full", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: body(commit),
			want: w(`dummy-user pushed to dummyns/dummyrepo (main). "second commit"`)},
		{name: "no namespace", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: ns("null"),
			want: w(`dummy-user pushed to dummyrepo (main). "second commit"`)},
		{name: "empty namespace", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: ns(`""`),
			want: w(`dummy-user pushed to dummyrepo (main). "second commit"`)},
		{name: "rpms", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: ns(`"rpms"`),
			want: rpms},
		{name: "container", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: ns(`"container"`),
			want: cont},
		{name: "modules", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: ns(`"modules"`),
			want: mods},
		{name: "flatpaks", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: ns(`"flatpaks"`),
			want: flat},
		{name: "group", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: `{"agent": "dummy-user", "group": "provenpackager", "commit": ` + commit + `}`,
			want: grp},
		{name: "empty group", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: `{"agent": "dummy-user", "group": "", "commit": ` + commit + `}`,
			want: w(`dummy-user pushed to dummyns/dummyrepo (main). "second commit"`)},
		// Properties that raise in Python.
		{name: "no commit (test_properties_not_commit): summary, url, text raise", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: `{}`,
			want: schemaWant{App: "Git"}},
		{name: "missing fields (test_missing_fields)", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: `{"agent": "dummy-user", "commit": {"repo": "dummy"}}`,
			want: schemaWant{App: "Git", Agent: "dummy-user", Users: []string{"dummy-user"}}},
		{name: "rpms without repo: packages raise", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: `{"agent": "dummy-user", "commit": {"namespace": "rpms"}}`,
			want: schemaWant{App: "Git", Agent: "dummy-user", Users: []string{"dummy-user"}}},
		{name: "null commit: the artifacts raise", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: `{"agent": "dummy-user", "commit": null}`,
			want: schemaWant{App: "Git", Agent: "dummy-user", Users: []string{"dummy-user"}}},
		{name: "no agent: None in the summary, no username", schema: schema, topic: "org.fedoraproject.prod.git.receive",
			body: `{"commit": ` + commit + `}`,
			want: schemaWant{App: "Git", Summary: `None pushed to dummyns/dummyrepo (main). "second commit"`, Text: text, URL: url}},
	})
}
