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
	schemaRun(t, []schemaCase{
		{name: "start", schema: start, topic: "org.fedoraproject.prod.ansible.playbook.start",
			body: `{"playbook_checksum": "4b5eff15ef85a2424024fc963c25fde4809c1fa1", "extra_vars": {}, "userid": "dudemcpants",
 "playbook": "playbooks/update_ticketkey.yml", "check": false, "inventory": ["/srv/web/infra/ansible/inventory"]}`,
			want: schemaWant{App: "ansible", Users: users,
				Summary: "dudemcpants started an ansible run of playbooks/update_ticketkey.yml"}},
		{name: "complete", schema: complete, topic: "org.fedoraproject.prod.ansible.playbook.complete",
			body: `{"userid": "dudemcpants", "playbook": "playbooks/update_ticketkey.yml", "results": {"proxy30.fedoraproject.org":
 {"ignored": 0, "skipped": 0, "ok": 2, "rescued": 0, "changed": 2, "unreachable": 0, "failures": 0}}}`,
			want: schemaWant{App: "ansible", Users: users,
				Summary: "dudemcpants's playbooks/update_ticketkey.yml playbook run completed"}},
		{name: "git receive", schema: receive, topic: "org.fedoraproject.prod.git.receive",
			body: `{"commit": {"agent": "dudemcpants", "repo": "kernel", ` + gitCommit + `}}`,
			want: schemaWant{App: "distgit", Users: users,
				Summary: `dudemcpants pushed to kernel (f35). "Add some Stuff"`}},
		// Properties that raise in Python.
		{name: "start without userid: summary raises, usernames [None]", schema: start, topic: "org.fedoraproject.prod.ansible.playbook.start",
			body: `{"playbook": "playbooks/update_ticketkey.yml"}`,
			want: schemaWant{App: "ansible"}},
		{name: "complete without playbook: summary raises", schema: complete, topic: "org.fedoraproject.prod.ansible.playbook.complete",
			body: `{"userid": "dudemcpants"}`,
			want: schemaWant{App: "ansible", Users: users}},
		{name: "git receive without repo (valid): summary raises", schema: receive, topic: "org.fedoraproject.prod.git.receive",
			body: `{"commit": {"agent": "dudemcpants", ` + gitCommit + `}}`,
			want: schemaWant{App: "distgit", Users: users}},
		{name: "git receive without agent: usernames [None]", schema: receive, topic: "org.fedoraproject.prod.git.receive",
			body: `{"commit": {"repo": "kernel", ` + gitCommit + `}}`,
			want: schemaWant{App: "distgit", Summary: `dudemcpants pushed to kernel (f35). "Add some Stuff"`}},
		{name: "git receive, null commit: usernames raise (TypeError)", schema: receive, topic: "org.fedoraproject.prod.git.receive",
			body: `{"commit": null}`,
			want: schemaWant{App: "distgit"}},
		{name: "body not an object", schema: start, topic: "org.fedoraproject.prod.ansible.playbook.start",
			body: `"x"`,
			want: schemaWant{App: "ansible"}},
	})
}
