package bus

import (
	"strings"
	"testing"
)

func init() {
	// pagure.Test.notification has no agent: PagureMessage.usernames is
	// [self.agent_name], [None].
	deviate("0013b29a-3fd2-5238-b637-1e259940d1cf", "usernames",
		"null agent: Python lists None as a username; fmn drops it, a None names no one")
	// pagure.issue.assigned.added with a null assignee: the class indexes
	// None["name"] (TypeError) in both.
	const someone = "null assignee: the class raises TypeError (None[\"name\"]); fmn assigns to \"someone\", " +
		"as PullRequestAssignedAddedV1 words it (TestPagureMessages, issue assigned added null assignee)"
	deviate("ca8bbfee-eb42-5086-ab04-36686d6edc46", "summary", someone)
	deviate("ca8bbfee-eb42-5086-ab04-36686d6edc46", "str", someone)
}

// pagureFixtures expand in the test bodies below: the shapes of the
// package's tests/utils.py (PROJECT …), trimmed to what the classes read.
var pagureFixtures = strings.NewReplacer(
	"$PROJECT", `{"name":"fedocal-messages","fullname":"fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages","namespace":"fedora-infra","parent":null,"user":{"name":"pingou","fullname":"Pierre-YvesChibon","url_path":"user/pingou"}}`,
	"$PRPROJECT", `{"name":"fedocal-messages","fullname":"pagure","full_url":"http://localhost.localdomain/pagure","namespace":"fedora-infra","parent":null,"user":{"name":"pingou","fullname":"Pierre-YvesChibon","url_path":"user/pingou"}}`,
	"$PINGOU", `{"name":"pingou","fullname":"Pierre-YvesChibon","url_path":"user/pingou"}`,
	"$ASSIGNEE", `{"name":"astepano","fullname":"Andrei Stepanov","url_path":"user/astepano"}`,
	"$FLAG", `{"commit_hash":"abcdef","username":"Jenkins","comment":"Build passed","status":"success","url":"https://jenkins.example/1","user":{"name":"dummy-user","fullname":"Dummy User","url_path":"user/dummy-user"}}`,
)

type pagureWant struct {
	agent                          string
	users, pkgs, ctrs, mods, flats []string
	summary, text, url, patch      string
}

// TestPagureMessages checks every class of pagure-messages 1.3.3, and the
// branches the corpus does not reach, against what the Python classes
// compute for the same body (a run of the package on these bodies). Where
// the class raises (pyRaises), want is what fmn derives instead: the
// property keeps the value of the class it derives from (the topic as
// summary, the base dump as text, "" in text here), except for the
// recorded exceptions (someone, null fields left out of a join, the
// issue's URL for a comment URL without comments).
func TestPagureMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, schema, topic string
		pyRaises            string
		body                string
		want                pagureWant
	}{
		{name: "project new", schema: "pagure.project.new",
			body: `{"agent":"dummy-user","project":$PROJECT}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user created project \"fedora-infra/fedocal-messages\"",
				text:    "New Project: fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project edit", schema: "pagure.project.edit",
			body: `{"agent":"dummy-user","project":$PROJECT,"fields":["description","url"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user edited the fields description, url of project \"fedora-infra/fedocal-messages\"",
				text:    "Project Edited: fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project forked", schema: "pagure.project.forked",
			body: `{"agent":"dummy-user","project":{"name":"fedocal-messages","fullname":"forks/dummy-user/fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fork/dummy-user/fedora-infra/fedocal-messages","namespace":"fedora-infra","parent":$PROJECT,"user":$PINGOU}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user forked project \"fedora-infra/fedocal-messages\" to forks/dummy-user/fedora-infra/fedocal-messages",
				text:    "Project: fedora-infra/fedocal-messages\nForked by: dummy-user",
				url:     "http://localhost.localdomain/fork/dummy-user/fedora-infra/fedocal-messages"}},
		{name: "project deleted", schema: "pagure.project.deleted",
			body: `{"agent":"dummy-user","project":$PROJECT}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user deleted project \"fedora-infra/fedocal-messages\"",
				text:    "Project: fedora-infra/fedocal-messages\nDeleted by: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project group added", schema: "pagure.project.group.added",
			body: `{"agent":"dummy-user","project":$PROJECT,"new_group":"dummy-group","access":"commit","branches":null}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user added the group dummy-group to the project \"fedora-infra/fedocal-messages\" at the commit level",
				text:    "Group: dummy-group added to fedora-infra/fedocal-messages as commit\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project group access updated", schema: "pagure.project.group.access.updated",
			body: `{"agent":"dummy-user","project":$PROJECT,"new_group":"dummy-group","new_access":"admin"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user updated the access of group dummy-group to admin on the project \"fedora-infra/fedocal-messages\"",
				text:    "Group: dummy-group access updated to admin on fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project group removed", schema: "pagure.project.group.removed",
			body: `{"agent":"dummy-user","project":$PROJECT,"removed_groups":["g1","g2"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user removed the group(s) g1, g2 from the project \"fedora-infra/fedocal-messages\"",
				text:    "Group(s) g1, g2 removed from fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project tag edited", schema: "pagure.project.tag.edited",
			body: `{"agent":"dummy-user","project":$PROJECT,"old_tag":"a","old_tag_description":"","old_tag_color":"red","new_tag":"b","new_tag_description":"","new_tag_color":"blue"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user edited the tag b on the project \"fedora-infra/fedocal-messages\"",
				text:    "Tag: b edited on fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project tag removed", schema: "pagure.project.tag.removed",
			body: `{"agent":"dummy-user","project":$PROJECT,"tags":["easyfix","bug"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user removed the tag(s) easyfix, bug of project \"fedora-infra/fedocal-messages\"",
				text:    "Tag(s): easyfix, bug removed from fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project user access updated", schema: "pagure.project.user.access.updated",
			body: `{"agent":"dummy-user","project":$PROJECT,"new_user":"foo","new_access":"ticket","new_branches":null}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user updated the access of foo to ticket on the project \"fedora-infra/fedocal-messages\"",
				text:    "User: foo access edited to ticket on fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project user added", schema: "pagure.project.user.added",
			body: `{"agent":"dummy-user","project":$PROJECT,"new_user":"foo","access":"commit","branches":null}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user added the foo to the project \"fedora-infra/fedocal-messages\"",
				text:    "User: foo added to fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project user removed", schema: "pagure.project.user.removed",
			body: `{"agent":"dummy-user","project":$PROJECT,"removed_user":"foo"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user removed the foo from the project \"fedora-infra/fedocal-messages\"",
				text:    "User: foo removed from fedora-infra/fedocal-messages\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project new without agent", schema: "pagure.project.new",
			body: `{"project":$PROJECT}`,
			want: pagureWant{agent: "", users: nil,
				summary: "None created project \"fedora-infra/fedocal-messages\"",
				text:    "New Project: fedora-infra/fedocal-messages\nBy: None",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "project new without project", schema: "pagure.project.new",
			pyRaises: "str (KeyError: 'project'), summary (KeyError: 'project'), url (KeyError: 'project')",
			body:     `{"agent":"dummy-user"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "org.fedoraproject.prod.pagure.project.new",
				text:    "",
				url:     ""}},
		{name: "issue new", schema: "pagure.issue.new",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user created issue fedora-infra/fedocal-messages#2: Dummy issue",
				text:    "New Issue: fedora-infra/fedocal-messages#2\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue edit", schema: "pagure.issue.edit",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]},"fields":["status","close_status"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user edited fields status, close_status of issue fedora-infra/fedocal-messages#2: Dummy issue",
				text:    "Edited Issue: fedora-infra/fedocal-messages#2\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue edit null field", schema: "pagure.issue.edit",
			pyRaises: "summary (TypeError: sequence item 1: expected str instance, NoneType found)",
			body:     `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]},"fields":["status",null]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user edited fields status of issue fedora-infra/fedocal-messages#2: Dummy issue",
				text:    "Edited Issue: fedora-infra/fedocal-messages#2\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue drop", schema: "pagure.issue.drop",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user deleted issue fedora-infra/fedocal-messages#2: Dummy issue",
				text:    "Issue deleted: fedora-infra/fedocal-messages#2\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issues"}},
		{name: "issue assigned added", schema: "pagure.issue.assigned.added",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user assigned issue fedora-infra/fedocal-messages#2 to astepano",
				text:    "Issue: fedora-infra/fedocal-messages#2 assigned to astepano\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue assigned added null assignee", schema: "pagure.issue.assigned.added",
			pyRaises: "str (TypeError: 'NoneType' object is not subscriptable), summary (TypeError: 'NoneType' object is not subscriptable)",
			body:     `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":null,"comments":[{"id":700},{"id":701}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user assigned issue fedora-infra/fedocal-messages#2 to someone",
				text:    "Issue: fedora-infra/fedocal-messages#2 assigned to someone\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue assigned reset", schema: "pagure.issue.assigned.reset",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":null,"comments":[{"id":700},{"id":701}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user reset the assignee on issue fedora-infra/fedocal-messages#2",
				text:    "Issue un-assigned: fedora-infra/fedocal-messages#2\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue dependency added", schema: "pagure.issue.dependency.added",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]},"added_dependency":3}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user set the issue fedora-infra/fedocal-messages#2 as depending on #3",
				text:    "Issue: fedora-infra/fedocal-messages#2 depends on #3\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue dependency removed", schema: "pagure.issue.dependency.removed",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]},"removed_dependency":[3,4]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user removed the dependency on #3, #4 on the issue fedora-infra/fedocal-messages#2",
				text:    "Issue: fedora-infra/fedocal-messages#2 no longer depending on #3, #4\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue comment added", schema: "pagure.issue.comment.added",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user commented on the issue fedora-infra/fedocal-messages#2",
				text:    "Issue: fedora-infra/fedocal-messages#2 has a new comment\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2#comment-701"}},
		{name: "issue comment added no comments", schema: "pagure.issue.comment.added",
			pyRaises: "url (IndexError: list index out of range)",
			body:     `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user commented on the issue fedora-infra/fedocal-messages#2",
				text:    "Issue: fedora-infra/fedocal-messages#2 has a new comment\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue comment added without issue", schema: "pagure.issue.comment.added",
			pyRaises: "str (KeyError: 'issue'), summary (KeyError: 'issue'), url (KeyError: 'issue'), usernames (KeyError: 'issue')",
			body:     `{"agent":"dummy-user","project":$PROJECT}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "org.fedoraproject.prod.pagure.issue.comment.added",
				text:    "",
				url:     ""}},
		{name: "issue tag added", schema: "pagure.issue.tag.added",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]},"tags":["easyfix","bug"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user tagged the issue fedora-infra/fedocal-messages#2 with: easyfix, bug",
				text:    "Issue: fedora-infra/fedocal-messages#2 tagged with easyfix, bug\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue tag added without tags", schema: "pagure.issue.tag.added",
			pyRaises: "str (KeyError: 'tags'), summary (KeyError: 'tags')",
			body:     `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "org.fedoraproject.prod.pagure.issue.tag.added",
				text:    "",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "issue tag removed", schema: "pagure.issue.tag.removed",
			body: `{"agent":"dummy-user","project":$PROJECT,"issue":{"id":2,"title":"Dummy issue","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2","user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":700},{"id":701}]},"tags":["easyfix"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user removed tags easyfix from issue fedora-infra/fedocal-messages#2",
				text:    "Issue: fedora-infra/fedocal-messages#2 un-tagged with easyfix\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/issue/2"}},
		{name: "commit flag added", schema: "pagure.commit.flag.added",
			body: `{"agent":"dummy-user","repo":$PROJECT,"flag":$FLAG}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "Commit abcdef of project fedora-infra/fedocal-messages was flagged as success by Jenkins",
				text:    "New commit flag: Jenkins success\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/c/abcdef"}},
		{name: "commit flag updated", schema: "pagure.commit.flag.updated",
			body: `{"agent":"dummy-user","repo":$PROJECT,"flag":$FLAG}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "Jenkins updated flag on commit abcdef of project fedora-infra/fedocal-messages to success",
				text:    "New commit flag: Jenkins success\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/c/abcdef"}},
		{name: "group edit", schema: "pagure.group.edit",
			body: `{"agent":"dummy-user","group":{"name":"dummy-group","display_name":"Dummy group","full_url":"http://localhost.localdomain/group/dummy-group","creator":{"name":"dummy-user","fullname":"Dummy User","url_path":"user/dummy-user"},"members":["dummy-user"]},"fields":["display_name","description"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user edited the fields display_name, description of the group dummy-group",
				text:    "Group edit: dummy-group\nBy: dummy-user",
				url:     "http://localhost.localdomain/group/dummy-group"}},
		{name: "test notification", schema: "pagure.Test.notification",
			body: `{"content":"Test message"}`,
			want: pagureWant{agent: "", users: nil,
				summary: "Test notification",
				text:    "Test notification",
				url:     "https://pagure.io"}},
		{name: "test notification stg", schema: "pagure.Test.notification", topic: "org.fedoraproject.stg.pagure.Test.notification",
			body: `{"content":"Test message"}`,
			want: pagureWant{agent: "", users: nil,
				summary: "Test notification",
				text:    "Test notification",
				url:     "https://stg.pagure.io"}},
		{name: "pr new", schema: "pagure.pull-request.new",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user opened a pull-request pagure#5014: Fix the tests",
				text:    "New Pull-Request: pagure#5014\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr assigned added", schema: "pagure.pull-request.assigned.added",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":$ASSIGNEE,"comments":[{"id":133904},{"id":133905}]},"project":$PRPROJECT}`,
			want: pagureWant{agent: "dummy-user", users: []string{"astepano", "dummy-user", "pingou"},
				summary: "dummy-user assigned the pull-request pagure#5014 to astepano",
				text:    "Pull-request pagure#5014 was assigned\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr assigned added null assignee", schema: "pagure.pull-request.assigned.added",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"project":$PRPROJECT}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user assigned the pull-request pagure#5014 to someone",
				text:    "Pull-request pagure#5014 was assigned\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr assigned reset", schema: "pagure.pull-request.assigned.reset",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"project":$PRPROJECT}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user reset the assignee of the pull-request pagure#5014",
				text:    "Pull-request pagure#5014 was un-assigned\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr closed merged", schema: "pagure.pull-request.closed",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"merged":true}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user merged the pull-request pagure#5014",
				text:    "Pull-Request: pagure#5014 has been merged\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr closed", schema: "pagure.pull-request.closed",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"merged":false}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user closed without merging the pull-request pagure#5014",
				text:    "Pull-Request: pagure#5014 has been closed without merging\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr comment added", schema: "pagure.pull-request.comment.added",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user commented on the pull-request pagure#5014",
				text:    "Pull-Request: pagure#5014 has a new comment\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014#comment-133905"}},
		{name: "pr comment edited", schema: "pagure.pull-request.comment.edited",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user edited comment on the pull-request pagure#5014",
				text:    "Edited comment on Pull-Request: pagure#5014\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014#comment-133905"}},
		{name: "pr comment edited no comments", schema: "pagure.pull-request.comment.edited",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user edited comment on the pull-request pagure#5014",
				text:    "Edited comment on Pull-Request: pagure#5014\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr flag added", schema: "pagure.pull-request.flag.added",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"flag":$FLAG}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "Pull-request pagure#5014 was flagged as success by Jenkins",
				text:    "New pull-request flag: Jenkins success\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr flag updated", schema: "pagure.pull-request.flag.updated",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"flag":$FLAG}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "Jenkins updated flag on pull-request pagure#5014 to success",
				text:    "Pull-request flag updated: Jenkins success\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr initial comment edited", schema: "pagure.pull-request.initial_comment.edited",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"project":$PRPROJECT}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user has edited the description of the pull-request pagure#5014",
				text:    "Description of pull-request pagure#5014 edited\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr rebased", schema: "pagure.pull-request.rebased",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user rebased the pull-request pagure#5014",
				text:    "Pull-request pagure#5014 was rebased\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr reopened", schema: "pagure.pull-request.reopened",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user re-opened the pull-request pagure#5014",
				text:    "Pull-request pagure#5014 was re-opened\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr tag added", schema: "pagure.pull-request.tag.added",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"project":$PRPROJECT,"tags":["easyfix","bug"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user tagged the pull-request pagure#5014 with easyfix, bug",
				text:    "Pull-request pagure#5014 was tagged\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr tag removed", schema: "pagure.pull-request.tag.removed",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]},"project":$PRPROJECT,"tags":["bug"]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user un-tagged the pull-request pagure#5014 with: bug",
				text:    "Pull-request pagure#5014 was un-tagged\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "pr updated", schema: "pagure.pull-request.updated",
			body: `{"agent":"dummy-user","pullrequest":{"id":5014,"title":"Fix the tests","full_url":"http://localhost.localdomain/pagure/pull-request/5014","project":$PRPROJECT,"user":$PINGOU,"assignee":null,"comments":[{"id":133904},{"id":133905}]}}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user", "pingou"},
				summary: "dummy-user updated the pull-request pagure#5014",
				text:    "Pull-request pagure#5014 was updated\nBy: dummy-user",
				url:     "http://localhost.localdomain/pagure/pull-request/5014"}},
		{name: "git branch creation", schema: "pagure.git.branch.creation",
			body: `{"agent":"dummy-user","repo":{"name":"fedocal-messages","fullname":"fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages","namespace":"rpms","parent":null,"user":$PINGOU},"branch":"refs/heads/f40","rev":"abc123","authors":[]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"}, pkgs: []string{"fedocal-messages"},
				summary: "dummy-user created the branch refs/heads/f40 on fedora-infra/fedocal-messages",
				text:    "Git branch: refs/heads/f40 created\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/tree/f40"}},
		{name: "git branch creation short", schema: "pagure.git.branch.creation",
			body: `{"agent":"dummy-user","repo":{"name":"fedocal-messages","fullname":"fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages","namespace":"modules","parent":null,"user":$PINGOU},"branch":"f40","rev":"abc123","authors":[]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"}, mods: []string{"fedocal-messages"},
				summary: "dummy-user created the branch f40 on fedora-infra/fedocal-messages",
				text:    "Git branch: f40 created\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/tree/f40"}},
		{name: "git branch deletion", schema: "pagure.git.branch.deletion",
			body: `{"agent":"dummy-user","repo":{"name":"fedocal-messages","fullname":"fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages","namespace":"containers","parent":null,"user":$PINGOU},"branch":"f40","rev":"abc123","authors":[]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"}, ctrs: []string{"fedocal-messages"},
				summary: "dummy-user deleted the branch f40 on fedora-infra/fedocal-messages",
				text:    "Git branch: f40 deleted\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages"}},
		{name: "git tag creation", schema: "pagure.git.tag.creation",
			body: `{"agent":"dummy-user","repo":{"name":"fedocal-messages","fullname":"fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages","namespace":"flatpaks","parent":null,"user":$PINGOU},"tag":"v1.0","rev":"abc123","authors":[]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"}, flats: []string{"fedocal-messages"},
				summary: "dummy-user tagged the commit abc123 on fedora-infra/fedocal-messages as v1.0",
				text:    "Git tag: v1.0 created\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/commits/v1.0"}},
		{name: "git tag deletion", schema: "pagure.git.tag.deletion",
			body: `{"agent":"dummy-user","repo":{"name":"fedocal-messages","fullname":"fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages","namespace":"rpms","parent":null,"user":$PINGOU},"tag":"v1.0","rev":"abc123","authors":[]}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"}, pkgs: []string{"fedocal-messages"},
				summary: "dummy-user deleted the tag v1.0 of commit abc123 on fedora-infra/fedocal-messages",
				text:    "Git tag: v1.0 deleted\nBy: dummy-user",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/releases"}},
		{name: "git receive", schema: "pagure.git.receive",
			body: `{"agent":"dummy-user","forced":false,"repo":$PROJECT,"old_commit":"hash_commit_old","branch":"refs/heads/develop","authors":[{"fullname":"Dummy User","name":"dummy-user","url_path":"user/dummy-user","email":null}],"total_commits":42,"start_commit":"hash_commit_start","end_commit":"hash_commit_stop"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user pushed 42 commits on fedora-infra/fedocal-messages (branch: develop)",
				text:    "Dummy User (dummy-user) pushed 42 commits on fedora-infra/fedocal-messages.\nBranch: develop\n",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/c/hash_commit_old..hash_commit_stop"}},
		{name: "git receive one commit", schema: "pagure.git.receive",
			body: `{"agent":"dummy-user","forced":true,"repo":{"name":"fedocal-messages","fullname":"fedora-infra/fedocal-messages","full_url":"http://localhost.localdomain/fedora-infra/fedocal-messages","namespace":"rpms","parent":null,"user":$PINGOU},"old_commit":"hash_commit_old","branch":"develop","authors":[{"fullname":"Dummy User","name":"dummy-user","url_path":"user/dummy-user","email":null}],"total_commits":1,"start_commit":"hash_commit_start","end_commit":"hash_commit_stop"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"}, pkgs: []string{"fedocal-messages"},
				summary: "dummy-user pushed 1 commits on fedora-infra/fedocal-messages (branch: develop)",
				text:    "Dummy User (dummy-user) forced-pushed 1 commit on fedora-infra/fedocal-messages.\nBranch: develop\n",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/c/hash_commit_stop",
				patch:   "http://localhost.localdomain/fedora-infra/fedocal-messages/c/hash_commit_stop.patch"}},
		{name: "git receive one commit float", schema: "pagure.git.receive",
			body: `{"agent":"dummy-user","forced":false,"repo":$PROJECT,"old_commit":"hash_commit_old","branch":"refs/heads/develop","authors":[{"fullname":"Dummy User","name":"dummy-user","url_path":"user/dummy-user","email":null}],"total_commits":1.0,"start_commit":"hash_commit_start","end_commit":"hash_commit_stop"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user pushed 1.0 commits on fedora-infra/fedocal-messages (branch: develop)",
				text:    "Dummy User (dummy-user) pushed 1.0 commit on fedora-infra/fedocal-messages.\nBranch: develop\n",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/c/hash_commit_stop",
				patch:   "http://localhost.localdomain/fedora-infra/fedocal-messages/c/hash_commit_stop.patch"}},
		{name: "git receive author key", schema: "pagure.git.receive",
			pyRaises: "str (TypeError: str.format() got multiple values for keyword argument 'author')",
			body:     `{"agent":"dummy-user","forced":false,"repo":$PROJECT,"old_commit":"hash_commit_old","branch":"refs/heads/develop","authors":[{"fullname":"Dummy User","name":"dummy-user","url_path":"user/dummy-user","email":null}],"total_commits":42,"start_commit":"hash_commit_start","end_commit":"hash_commit_stop","author":"x"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user pushed 42 commits on fedora-infra/fedocal-messages (branch: develop)",
				text:    "",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/c/hash_commit_old..hash_commit_stop"}},
		{name: "git receive no authors", schema: "pagure.git.receive",
			pyRaises: "str (IndexError: list index out of range)",
			body:     `{"agent":"dummy-user","forced":false,"repo":$PROJECT,"old_commit":"hash_commit_old","branch":"refs/heads/develop","authors":[],"total_commits":42,"start_commit":"hash_commit_start","end_commit":"hash_commit_stop"}`,
			want: pagureWant{agent: "dummy-user", users: []string{"dummy-user"},
				summary: "dummy-user pushed 42 commits on fedora-infra/fedocal-messages (branch: develop)",
				text:    "",
				url:     "http://localhost.localdomain/fedora-infra/fedocal-messages/c/hash_commit_old..hash_commit_stop"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := tc.topic
			if topic == "" {
				topic = "org.fedoraproject.prod." + tc.schema
			}
			p := mustParse(t, topic, hdr(HeaderSchema, tc.schema), pagureFixtures.Replace(tc.body))
			if p.ExtractError != "" {
				t.Fatalf("ExtractError: %s", p.ExtractError)
			}
			if p.App != "Pagure" {
				t.Errorf("app = %q", p.App)
			}
			w := tc.want
			check := func(field, got, want string) {
				if got != want {
					t.Errorf("%s:\n got  %q\n want %q", field, got, want)
				}
			}
			checkList := func(field string, got, want []string) {
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s: got %q, want %q", field, got, want)
				}
			}
			check("agent", p.Agent, w.agent)
			checkList("usernames", p.Usernames, w.users)
			checkList("groups", p.Groups, nil)
			checkList("packages", p.Packages, w.pkgs)
			checkList("containers", p.Containers, w.ctrs)
			checkList("modules", p.Modules, w.mods)
			checkList("flatpaks", p.Flatpaks, w.flats)
			check("summary", p.Summary, w.summary)
			check("text", p.Text, w.text)
			check("url", p.URL, w.url)
			check("patch_url", p.PatchURL, w.patch)
			if p.Deprecated {
				t.Error("deprecated")
			}
			if w.text == "" && !strings.HasPrefix(p.DisplayText(), "Id: id-1\nTopic: "+topic+"\n") {
				t.Errorf("base text: %q", p.DisplayText())
			}
		})
	}
}

// TestPagureOddShapes: bodies of shapes the schemas do not describe read as
// Python reads them (values checked against the package), and odd or broken
// bodies never make an extractor fail.
func TestPagureOddShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		schema, body string
		want         pagureWant
	}{
		// 1e400 is inf in Python; a null repo name lists None (dropped).
		{"pagure.git.receive",
			`{"agent":"a","forced":1,"repo":{"fullname":"r","full_url":"u","namespace":"rpms","name":null},"old_commit":"o",` +
				`"branch":"refs/heads/x","authors":[{"fullname":"F","name":null}],"total_commits":1e400,"end_commit":"e"}`,
			pagureWant{agent: "a", users: []string{"a"}, summary: "a pushed inf commits on r (branch: x)",
				text: "F (None) forced-pushed inf commits on r.\nBranch: x\n", url: "u/c/o..e"}},
		// str() of each item of a string, float ids, a null assignee name.
		{"pagure.issue.dependency.removed",
			`{"agent":"a","project":{"fullname":"p"},"issue":{"id":1.0,"full_url":"u","user":{"name":"a"},"assignee":{"name":null}},` +
				`"removed_dependency":"34"}`,
			pagureWant{agent: "a", users: []string{"a"}, summary: "a removed the dependency on #3, #4 on the issue p#1.0",
				text: "Issue: p#1.0 no longer depending on #3, #4\nBy: a", url: "u"}},
		// A branch that is a list: `"refs/heads/" in item` is False.
		{"pagure.git.branch.creation",
			`{"agent":"a","repo":{"fullname":"r","full_url":"u","namespace":"x"},"branch":["a",1]}`,
			pagureWant{agent: "a", users: []string{"a"}, summary: "a created the branch ['a', 1] on r",
				text: "Git branch: ['a', 1] created\nBy: a", url: "u/tree/['a', 1]"}},
	}
	for _, tc := range tests {
		p := mustParse(t, "org.fedoraproject.prod."+tc.schema, hdr(HeaderSchema, tc.schema), tc.body)
		got := pagureWant{agent: p.Agent, users: p.Usernames, pkgs: p.Packages, summary: p.Summary, text: p.Text,
			url: p.URL, patch: p.PatchURL}
		if p.ExtractError != "" || strings.Join(got.users, ",") != strings.Join(tc.want.users, ",") || len(got.pkgs) != 0 ||
			got.summary != tc.want.summary || got.text != tc.want.text || got.url != tc.want.url || got.patch != "" {
			t.Errorf("%s: got %+v (%s), want %+v", tc.schema, got, p.ExtractError, tc.want)
		}
	}

	odd := []string{`[]`, `1`, `null`, `"x"`, `{}`, `{"agent":5}`,
		`{"agent":"a","project":[],"issue":"x","pullrequest":{"comments":{},"project":1},"repo":{"namespace":["rpms"]}}`,
		`{"agent":"a","tags":[1,{}],"fields":{"a":1},"removed_dependency":5,"branch":{"refs/heads/":1},"total_commits":"1",` +
			`"authors":{"0":1},"merged":null,"flag":[],"group":null,"issue":{"assignee":"bob","comments":"abc"}}`,
	}
	for _, s := range DefaultRegistry.Schemas() {
		if !strings.HasPrefix(s, "pagure.") {
			continue
		}
		for _, body := range odd {
			p := mustParse(t, "org.fedoraproject.prod."+s, hdr(HeaderSchema, s), body)
			if p.ExtractError != "" {
				t.Errorf("%s %s: %s", s, body, p.ExtractError)
			}
			_ = p.DisplayText()
		}
	}
}

// TestPagureRegistered: the 45 entry points of pagure-messages 1.3.3.
func TestPagureRegistered(t *testing.T) {
	t.Parallel()
	n := 0
	for _, s := range DefaultRegistry.Schemas() {
		if p := DefaultRegistry.PackageOf(s); p != nil && p.Name == "pagure-messages" {
			n++
			if sch := DefaultRegistry.Lookup(s); sch.App != "Pagure" || sch.Deprecated ||
				!strings.HasPrefix(sch.Class, "pagure_messages.") {
				t.Errorf("%s: %+v", s, sch)
			}
		}
	}
	if n != 45 {
		t.Errorf("%d pagure schemas, want 45", n)
	}
}
