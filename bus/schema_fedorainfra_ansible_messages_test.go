package bus

import "testing"

// Bodies from fedorainfra-ansible-messages' tests
// (fedorainfra_ansible_messages/tests).
func TestFedorainfraAnsibleMessages(t *testing.T) {
	t.Parallel()
	const (
		start    = "ansible.playbook.start"
		complete = "ansible.playbook.complete"
		receive  = "git.receive"
	)
	const gitCommit = `"username": "dudemcpants",
 "stats": {"files": {"kernel.spec": {"deletions": 1, "additions": 0, "lines": 1}}, "total": {"deletions": 1, "files": 1, "additions": 0, "lines": 1}},
 "name": "Dude McPants", "rev": "7471f555f01eae34dcf5527f7fa1ad99f7f15ed4", "namespace": "rpms", "summary": "Add some Stuff",
 "branch": "f35", "seen": false, "path": "/srv/git/repositories/rpms/kernel.git", "message": "Add some Stuff\n", "email": "dudemcpants@email.test"`
	users := []string{"dudemcpants"}
	miscRun(t, []miscCase{
		{"start", start, "ansible.playbook.start",
			`{"playbook_checksum": "4b5eff15ef85a2424024fc963c25fde4809c1fa1", "extra_vars": {}, "userid": "dudemcpants",
 "playbook": "playbooks/update_ticketkey.yml", "check": false, "inventory": ["/srv/web/infra/ansible/inventory"]}`,
			miscWant{App: "ansible", Users: users, Text: miscBase,
				Summary: "dudemcpants started an ansible run of playbooks/update_ticketkey.yml"}},
		{"complete", complete, "ansible.playbook.complete",
			`{"userid": "dudemcpants", "playbook": "playbooks/update_ticketkey.yml", "results": {"proxy30.fedoraproject.org":
 {"ignored": 0, "skipped": 0, "ok": 2, "rescued": 0, "changed": 2, "unreachable": 0, "failures": 0}}}`,
			miscWant{App: "ansible", Users: users, Text: miscBase,
				Summary: "dudemcpants's playbooks/update_ticketkey.yml playbook run completed"}},
		{"git receive", receive, "git.receive",
			`{"commit": {"agent": "dudemcpants", "repo": "kernel", ` + gitCommit + `}}`,
			miscWant{App: "distgit", Users: users, Text: miscBase,
				Summary: `dudemcpants pushed to kernel (f35). "Add some Stuff"`}},
		// Properties that raise in Python.
		{"start without userid: summary raises, usernames [None]", start, "ansible.playbook.start",
			`{"playbook": "playbooks/update_ticketkey.yml"}`,
			miscWant{App: "ansible", Text: miscBase}},
		{"complete without playbook: summary raises", complete, "ansible.playbook.complete",
			`{"userid": "dudemcpants"}`,
			miscWant{App: "ansible", Users: users, Text: miscBase}},
		{"git receive without repo (valid): summary raises", receive, "git.receive",
			`{"commit": {"agent": "dudemcpants", ` + gitCommit + `}}`,
			miscWant{App: "distgit", Users: users, Text: miscBase}},
		{"git receive without agent: usernames [None]", receive, "git.receive",
			`{"commit": {"repo": "kernel", ` + gitCommit + `}}`,
			miscWant{App: "distgit", Text: miscBase, Summary: `dudemcpants pushed to kernel (f35). "Add some Stuff"`}},
		{"git receive, null commit: usernames raise (TypeError)", receive, "git.receive", `{"commit": null}`,
			miscWant{App: "distgit", Text: miscBase}},
		{"body not an object", start, "ansible.playbook.start", `"x"`, miscWant{App: "ansible", Text: miscBase}},
	})
}
