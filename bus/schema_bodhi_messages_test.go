package bus

import (
	"slices"
	"testing"
)

// The expected values of bodhiCases were computed by the bodhi-messages
// 8.1.1 classes themselves (bodhi-messages/bodhi/messages/schemas, over a
// stub of fedora-messaging's base Message) on these bodies, many of them
// from the package's tests; where a property raises (name says which), the
// values are what fmn derives instead: the base class's (the topic as
// summary, the dump as text, no URL, no agent, no list).
var bodhiCases = []schemaCase{
	{name: "compose failed", schema: "bodhi.compose.complete.v1", topic: "org.fedoraproject.prod.bodhi.compose.complete",
		body: `{"agent": "mohanboddu", "repo": "test_repo", "success": false, "ctype": "rpm"}`,
		want: schemaWant{App: "bodhi", Agent: "mohanboddu", Summary: "bodhi composer failed to compose test_repo",
			Text: "bodhi composer failed to compose test_repo", Users: []string{"mohanboddu"}}},
	{name: "compose complete, no repo nor success", schema: "bodhi.compose.complete.v1", topic: "org.fedoraproject.prod.bodhi.compose.complete",
		body: `{"agent": "mohanboddu"}`,
		want: schemaWant{App: "bodhi", Agent: "mohanboddu", Summary: "bodhi composer failed to compose None",
			Text: "bodhi composer failed to compose None", Users: []string{"mohanboddu"}}},
	{name: "compose composing without agent", schema: "bodhi.compose.composing.v1", topic: "org.fedoraproject.prod.bodhi.compose.composing",
		body: `{"repo": "f40-updates"}`,
		want: schemaWant{App: "bodhi", Summary: "bodhi composer started composing f40-updates",
			Text: "bodhi composer started composing f40-updates"}},
	{name: "compose start, mentions in a top-level comment", schema: "bodhi.compose.start.v1", topic: "org.fedoraproject.prod.bodhi.compose.start",
		body: `{"agent": "a", "comment": {"text": "hi @bob and @carol_1, not me@x.org, @ @@d (@e) \u00e9@f @g\u00e9\u0301x\t@tab\u001c@sep\u00a0@nbsp @b\u00f6b2 @\u0660\u0661 @x-y @bob"}}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "bodhi composer started a push",
			Text:  "bodhi composer started a push",
			Users: []string{"a", "bob", "böb2", "carol_1", "gé", "nbsp", "sep", "tab", "x", "٠١"}}},
	{name: "compose sync done", schema: "bodhi.compose.sync.done.v1", topic: "org.fedoraproject.prod.bodhi.compose.sync.done",
		body: `{"agent": "a", "repo": "r"}`,
		want: schemaWant{App: "bodhi", Agent: "a",
			Summary: "bodhi composer finished waiting for r to hit the master mirror",
			Text:    "bodhi composer finished waiting for r to hit the master mirror", Users: []string{"a"}}},
	{name: "compose sync wait, repo not a string", schema: "bodhi.compose.sync.wait.v1", topic: "org.fedoraproject.prod.bodhi.compose.sync.wait",
		body: `{"agent": "a", "repo": 4.0}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "bodhi composer is waiting for 4.0 to hit the master mirror",
			Text: "bodhi composer is waiting for 4.0 to hit the master mirror", Users: []string{"a"}}},
	{name: "repo done", schema: "bodhi.repo.done.v1", topic: "org.fedoraproject.prod.bodhi.repo.done",
		body: `{"agent": "a", "repo": "r", "path": "/p"}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "bodhi composer is finished building r",
			Text: "bodhi composer is finished building r", Users: []string{"a"}}},
	{name: "request testing by the owner", schema: "bodhi.update.request.testing.v1", topic: "org.fedoraproject.prod.bodhi.update.request.testing",
		body: `{"agent": "ow", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "ow",
			Summary: "ow submitted their update FEDORA-2024-1 (pkg-a-1.0-1.fc40) to testing",
			URL:     "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:    "ow submitted their update FEDORA-2024-1 to testing.\nBuilds:\npkg-a-1.0-1.fc40",
			Users:   []string{"ow"}, Packages: []string{"pkg-a"}}},
	{name: "request stable, topic without prefix", schema: "bodhi.update.request.stable.v1", topic: "bodhi.update.request.stable",
		body: `{"agent": "x", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "x",
			Summary: "x submitted ow's update FEDORA-2024-1 (pkg-a-1.0-1.fc40) to stable",
			URL:     "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:    "x submitted ow's update FEDORA-2024-1 to stable.\nBuilds:\npkg-a-1.0-1.fc40",
			Users:   []string{"ow", "x"}, Packages: []string{"pkg-a"}}},
	{name: "request revoke by the owner", schema: "bodhi.update.request.revoke.v1", topic: "org.fedoraproject.prod.bodhi.update.request.revoke",
		body: `{"agent": "ow", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "ow", Summary: "ow revoked their update FEDORA-2024-1 (pkg-a-1.0-1.fc40)",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "ow revoked their update FEDORA-2024-1.\nBuilds:\npkg-a-1.0-1.fc40",
			Users: []string{"ow"}, Packages: []string{"pkg-a"}}},
	{name: "request unpush by another", schema: "bodhi.update.request.unpush.v1", topic: "org.fedoraproject.prod.bodhi.update.request.unpush",
		body: `{"agent": "x", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "a-1-1"}, {"nvr": "b-2-2"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "x", Summary: "x unpushed ow's update FEDORA-2024-1 (a-1-1 b-2-2)",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "x unpushed ow's update FEDORA-2024-1.\nBuilds:\na-1-1\nb-2-2",
			Users: []string{"ow", "x"}, Packages: []string{"a", "b"}}},
	{name: "request obsolete without agent", schema: "bodhi.update.request.obsolete.v1", topic: "org.fedoraproject.prod.bodhi.update.request.obsolete",
		body: `{"update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Summary: "None obsoleted ow's update FEDORA-2024-1 (pkg-a-1.0-1.fc40)",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "None obsoleted ow's update FEDORA-2024-1.\nBuilds:\npkg-a-1.0-1.fc40",
			Users: []string{"ow"}, Packages: []string{"pkg-a"}}},
	{name: "edit v1 by the owner, 39 characters of builds", schema: "bodhi.update.edit.v1", topic: "org.fedoraproject.prod.bodhi.update.edit",
		body: `{"agent": "ow", "new_bugs": [1, 2], "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1.0-1.fc"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "ow",
			Summary: "ow edited their update FEDORA-2024-1 (aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1.0-1.fc)",
			URL:     "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:    "ow edited FEDORA-2024-1 adding 2 new bugs", Users: []string{"ow"},
			Packages: []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}},
	{name: "edit v1, 40 characters of builds", schema: "bodhi.update.edit.v1", topic: "org.fedoraproject.prod.bodhi.update.edit",
		body: `{"agent": "x", "new_bugs": [], "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1.0-1.fc4"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "x",
			Summary: "x edited ow's update FEDORA-2024-1 (aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1.0-1.fc4…)",
			URL:     "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:    "x edited FEDORA-2024-1 adding 0 new bugs", Users: []string{"ow", "x"},
			Packages: []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}},
	{name: "edit v2, non-ASCII builds", schema: "bodhi.update.edit.v2", topic: "org.fedoraproject.prod.bodhi.update.edit",
		body: `{"agent": "x", "new_bugs": [1], "new_builds": ["\u00e9t\u00e9-1-1"], "removed_builds": [], "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "\u00e9t\u00e9-1-1"}, {"nvr": "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9-1-1"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "x",
			Summary:  "x edited ow's update FEDORA-2024-1 (été-1-1 éééééééééééééééééééééééééééééééé…)",
			URL:      "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:     "x edited FEDORA-2024-1 adding 1 new bug(s), adding 1 build(s), and removing 0 build(s)",
			Users:    []string{"ow", "x"},
			Packages: []string{"été", "éééééééééééééééééééééééééééééééééééééé"}}},
	{name: "edit v2, update without builds", schema: "bodhi.update.edit.v2", topic: "org.fedoraproject.prod.bodhi.update.edit",
		body: `{"agent": "x", "new_bugs": [], "new_builds": [], "removed_builds": ["a-1-1"], "update": {"alias": "FEDORA-2024-1", "builds": [], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "x", Summary: "x edited ow's update FEDORA-2024-1 ()",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "x edited FEDORA-2024-1 adding 0 new bug(s), adding 0 build(s), and removing 1 build(s)",
			Users: []string{"ow", "x"}}},
	{name: "comment by the owner, karma 0, mentions", schema: "bodhi.update.comment.v1", topic: "org.fedoraproject.prod.bodhi.update.comment",
		body: `{"comment": {"karma": 0, "text": "@ow thanks @alice", "timestamp": "t", "user": {"name": "ow"}, "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}}`,
		want: schemaWant{App: "bodhi", Agent: "ow", Summary: "ow commented on update pkg-a-1.0-1.fc40 (karma: 0)",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "ow commented on ow's update FEDORA-2024-1 with karma 0:\n\n@ow thanks @alice\n\nBuilds:\npkg-a-1.0-1.fc40",
			Users: []string{"alice", "ow"}, Packages: []string{"pkg-a"}}},
	{name: "complete testing", schema: "bodhi.update.complete.testing.v1", topic: "org.fedoraproject.prod.bodhi.update.complete.testing",
		body: `{"update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}, "agent": "bodhi"}`,
		want: schemaWant{App: "bodhi", Agent: "bodhi",
			Summary: "ow's pkg-a-1.0-1.fc40 bodhi update completed push to testing",
			URL:     "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:    "ow's Bodhi update FEDORA-2024-1 completed push to testing\nBuilds:\npkg-a-1.0-1.fc40 ",
			Users:   []string{"bodhi", "ow"}, Packages: []string{"pkg-a"}}},
	{name: "complete stable, builds an empty dict", schema: "bodhi.update.complete.stable.v1", topic: "org.fedoraproject.prod.bodhi.update.complete.stable",
		body: `{"update": {"alias": "FEDORA-2024-1", "builds": {}, "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Summary: "ow's  bodhi update completed push to testing",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "ow's Bodhi update FEDORA-2024-1 completed push to testing\nBuilds:\n ",
			Users: []string{"ow"}}},
	{name: "eject", schema: "bodhi.update.eject.v1", topic: "org.fedoraproject.prod.bodhi.update.eject",
		body: `{"agent": "bodhi", "reason": "r \"q\"", "repo": "f40-updates", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "bodhi",
			Summary: "ow's pkg-a-1.0-1.fc40 bodhi update was ejected from the f40-updates mash. Reason: \"r \"q\"\"",
			URL:     "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:    "ow's pkg-a-1.0-1.fc40 bodhi update was ejected from the f40-updates mash. Reason: \"r \"q\"\"",
			Users:   []string{"bodhi", "ow"}, Packages: []string{"pkg-a"}}},
	{name: "karma threshold unstable", schema: "bodhi.update.karma.threshold.v1", topic: "org.fedoraproject.prod.bodhi.update.karma.threshold.reach",
		body: `{"status": "unstable", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi",
			Summary: "ow's pkg-a-1.0-1.fc40 bodhi update has reached the unstable karma threshold",
			URL:     "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:    "ow's bodhi update FEDORA-2024-1 has reached the unstable karma threshold.\nBuilds:\npkg-a-1.0-1.fc40",
			Users:   []string{"ow"}, Packages: []string{"pkg-a"}}},
	{name: "requirements met", schema: "bodhi.update.requirements_met.stable.v1", topic: "org.fedoraproject.prod.bodhi.update.requirements_met.stable",
		body: `{"update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "x-1-1"}, {"nvr": "y-2-2"}, {"nvr": "z-3-3"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Summary: "ow's x-1-1 y-2-2 z-3-3 bodhi update has met stable testing requirements",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "ow's Bodhi update FEDORA-2024-1 has met stable testing requirements.\nBuilds:\nx-1-1\ny-2-2\nz-3-3",
			Users: []string{"ow"}, Packages: []string{"x", "y", "z"}}},
	{name: "ready for testing v3, re-trigger", schema: "bodhi.update.status.testing.v3", topic: "org.fedoraproject.prod.bodhi.update.status.testing.koji-build-group.build.complete",
		body: `{"agent": "ow", "re-trigger": true, "artifact": {"type": "koji-build-group", "builds": [{"type": "koji-build", "id": 1, "task_id": null, "nvr": "pkg-a-1.0-1.fc40"}]}, "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "ow", Summary: "ow's pkg-a-1.0-1.fc40 bodhi update is ready for testing",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "ow's Bodhi update FEDORA-2024-1 is ready for testing\nBuilds:\npkg-a-1.0-1.fc40 ",
			Users: []string{"ow"}, Packages: []string{"pkg-a"}}},
	{name: "ready for testing v1, empty agent", schema: "bodhi.update.status.testing.v1", topic: "org.fedoraproject.prod.bodhi.update.status.testing.koji-build-group.build.complete",
		body: `{"agent": "", "contact": {"name": "CI", "team": "t", "docs": "d", "email": "e"}, "generated_at": "g", "version": "v", "artifact": {"id": "FEDORA-2024-1", "type": "koji-build-group", "repository": "https://x", "release": "f40", "builds": [{"type": "koji-build", "id": 1, "issuer": "i1", "component": "c1", "nvr": "c1-1-1", "scratch": false}, {"type": "koji-build", "id": 2, "issuer": "i2", "component": "c1", "nvr": "c1-2-1", "scratch": false}]}}`,
		want: schemaWant{App: "bodhi", Summary: "CI's c1-1-1 c1-2-1 bodhi update is ready for testing",
			URL:   "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:  "CI's Bodhi update is ready for testing\nBuilds:\nc1-1-1\nc1-2-1 ",
			Users: []string{"i1", "i2"}, Packages: []string{"c1"}}},
	{name: "override tag, NVR without dashes", schema: "bodhi.buildroot_override.tag.v1", topic: "org.fedoraproject.prod.bodhi.buildroot_override.tag",
		body: `{"override": {"nvr": "foo", "submitter": {"name": "s"}}}`,
		want: schemaWant{App: "bodhi", Agent: "s", Summary: "s submitted a buildroot override for foo",
			URL:  "https://bodhi.fedoraproject.org/overrides/foo",
			Text: "s submitted a buildroot override for foo", Users: []string{"s"},
			Packages: []string{"foo"}}},
	{name: "override untag, NVR with one dash", schema: "bodhi.buildroot_override.untag.v1", topic: "org.fedoraproject.prod.bodhi.buildroot_override.untag",
		body: `{"override": {"nvr": "foo-1", "submitter": {"name": "s"}}}`,
		want: schemaWant{App: "bodhi", Agent: "s", Summary: "s expired a buildroot override for foo-1",
			URL:  "https://bodhi.fedoraproject.org/overrides/foo-1",
			Text: "s expired a buildroot override for foo-1", Users: []string{"s"},
			Packages: []string{"foo"}}},
	{name: "errata with a comment", schema: "bodhi.errata.publish.v1", topic: "org.fedoraproject.prod.bodhi.errata.publish",
		body: `{"body": "B", "subject": "S", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}, "comment": {"text": "cc @x"}}`,
		want: schemaWant{App: "bodhi", Agent: "ow", Summary: "S",
			URL: "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1", Text: "B",
			Users: []string{"ow", "x"}, Packages: []string{"pkg-a"}}},
	{name: "raises: update without release; summary raises KeyError, str raises KeyError, url raises KeyError, usernames raises KeyError, packages raises KeyError", schema: "bodhi.update.complete.stable.v1", topic: "org.fedoraproject.prod.bodhi.update.complete.stable",
		body: `{"agent": "a", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "org.fedoraproject.prod.bodhi.update.complete.stable"}},
	{name: "raises: comment text not a string; usernames raises TypeError", schema: "bodhi.update.comment.v1", topic: "org.fedoraproject.prod.bodhi.update.comment",
		body: `{"comment": {"karma": 1, "text": 5, "timestamp": "t", "user": {"name": "u"}, "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}}`,
		want: schemaWant{App: "bodhi", Agent: "u", Summary: "u commented on update pkg-a-1.0-1.fc40 (karma: 1)",
			URL:      "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1",
			Text:     "u commented on ow's update FEDORA-2024-1 with karma 1:\n\n5\n\nBuilds:\npkg-a-1.0-1.fc40",
			Packages: []string{"pkg-a"}}},
	{name: "raises: comment without user; agent raises KeyError, summary raises KeyError, str raises KeyError, usernames raises KeyError", schema: "bodhi.update.comment.v1", topic: "org.fedoraproject.prod.bodhi.update.comment",
		body: `{"comment": {"karma": 1, "text": "x", "timestamp": "t", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}}`,
		want: schemaWant{App: "bodhi", Summary: "org.fedoraproject.prod.bodhi.update.comment",
			URL: "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1", Packages: []string{"pkg-a"}}},
	{name: "raises: eject without reason; summary raises KeyError, str raises KeyError", schema: "bodhi.update.eject.v1", topic: "org.fedoraproject.prod.bodhi.update.eject",
		body: `{"agent": "a", "repo": "r", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "org.fedoraproject.prod.bodhi.update.eject",
			URL: "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1", Users: []string{"a", "ow"},
			Packages: []string{"pkg-a"}}},
	{name: "raises: NVR not a string; summary raises TypeError, str raises TypeError, packages raises AttributeError", schema: "bodhi.update.request.testing.v1", topic: "org.fedoraproject.prod.bodhi.update.request.testing",
		body: `{"agent": "a", "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": 1}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "org.fedoraproject.prod.bodhi.update.request.testing",
			URL: "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1", Users: []string{"a", "ow"}}},
	{name: "raises: builds a string; summary raises TypeError, str raises TypeError, url raises TypeError, usernames raises TypeError, packages raises TypeError", schema: "bodhi.update.request.testing.v1", topic: "org.fedoraproject.prod.bodhi.update.request.testing",
		body: `{"agent": "a", "update": {"alias": "FEDORA-2024-1", "builds": "xy", "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "org.fedoraproject.prod.bodhi.update.request.testing"}},
	{name: "raises: override without submitter; agent raises KeyError, summary raises KeyError, str raises KeyError, usernames raises KeyError", schema: "bodhi.buildroot_override.tag.v1", topic: "org.fedoraproject.prod.bodhi.buildroot_override.tag",
		body: `{"override": {"nvr": "foo-1-2"}}`,
		want: schemaWant{App: "bodhi", Summary: "org.fedoraproject.prod.bodhi.buildroot_override.tag",
			URL: "https://bodhi.fedoraproject.org/overrides/foo-1-2", Packages: []string{"foo"}}},
	{name: "raises: errata body not a string; str raises TypeError", schema: "bodhi.errata.publish.v1", topic: "org.fedoraproject.prod.bodhi.errata.publish",
		body: `{"body": null, "subject": 1, "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "ow", Summary: "1",
			URL: "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1", Users: []string{"ow"},
			Packages: []string{"pkg-a"}}},
	{name: "raises: errata without update; agent raises KeyError, url raises KeyError, usernames raises KeyError, packages raises KeyError", schema: "bodhi.errata.publish.v1", topic: "org.fedoraproject.prod.bodhi.errata.publish",
		body: `{"agent": "zz", "body": "B", "subject": "S"}`,
		want: schemaWant{App: "bodhi", Summary: "S", Text: "B"}},
	{name: "raises: karma threshold without status; summary raises KeyError, str raises KeyError", schema: "bodhi.update.karma.threshold.v1", topic: "org.fedoraproject.prod.bodhi.update.karma.threshold.reach",
		body: `{"update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Summary: "org.fedoraproject.prod.bodhi.update.karma.threshold.reach",
			URL: "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1", Users: []string{"ow"},
			Packages: []string{"pkg-a"}}},
	{name: "raises: edit v2 without new_builds; str raises TypeError", schema: "bodhi.update.edit.v2", topic: "org.fedoraproject.prod.bodhi.update.edit",
		body: `{"agent": "x", "new_bugs": 3, "update": {"alias": "FEDORA-2024-1", "builds": [{"nvr": "pkg-a-1.0-1.fc40"}], "release": {"name": "F40"}, "request": null, "status": "testing", "user": {"name": "ow"}}}`,
		want: schemaWant{App: "bodhi", Agent: "x", Summary: "x edited ow's update FEDORA-2024-1 (pkg-a-1.0-1.fc40)",
			URL: "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1", Users: []string{"ow", "x"},
			Packages: []string{"pkg-a"}}},
	{name: "raises: ready v2 without update; summary raises KeyError, str raises KeyError", schema: "bodhi.update.status.testing.v2", topic: "org.fedoraproject.prod.bodhi.update.status.testing.koji-build-group.build.complete",
		body: `{"agent": "a", "artifact": {"id": "F-1", "builds": [{"nvr": "n-1-1", "issuer": "i", "component": "n"}]}}`,
		want: schemaWant{App: "bodhi", Agent: "a",
			Summary: "org.fedoraproject.prod.bodhi.update.status.testing.koji-build-group.build.complete",
			URL:     "https://bodhi.fedoraproject.org/updates/F-1", Users: []string{"a", "i"},
			Packages: []string{"n"}}},
	{name: "raises: ready v1 builds without issuer; usernames raises KeyError", schema: "bodhi.update.status.testing.v1", topic: "org.fedoraproject.prod.bodhi.update.status.testing.koji-build-group.build.complete",
		body: `{"agent": "a", "contact": {"name": "CI"}, "artifact": {"id": "F-1", "builds": [{"nvr": "n-1-1", "component": "n"}]}}`,
		want: schemaWant{App: "bodhi", Agent: "a", Summary: "CI's n-1-1 bodhi update is ready for testing",
			URL:  "https://bodhi.fedoraproject.org/updates/F-1",
			Text: "CI's Bodhi update is ready for testing\nBuilds:\nn-1-1 ", Packages: []string{"n"}}},
}

func TestBodhiMessages(t *testing.T) { schemaRun(t, bodhiCases) }

// TestBodhiRegistered checks the schemas against the package's entry
// points (pyproject.toml [tool.poetry.plugins."fedora.messages"]).
func TestBodhiRegistered(t *testing.T) {
	entryPoints := map[string]string{
		"bodhi.buildroot_override.tag.v1":         "bodhi.messages.schemas.buildroot_override:BuildrootOverrideTagV1",
		"bodhi.buildroot_override.untag.v1":       "bodhi.messages.schemas.buildroot_override:BuildrootOverrideUntagV1",
		"bodhi.errata.publish.v1":                 "bodhi.messages.schemas.errata:ErrataPublishV1",
		"bodhi.compose.complete.v1":               "bodhi.messages.schemas.compose:ComposeCompleteV1",
		"bodhi.compose.composing.v1":              "bodhi.messages.schemas.compose:ComposeComposingV1",
		"bodhi.compose.start.v1":                  "bodhi.messages.schemas.compose:ComposeStartV1",
		"bodhi.compose.sync.done.v1":              "bodhi.messages.schemas.compose:ComposeSyncDoneV1",
		"bodhi.compose.sync.wait.v1":              "bodhi.messages.schemas.compose:ComposeSyncWaitV1",
		"bodhi.repo.done.v1":                      "bodhi.messages.schemas.compose:RepoDoneV1",
		"bodhi.update.comment.v1":                 "bodhi.messages.schemas.update:UpdateCommentV1",
		"bodhi.update.complete.stable.v1":         "bodhi.messages.schemas.update:UpdateCompleteStableV1",
		"bodhi.update.complete.testing.v1":        "bodhi.messages.schemas.update:UpdateCompleteTestingV1",
		"bodhi.update.status.testing.v1":          "bodhi.messages.schemas.update:UpdateReadyForTestingV1",
		"bodhi.update.status.testing.v2":          "bodhi.messages.schemas.update:UpdateReadyForTestingV2",
		"bodhi.update.status.testing.v3":          "bodhi.messages.schemas.update:UpdateReadyForTestingV3",
		"bodhi.update.edit.v1":                    "bodhi.messages.schemas.update:UpdateEditV1",
		"bodhi.update.edit.v2":                    "bodhi.messages.schemas.update:UpdateEditV2",
		"bodhi.update.eject.v1":                   "bodhi.messages.schemas.update:UpdateEjectV1",
		"bodhi.update.karma.threshold.v1":         "bodhi.messages.schemas.update:UpdateKarmaThresholdV1",
		"bodhi.update.request.revoke.v1":          "bodhi.messages.schemas.update:UpdateRequestRevokeV1",
		"bodhi.update.request.stable.v1":          "bodhi.messages.schemas.update:UpdateRequestStableV1",
		"bodhi.update.request.testing.v1":         "bodhi.messages.schemas.update:UpdateRequestTestingV1",
		"bodhi.update.request.unpush.v1":          "bodhi.messages.schemas.update:UpdateRequestUnpushV1",
		"bodhi.update.request.obsolete.v1":        "bodhi.messages.schemas.update:UpdateRequestObsoleteV1",
		"bodhi.update.requirements_met.stable.v1": "bodhi.messages.schemas.update:UpdateRequirementsMetStableV1",
	}
	n := 0
	for _, p := range DefaultRegistry.Packages() {
		if p.Name != "bodhi-messages" {
			continue
		}
		for _, s := range p.Schemas {
			n++
			if entryPoints[s.Name] != s.Class || s.App != "bodhi" || s.Deprecated || s.Extract == nil {
				t.Errorf("%s: class %q app %q deprecated %v", s.Name, s.Class, s.App, s.Deprecated)
			}
		}
	}
	if n != len(entryPoints) {
		t.Errorf("%d schemas registered, the entry points have %d", n, len(entryPoints))
	}
}

func TestBodhiHelpers(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""}, {"foo", "foo"}, {"foo-1", "foo"}, {"foo-1-2", "foo"}, {"foo-bar-1.0-1.fc40", "foo-bar"},
		{"-", ""}, {"a--", "a"},
	} {
		if got := bodhiPackage(c.in); got != c.want {
			t.Errorf("bodhiPackage(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := "ééééééééééééééééééééééééééééééééééééééé" // 39 characters
	for _, c := range []struct{ in, want string }{
		{"", ""}, {long, long}, {long + "x", long + "x…"}, {long + "xy", long + "x…"},
	} {
		if got := bodhiTruncate(c.in); got != c.want {
			t.Errorf("bodhiTruncate(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"@a", []string{"a"}},
		{"x@a @b_c, @d.e\n@f\u2003@g", []string{"b_c", "d", "f", "g"}},
		{"@@a @ @", nil},
		{"(@a) -@b", nil},
	} {
		if got := bodhiMentions(c.in); !slices.Equal(got, c.want) {
			t.Errorf("bodhiMentions(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// An errata whose body is "" has the text "" in Python; fmn's empty Text
// means the base class's dump, so fmn shows the dump there.
func TestBodhiErrataEmptyBody(t *testing.T) {
	p := mustParse(t, "org.fedoraproject.prod.bodhi.errata.publish", hdr(HeaderSchema, "bodhi.errata.publish.v1"),
		`{"body": "", "subject": "S", "update": {"alias": "A", "builds": [], "release": {"name": "F40"}, "request": null, "status": "stable", "user": {"name": "u"}}}`)
	if p.Text != "" || p.Summary != "S" || p.Agent != "u" {
		t.Errorf("text %q summary %q agent %q", p.Text, p.Summary, p.Agent)
	}
}
