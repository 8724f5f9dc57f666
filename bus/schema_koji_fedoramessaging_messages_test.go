package bus

import (
	"strings"
	"testing"
)

// The expected values are what the Python classes compute, except where
// raises says Python raises: then they are what fmn derives (see the
// extractor's comments).

const (
	kojiBuild   = "koji_fedoramessaging.build.BuildStateChangeV1"
	kojiTaskSch = "koji_fedoramessaging.task.TaskStateChangeV1"

	// kojiTestTask is a build task with two sub-tasks, listed by
	// completion time (11 before 12), one not scheduled on a host.
	kojiTestTask = `{"arch": "noarch", "children": [
	  {"arch": "x86_64", "children": [], "completion_time": 1584475720.0, "host_id": 1, "host_name": "buildvm-x86-01", "id": 12, "method": "buildArch",
	   "result": {"logs": ["tasks/12/build.log"], "rpms": ["tasks/12/foo-1.0-1.fc40.x86_64.rpm"], "srpms": []}, "url": "https://koji.example/koji/taskinfo?taskID=12"},
	  {"arch": "noarch", "children": [], "completion_time": 1584475600.0, "host_id": null, "host_name": null, "id": 11, "method": "rebuildSRPM",
	   "result": {"srpm": "tasks/11/foo-1.0-1.fc40.src.rpm"}, "url": "https://koji.example/koji/taskinfo?taskID=11"}],
	 "completion_time": 1584475800.0, "host_id": 2, "host_name": "buildvm-02", "id": 10, "method": "build", "result": null,
	 "url": "https://koji.example/koji/taskinfo?taskID=10"}`

	kojiTestTaskText = "Task 10 on buildvm-02\nTask Type: build (noarch)\nLink: https://koji.example/koji/taskinfo?taskID=10\n\n" +
		"Task 10 has the following sub-tasks:\n\n" +
		"Task 11 on (unscheduled)\nTask Type: rebuildSRPM (noarch)\nLink: https://koji.example/koji/taskinfo?taskID=11\n" +
		"srpm:\n  FILES/tasks/11/foo-1.0-1.fc40.src.rpm\n\n" +
		"Task 12 on buildvm-x86-01\nTask Type: buildArch (x86_64)\nLink: https://koji.example/koji/taskinfo?taskID=12\n" +
		"logs:\n  FILES/tasks/12/build.log\nrpms:\n  FILES/tasks/12/foo-1.0-1.fc40.x86_64.rpm\n"
)

// kojiBuildBody returns a build state change body: fields replace or add
// members (JSON text), "-" removes one.
func kojiBuildBody(fields map[string]string) string {
	base := [][2]string{
		{"attribute", `"state"`}, {"build_id", `42`}, {"completion_time", `"2024-03-01T10:20:30.5+00:00"`},
		{"creation_time", `"2024-03-01T10:00:00+00:00"`}, {"epoch", `null`},
		{"files_base_url", `"https://kojipkgs.example/work"`}, {"instance", `"primary"`}, {"name", `"foo"`},
		{"new", `1`}, {"old", `0`}, {"owner", `"alice"`}, {"release", `"1.fc40"`}, {"request", `[]`},
		{"task", kojiTestTask}, {"task_id", `10`}, {"url", `"https://koji.example/koji/buildinfo?buildID=42"`},
		{"version", `"1.0"`},
	}
	var parts []string
	for _, kv := range base {
		v := kv[1]
		if r, ok := fields[kv[0]]; ok {
			v = r
		}
		if v != "-" {
			parts = append(parts, `"`+kv[0]+`": `+v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func TestKojiBuildStateChange(t *testing.T) {
	t.Parallel()
	const head = "Package:    foo-1.0-1.fc40\nStatus:     complete\nBuilt by:   alice\nID:         42\n" +
		"Started:    Fri, 01 Mar 2024 10:00:00 UTC\nFinished:   Fri, 01 Mar 2024 10:20:30 UTC\n\n"
	const url = "https://koji.example/koji/buildinfo?buildID=42"
	schemaRun(t, []schemaCase{
		{name: "with task (Python's values)", schema: kojiBuild,
			body: kojiBuildBody(nil),
			want: schemaWant{App: "Koji", Summary: "Build COMPLETE: alice's foo-1.0-1.fc40",
				Text: head + "Closed tasks:\n-------------\n" +
					strings.ReplaceAll(kojiTestTaskText, "FILES/", "https://kojipkgs.example/work/"),
				URL: url, Users: []string{"alice"}, Packages: []string{"foo"}}},
		{name: "building, no task (Python's values)", schema: kojiBuild,
			body: kojiBuildBody(map[string]string{"new": "0", "old": "null", "completion_time": "null", "task": "null",
				"creation_time": `"2024-03-01T10:00:00-05:00"`}),
			want: schemaWant{App: "Koji", Agent: "alice", Summary: "Build BUILDING: alice's foo-1.0-1.fc40",
				Text: "Package:    foo-1.0-1.fc40\nStatus:     building\nBuilt by:   alice\nID:         42\n" +
					"Started:    Fri, 01 Mar 2024 10:00:00 UTC-05:00\nFinished:   (still running)\n\nBuild imported into koji\n",
				URL: url, Users: []string{"alice"}, Packages: []string{"foo"}}},
		// The trap: Python's text raises KeyError: 'files_base_url'.
		{name: "task without files_base_url", schema: kojiBuild,
			body:   kojiBuildBody(map[string]string{"files_base_url": "-"}),
			raises: "str: KeyError 'files_base_url'",
			want: schemaWant{App: "Koji", Summary: "Build COMPLETE: alice's foo-1.0-1.fc40",
				Text: head + "Closed tasks:\n-------------\n" +
					strings.ReplaceAll(kojiTestTaskText, "FILES/", ""),
				URL: url, Users: []string{"alice"}, Packages: []string{"foo"}}},
		{name: "task without files_base_url nor results", schema: kojiBuild,
			body: kojiBuildBody(map[string]string{"files_base_url": "-", "task": `{"arch": "noarch", "children": [], "host_id": 2,
			"host_name": "buildvm-02", "id": 10, "method": "build", "result": null, "url": "https://koji.example/koji/taskinfo?taskID=10"}`}),
			raises: "str: KeyError 'files_base_url'",
			want: schemaWant{App: "Koji", Summary: "Build COMPLETE: alice's foo-1.0-1.fc40",
				Text: head + "Closed tasks:\n-------------\n" +
					"Task 10 on buildvm-02\nTask Type: build (noarch)\nLink: https://koji.example/koji/taskinfo?taskID=10\n",
				URL: url, Users: []string{"alice"}, Packages: []string{"foo"}}},
		{name: "state BUILD_STATES does not know", schema: kojiBuild,
			body:   kojiBuildBody(map[string]string{"new": "7", "task": "null"}),
			raises: "summary, str: ValueError 7 is not a valid BUILD_STATES",
			want: schemaWant{App: "Koji", Agent: "alice", Summary: "Build 7: alice's foo-1.0-1.fc40",
				Text: strings.Replace(head, "complete", "7", 1) + "Build imported into koji\n", URL: url,
				Users: []string{"alice"}, Packages: []string{"foo"}}},
		{name: "unreadable dates, no url, no owner", schema: kojiBuild,
			body: kojiBuildBody(map[string]string{"creation_time": `"yesterday"`, "completion_time": "12", "task": "null",
				"url": "-", "owner": "null"}),
			raises: "str: ValueError Invalid isoformat string; url: KeyError 'url'",
			want: schemaWant{App: "Koji", Summary: "Build COMPLETE: None's foo-1.0-1.fc40",
				Text: "Package:    foo-1.0-1.fc40\nStatus:     complete\nBuilt by:   None\nID:         42\n" +
					"Started:    yesterday\nFinished:   (still running)\n\nBuild imported into koji\n",
				Packages: []string{"foo"}}},
		{name: "deleted after failing (Python's values)", schema: kojiBuild,
			body: kojiBuildBody(map[string]string{"new": "2", "old": "3", "task": "null"}),
			want: schemaWant{App: "Koji", Summary: "Build DELETED: alice's foo-1.0-1.fc40",
				Text: strings.Replace(head, "complete", "deleted", 1) + "Build imported into koji\n", URL: url,
				Users: []string{"alice"}, Packages: []string{"foo"}}},
		{name: "canceled: the owner canceled (Python's values)", schema: kojiBuild,
			body: kojiBuildBody(map[string]string{"new": "4", "old": "0", "task": "null"}),
			want: schemaWant{App: "Koji", Agent: "alice", Summary: "Build CANCELED: alice's foo-1.0-1.fc40",
				Text: strings.Replace(head, "complete", "canceled", 1) + "Build imported into koji\n",
				URL:  url, Users: []string{"alice"}, Packages: []string{"foo"}}},
	})
}

func TestKojiOtherClasses(t *testing.T) {
	t.Parallel()
	schemaRun(t, []schemaCase{
		{name: "package list change", schema: "koji_fedoramessaging.package.ListChangeV1",
			body: `{"action": "add", "block": false, "extra_arches": null, "force": null, "instance": "primary",
			"owner": "kevin", "package": "foo", "tag": "f40", "update": false}`,
			want: schemaWant{App: "Koji", Agent: "kevin", Summary: "Package list change for foo:  f40",
				Text: "Package list change for foo:  f40", Users: []string{"kevin"}, Packages: []string{"foo"}}},
		{name: "repo init: the topic", schema: "koji_fedoramessaging.repo.InitV1", topic: "org.fedoraproject.prod.buildsys.repo.init",
			body: `{"instance": "primary", "repo_id": 1410901, "tag": "f33-build", "tag_id": 18677}`,
			want: schemaWant{App: "Koji", Summary: "org.fedoraproject.prod.buildsys.repo.init",
				Text: "org.fedoraproject.prod.buildsys.repo.init"}},
		{name: "repo done: the topic", schema: "koji_fedoramessaging.repo.DoneV1", topic: "org.fedoraproject.prod.buildsys.repo.done",
			body: `{"instance": "primary", "repo_id": 1409150, "tag": "f33-build", "tag_id": 20164}`,
			want: schemaWant{App: "Koji", Summary: "org.fedoraproject.prod.buildsys.repo.done",
				Text: "org.fedoraproject.prod.buildsys.repo.done"}},
		{name: "rpm sign", schema: "koji_fedoramessaging.rpm.SignV1",
			body: `{"build": {"name": "wine", "owner_name": "mooninite", "nvr": "wine-5.4-1.fc32"}, "instance": "primary",
			"rpm": {"arch": "aarch64", "name": "wine-opencl-debuginfo", "release": "1.fc32", "version": "5.4"}, "sigkey": "12c944d0"}`,
			want: schemaWant{App: "Koji", Agent: "mooninite", Summary: "rpm wine-opencl-debuginfo-5.4-1.fc32 was signed",
				Text: "rpm wine-opencl-debuginfo-5.4-1.fc32 was signed", Users: []string{"mooninite"},
				Packages: []string{"wine"}}},
		{name: "rpm sign, build null", schema: "koji_fedoramessaging.rpm.SignV1",
			body:   `{"build": null, "instance": "primary", "rpm": {"name": "foo-devel", "version": "1.0", "release": "1.fc40"}, "sigkey": "abc"}`,
			raises: "agent, usernames, packages: TypeError 'NoneType' object is not subscriptable",
			want: schemaWant{App: "Koji", Summary: "rpm foo-devel-1.0-1.fc40 was signed",
				Text: "rpm foo-devel-1.0-1.fc40 was signed"}},
		{name: "rpm sign, no rpm", schema: "koji_fedoramessaging.rpm.SignV1",
			body:   `{"build": {"name": "foo", "owner_name": "alice"}, "instance": "primary", "sigkey": "abc"}`,
			raises: "summary, str: AttributeError 'NoneType' object has no attribute 'get'",
			want: schemaWant{App: "Koji", Agent: "alice", Summary: "rpm None-None-None was signed",
				Text: "rpm None-None-None was signed", Users: []string{"alice"}, Packages: []string{"foo"}}},
		{name: "tag by the owner", schema: "koji_fedoramessaging.tag.TagV1",
			body: `{"build_id": 1, "instance": "primary", "name": "foo", "owner": "alice", "release": "1.fc40",
			"tag": "f40-updates-candidate", "tag_id": 3, "user": "alice", "version": "1.0"}`,
			want: schemaWant{App: "Koji", Agent: "alice",
				Summary: "foo-1.0-1.fc40 was tagged into f40-updates-candidate by alice",
				Text:    "foo-1.0-1.fc40 was tagged into f40-updates-candidate by alice",
				Users:   []string{"alice"}, Packages: []string{"foo"}}},
		{name: "untag", schema: "koji_fedoramessaging.tag.UntagV1",
			body: `{"build_id": 1, "instance": "primary", "name": "foo", "owner": "alice", "release": "1.fc40",
			"tag": "f40-updates-testing", "tag_id": 3, "user": "bodhi", "version": "1.0"}`,
			want: schemaWant{App: "Koji", Agent: "bodhi",
				Summary: "foo-1.0-1.fc40 was untagged from f40-updates-testing by bodhi",
				Text:    "foo-1.0-1.fc40 was untagged from f40-updates-testing by bodhi",
				Users:   []string{"alice", "bodhi"}, Packages: []string{"foo"}}},
		{name: "tag, bare body", schema: "koji_fedoramessaging.tag.TagV1",
			body: `{"tag": null}`,
			want: schemaWant{App: "Koji", Summary: "None-None-None was tagged into None by None",
				Text: "None-None-None was tagged into None by None"}},
	})
}

func TestKojiTaskStateChange(t *testing.T) {
	t.Parallel()
	schemaRun(t, []schemaCase{
		{name: "build task with sub-tasks", schema: kojiTaskSch,
			body: `{"attribute": "state", "base_url": "https://koji.example", "files_base_url": "https://kojipkgs.example/work",
			"id": 10, "info": ` + kojiTestTask + `, "instance": "primary", "method": "build", "new": "CLOSED", "old": "OPEN",
			"owner": "alice", "srpm": "foo-1.0-1.fc40.src.rpm"}`,
			want: schemaWant{App: "Koji", Agent: "alice", Summary: "Task CLOSED -- build (foo-1.0-1.fc40.src.rpm noarch)",
				Text: strings.ReplaceAll(kojiTestTaskText, "FILES/", "https://kojipkgs.example/work/"),
				URL:  "https://koji.example/koji/taskinfo?taskID=10", Users: []string{"alice"}}},
		// LiveCD results are strings: fill_task_template tests '"logs" in
		// result' on the string, then indexes it (TypeError). fmn lists
		// no files; no children key (KeyError) is no sub-tasks.
		{name: "LiveCD result", schema: kojiTaskSch,
			body: `{"attribute": "state", "base_url": "https://koji.example", "files_base_url": "https://kojipkgs.example/work",
			"id": 20, "info": {"arch": "x86_64", "host_id": null, "host_name": null, "id": 20, "method": "createLiveCD",
			"result": "image with logs", "url": "https://koji.example/koji/taskinfo?taskID=20"},
			"instance": "primary", "method": "createLiveCD", "new": "FAILED", "old": "OPEN", "owner": "alice", "srpm": ""}`,
			raises: "str: TypeError string indices must be integers",
			want: schemaWant{App: "Koji", Agent: "alice", Summary: "Task FAILED -- createLiveCD ( x86_64)",
				Text: "Task 20 on (unscheduled)\nTask Type: createLiveCD (x86_64)\nLink: https://koji.example/koji/taskinfo?taskID=20\n",
				URL:  "https://koji.example/koji/taskinfo?taskID=20", Users: []string{"alice"}}},
		{name: "info null", schema: kojiTaskSch,
			body: `{"attribute": "state", "base_url": "https://koji.example", "files_base_url": "https://kojipkgs.example/work",
			"id": 20, "info": null, "instance": "primary", "method": "build", "new": "CLOSED", "old": "OPEN",
			"owner": null, "srpm": "foo.src.rpm"}`,
			raises: "summary, str, url: TypeError 'NoneType' object is not subscriptable",
			want: schemaWant{App: "Koji", Summary: "Task CLOSED -- build (foo.src.rpm )",
				Text: "Task CLOSED -- build (foo.src.rpm )"}},
	})
}

func TestKojiDate(t *testing.T) {
	t.Parallel()
	// Python 3.11's datetime.fromisoformat(s).strftime("%a, %d %b %Y %H:%M:%S %Z").
	for in, want := range map[string]string{
		"2023-06-09T07:16:27.818161+00:00": "Fri, 09 Jun 2023 07:16:27 UTC",
		"2023-06-09T07:16:27+02:00":        "Fri, 09 Jun 2023 07:16:27 UTC+02:00",
		"2023-06-09T07:16:27-05:30:15":     "Fri, 09 Jun 2023 07:16:27 UTC-05:30:15",
		"2023-06-09T07:16:27.818161-00:00": "Fri, 09 Jun 2023 07:16:27 UTC",
		"2023-06-09T07:16:27Z":             "Fri, 09 Jun 2023 07:16:27 UTC",
		"2023-06-09T07:16:27+0200":         "Fri, 09 Jun 2023 07:16:27 UTC+02:00",
		"2023-06-09 07:16:27":              "Fri, 09 Jun 2023 07:16:27 ",
		"2023-06-09x07:16:27,5":            "Fri, 09 Jun 2023 07:16:27 ",
		"2023-06-09":                       "Fri, 09 Jun 2023 00:00:00 ",
		"2023-06-09T07":                    "Fri, 09 Jun 2023 07:00:00 ",
		"2023-06-09T0716":                  "Fri, 09 Jun 2023 07:16:00 ",
		"20230609T071627":                  "Fri, 09 Jun 2023 07:16:27 ",
		"0999-01-01T00:00:00":              "Tue, 01 Jan 999 00:00:00 ",
	} {
		if got, ok := kojiFromISOFormat(in); !ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
	// Python raises ValueError: the text shows the date as written.
	for _, in := range []string{"yesterday", "2023-06-09T24:00:00", "2023-02-30", "2023-06-09T07:1",
		"2023-06-09 ", "2023-06-09T07:16:27.", "2023-06-09T07:16:27+24:00"} {
		if got, ok := kojiFromISOFormat(in); ok {
			t.Errorf("%q: got %q, want a failure", in, got)
		}
	}
}
