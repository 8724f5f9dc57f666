package bus

import "testing"

func init() {
	// UpdateDrop.usernames is [agent_name], and agent_name is
	// body.get("agent_name"): None on these bodies, which have none.
	for _, id := range []string{
		"0c1a9424-a91a-5ae6-bc7b-250e48a12d7a",
		"14bd5f1a-b888-570b-9153-61565d457d7a",
		"54006f68-1095-564b-ae35-1a5b4358d2ed",
		"f6b5aae5-3474-50fe-9479-616116405bff",
	} {
		deviate(id, "usernames", "null username: Python lists None (the body has no agent_name); fmn drops it, a None names no one")
	}
}

func TestHotnessSchemas(t *testing.T) {
	t.Parallel()
	const pkgdb = "but pkgdb says the maintainers are not interested in bugs being filed"
	cases := []schemaCase{
		// UpdateDrop: the base class's text; a summary per reason.
		{name: "drop, pkgdb, Anitya trigger", schema: "hotness.update.drop",
			body: `{"reason":"pkgdb","trigger":{"msg":{"project":{"name":"x"}},"topic":"org.release-monitoring.prod.anitya.project.version.update"}}`,
			want: schemaWant{Summary: "the-new-hotness saw an update for '', " + pkgdb}},
		{name: "drop, anitya: no package", schema: "hotness.update.drop",
			body: `{"agent_name":"dummy-user","reason":"anitya","trigger":{"msg":{"package":{"name":"Dummy"}},"topic":"anitya.project.map.new"}}`,
			want: schemaWant{Agent: "dummy-user", Users: []string{"dummy-user"},
				Summary: "the-new-hotness saw an update for '', but release-monitoring.org doesn't know what that project is called in Fedora land"}},
		{name: "drop, rawhide, package_listing", schema: "hotness.update.drop",
			body: `{"reason":"rawhide","trigger":{"msg":{"package_listing":{"package":{"name":"Dummy"}}},"topic":"x"}}`,
			want: schemaWant{Packages: []string{"Dummy"},
				Summary: "the-new-hotness saw an update for 'Dummy', but no rawhide version of the package could be found yet"}},
		{name: "drop, bugzilla, Koji build", schema: "hotness.update.drop",
			body: `{"reason":"bugzilla","trigger":{"msg":{"name":"Dummy"},"topic":"buildsys.build.task.change"}}`,
			want: schemaWant{Packages: []string{"Dummy"},
				Summary: "the-new-hotness saw an update for 'Dummy', but the bugzilla issue couldn't be updated"}},
		{name: "drop, other reason, package", schema: "hotness.update.drop",
			body: `{"reason":"Dummy","trigger":{"msg":{"package":{"name":"Dummy"}},"topic":"anitya.project.version.update"}}`,
			want: schemaWant{Packages: []string{"Dummy"},
				Summary: "the-new-hotness saw an update for 'Dummy', but it got dropped for reason: 'Dummy'"}},
		{name: "drop, reason not a string", schema: "hotness.update.drop",
			body: `{"reason":42,"trigger":{"msg":{},"topic":"t"}}`,
			want: schemaWant{Summary: "the-new-hotness saw an update for '', but it got dropped for reason: '42'"}},

		// UpdateDrop properties that raise in Python: what fmn derives.
		{name: "drop without reason", schema: "hotness.update.drop",
			body:   `{"trigger":{"msg":{"package":{"name":"Dummy"}},"topic":"t"}}`,
			raises: "packages, summary (KeyError): fmn has no package and the base summary"},
		{name: "drop, msg null", schema: "hotness.update.drop",
			body:   `{"reason":"pkgdb","trigger":{"msg":null,"topic":"t"}}`,
			raises: "packages, summary (TypeError): fmn has no package",
			want:   schemaWant{Summary: "the-new-hotness saw an update for '', " + pkgdb}},
		{name: "drop, no trigger topic", schema: "hotness.update.drop",
			body:   `{"reason":"pkgdb","trigger":{"msg":{"package":{"name":"Dummy"}}}}`,
			raises: "packages, summary (KeyError): fmn has no package",
			want:   schemaWant{Summary: "the-new-hotness saw an update for '', " + pkgdb}},
		{name: "drop, msg a list", schema: "hotness.update.drop",
			body:   `{"reason":"pkgdb","trigger":{"msg":["package"],"topic":"t"}}`,
			raises: "packages, summary (TypeError): fmn has no package",
			want:   schemaWant{Summary: "the-new-hotness saw an update for '', " + pkgdb}},

		// UpdateBugFile.
		{name: "bug.file, Fedora mappings", schema: "hotness.update.bug.file",
			body: `{"bug":{"bug_id":42},"trigger":{"msg":{"message":{"packages":[{"distro":"Fedora","package_name":"Dummy"},{"distro":"Fedora","package_name":"Ordo Hereticus"},{"distro":"Debian","package_name":"deb"}]}},"topic":"anitya.project.version.update"}}`,
			want: schemaWant{Packages: []string{"Dummy", "Ordo Hereticus"}, URL: "https://bugzilla.redhat.com/42",
				Summary: "the-new-hotness filed a bug on 'Dummy, Ordo Hereticus'",
				Text:    "The New Hotness filed a bug on 'Dummy, Ordo Hereticus'\nhttps://bugzilla.redhat.com/42\n"}},
		{name: "bug.file, map.new", schema: "hotness.update.bug.file",
			body: `{"bug":{"bug_id":1419523},"trigger":{"msg":{"message":{"new":"Dummy"}},"topic":"org.release-monitoring.prod.anitya.project.map.new"}}`,
			want: schemaWant{Packages: []string{"Dummy"}, URL: "https://bugzilla.redhat.com/1419523",
				Summary: "the-new-hotness filed a bug on 'Dummy'",
				Text:    "The New Hotness filed a bug on 'Dummy'\nhttps://bugzilla.redhat.com/1419523\n"}},
		{name: "bug.file, float bug id as Python prints it", schema: "hotness.update.bug.file",
			body: `{"bug":{"bug_id":42.0},"trigger":{"msg":{"message":{"packages":[]}},"topic":"anitya.project.version.update"}}`,
			want: schemaWant{URL: "https://bugzilla.redhat.com/42.0", Summary: "the-new-hotness filed a bug on ''",
				Text: "The New Hotness filed a bug on ''\nhttps://bugzilla.redhat.com/42.0\n"}},

		// UpdateBugFile properties that raise in Python: what fmn derives.
		{name: "bug.file without bug", schema: "hotness.update.bug.file",
			body:   `{"trigger":{"msg":{"message":{"new":"dummy"}},"topic":"anitya.project.map.new"}}`,
			raises: "url, str (KeyError): fmn has no URL and a text without it",
			want: schemaWant{Packages: []string{"dummy"}, Summary: "the-new-hotness filed a bug on 'dummy'",
				Text: "The New Hotness filed a bug on 'dummy'\n"}},
		{name: "bug.file, a mapping without package_name", schema: "hotness.update.bug.file",
			body:   `{"bug":{"bug_id":7},"trigger":{"msg":{"message":{"packages":[{"distro":"Fedora"},{"distro":"Fedora","package_name":"ok"}]}},"topic":"t"}}`,
			raises: "packages, summary, str (KeyError): fmn skips the broken mapping",
			want: schemaWant{Packages: []string{"ok"}, URL: "https://bugzilla.redhat.com/7",
				Summary: "the-new-hotness filed a bug on 'ok'",
				Text:    "The New Hotness filed a bug on 'ok'\nhttps://bugzilla.redhat.com/7\n"}},
		{name: "bug.file, topic not a string", schema: "hotness.update.bug.file",
			body:   `{"bug":{"bug_id":7},"trigger":{"msg":{"message":{}},"topic":["t"]}}`,
			raises: "packages, summary, str (AttributeError): fmn has no package",
			want: schemaWant{URL: "https://bugzilla.redhat.com/7", Summary: "the-new-hotness filed a bug on ''",
				Text: "The New Hotness filed a bug on ''\nhttps://bugzilla.redhat.com/7\n"}},
	}
	for i := range cases {
		cases[i].want.App = "The New Hotness"
	}
	schemaRun(t, cases)
}
