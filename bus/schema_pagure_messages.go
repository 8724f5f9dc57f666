package bus

import "strings"

// pagure-messages: the schemas of Pagure (pagure.io, src.fedoraproject.org).
//
// Every class derives from PagureMessage: app "Pagure", the body's agent
// as agent and as the only username. Issue and pull-request classes
// (IssueOrPullRequestMessage) link the issue or pull request and name its
// author and assignee too; git classes (GitMessage) file the repository
// under its namespace: rpms → packages, containers, modules, flatpaks.
//
// The classes index the body (body["project"]["fullname"]): a missing key
// raises in Python. fmn computes each property on its own; where the class
// would raise, that property keeps the value of the class it derives from
// (the topic as summary, the id/topic/headers/body dump as text, the issue's
// or pull request's URL, else none) and the others are still computed,
// with these exceptions:
//
//   - issue.assigned.added with a null assignee (valid: ISSUE allows it)
//     assigns to "someone", as the pull-request class words it;
//   - a comment URL without comments is the issue's or pull request's own
//     URL (what pull-request.comment.edited links then);
//   - ", ".join of a list holding null (issue.edit's fields allow null)
//     leaves the nulls out;
//   - usernames and artifacts never raise: they list what the body names.

// pagureMsg is a message as the classes read it, with the objects they
// index (project, repo, issue, pullrequest, …) indexed once.
type pagureMsg struct {
	x *Extraction
	// agent is "{}".format(self.agent_name), body.get("agent").
	agent string
	objs  [4]struct {
		key  string
		body Body
	}
	nobj int
	// refFn computes the "{project}#{id}" of an issue or pull request,
	// once (ref, refState: 1 done, -1 raised).
	refFn    func(m *pagureMsg) string
	refText  string
	refState int8
}

// obj returns body[key] indexed, an empty Body when it is no object.
func (m *pagureMsg) obj(key string) Body {
	for i := 0; i < m.nobj; i++ {
		if m.objs[i].key == key {
			return m.objs[i].body
		}
	}
	o := m.x.object(m.x.Body.Get(key))
	if m.nobj < len(m.objs) {
		m.objs[m.nobj].key, m.objs[m.nobj].body = key, o
		m.nobj++
	}
	return o
}

// at is body[k1][k2]…, raising as Python does (Value.PyItem).
func (m *pagureMsg) at(path ...string) Value {
	if len(path) == 1 {
		return m.x.Body.PyItem(path[0])
	}
	return m.obj(path[0]).PyItem(path[1:]...)
}

// f is "{}".format(body[k1][k2]…).
func (m *pagureMsg) f(path ...string) string { return PyStr(m.at(path...)) }

// raw is a property returning body[k1][k2]… itself: a string as is, None
// as "".
func (m *pagureMsg) raw(path ...string) string { return PyOptStr(m.at(path...)) }

// ref is the issue's or pull request's "{project fullname}#{id}".
func (m *pagureMsg) ref() string {
	if m.refState == 0 {
		m.refState = -1
		m.refText = m.refFn(m)
		m.refState = 1
	}
	if m.refState < 0 {
		PyRaise("KeyError", "ref")
	}
	return m.refText
}

// Class families.
const (
	pagureKindBase = iota
	pagureKindIssue
	pagureKindPR
	pagureKindGit
)

// pagureClass describes one class: its family and the properties it
// overrides (nil: the family's).
type pagureClass struct {
	kind               int
	text, summary, url func(m *pagureMsg) string
	patch              func(m *pagureMsg, url string) string
}

func (c pagureClass) extract(x *Extraction) {
	agent := x.Body.Get("agent")
	m := &pagureMsg{x: x, agent: PyStr(agent)}
	x.Agent = agent.Str()
	switch c.kind {
	case pagureKindIssue, pagureKindPR:
		obj := "issue"
		m.refFn = func(m *pagureMsg) string { return m.f("project", "fullname") + "#" + m.f("issue", "id") }
		if c.kind == pagureKindPR {
			obj = "pullrequest"
			m.refFn = func(m *pagureMsg) string {
				return m.f("pullrequest", "project", "fullname") + "#" + m.f("pullrequest", "id")
			}
		}
		o := m.obj(obj)
		// pretty_list([agent, obj.user.name, obj.assignee.name]): the
		// assignee only when there is one.
		x.Usernames = Strs(agent, o.Get("user", "name"), o.Get("assignee", "name"))
		if x.Display() {
			PyTry(func() { x.URL = m.raw(obj, "full_url") })
		}
	case pagureKindGit:
		x.Usernames = Strs(agent)
		repo := m.obj("repo")
		if ns, ok := repo.Get("namespace").StrOK(); ok {
			name := Strs(repo.Get("name"))
			switch ns {
			case "rpms":
				x.Packages = name
			case "containers":
				x.Containers = name
			case "modules":
				x.Modules = name
			case "flatpaks":
				x.Flatpaks = name
			}
		}
	default:
		x.Usernames = Strs(agent)
	}
	if !x.Display() {
		return
	}
	if c.text != nil {
		PyTry(func() { x.Text = c.text(m) })
	}
	if c.summary != nil {
		PyTry(func() { x.Summary = c.summary(m) })
	}
	if c.url != nil {
		PyTry(func() { x.URL = c.url(m) })
	}
	if c.patch != nil {
		url := x.URL
		PyTry(func() { x.PatchURL = c.patch(m, url) })
	}
}

// --- project_schema ---------------------------------------------------------

// pagureProject is a project class: "<text>\n<by>: agent" and a summary,
// linking body["project"]["full_url"].
func pagureProject(text, summary func(m *pagureMsg) string) pagureClass {
	return pagureClass{
		kind:    pagureKindBase,
		text:    func(m *pagureMsg) string { return text(m) },
		summary: summary,
		url:     func(m *pagureMsg) string { return m.raw("project", "full_url") },
	}
}

var pagureProjectNew = pagureProject(
	func(m *pagureMsg) string {
		return "New Project: " + m.f("project", "fullname") + "\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + ` created project "` + m.f("project", "fullname") + `"`
	})

var pagureProjectEdit = pagureProject(
	func(m *pagureMsg) string {
		return "Project Edited: " + m.f("project", "fullname") + "\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " edited the fields " + PyJoinSkipNone(", ", m.at("fields")) +
			` of project "` + m.f("project", "fullname") + `"`
	})

var pagureProjectForked = pagureProject(
	func(m *pagureMsg) string {
		return "Project: " + m.f("project", "parent", "fullname") + "\nForked by: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + ` forked project "` + m.f("project", "parent", "fullname") +
			`" to ` + m.f("project", "fullname")
	})

var pagureProjectDeleted = pagureProject(
	func(m *pagureMsg) string {
		return "Project: " + m.f("project", "fullname") + "\nDeleted by: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + ` deleted project "` + m.f("project", "fullname") + `"`
	})

var pagureProjectGroupAdded = pagureProject(
	func(m *pagureMsg) string {
		return "Group: " + m.f("new_group") + " added to " + m.f("project", "fullname") +
			" as " + m.f("access") + "\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " added the group " + m.f("new_group") + ` to the project "` +
			m.f("project", "fullname") + `" at the ` + m.f("access") + " level"
	})

var pagureProjectGroupRemoved = pagureProject(
	func(m *pagureMsg) string {
		return "Group(s) " + PyJoinSkipNone(", ", m.at("removed_groups")) + " removed from " +
			m.f("project", "fullname") + "\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " removed the group(s) " + PyJoinSkipNone(", ", m.at("removed_groups")) +
			` from the project "` + m.f("project", "fullname") + `"`
	})

var pagureProjectGroupAccessUpdated = pagureProject(
	func(m *pagureMsg) string {
		return "Group: " + m.f("new_group") + " access updated to " + m.f("new_access") +
			" on " + m.f("project", "fullname") + "\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " updated the access of group " + m.f("new_group") + " to " +
			m.f("new_access") + ` on the project "` + m.f("project", "fullname") + `"`
	})

var pagureProjectTagEdited = pagureProject(
	func(m *pagureMsg) string {
		return "Tag: " + m.f("new_tag") + " edited on " + m.f("project", "fullname") +
			"\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " edited the tag " + m.f("new_tag") + ` on the project "` +
			m.f("project", "fullname") + `"`
	})

var pagureProjectTagRemoved = pagureProject(
	func(m *pagureMsg) string {
		return "Tag(s): " + PyJoinSkipNone(", ", m.at("tags")) + " removed from " + m.f("project", "fullname") +
			"\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " removed the tag(s) " + PyJoinSkipNone(", ", m.at("tags")) + ` of project "` +
			m.f("project", "fullname") + `"`
	})

var pagureProjectUserAccessUpdated = pagureProject(
	func(m *pagureMsg) string {
		return "User: " + m.f("new_user") + " access edited to " + m.f("new_access") +
			" on " + m.f("project", "fullname") + "\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " updated the access of " + m.f("new_user") + " to " +
			m.f("new_access") + ` on the project "` + m.f("project", "fullname") + `"`
	})

var pagureProjectUserAdded = pagureProject(
	func(m *pagureMsg) string {
		return "User: " + m.f("new_user") + " added to " + m.f("project", "fullname") +
			"\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " added the " + m.f("new_user") + ` to the project "` +
			m.f("project", "fullname") + `"`
	})

var pagureProjectUserRemoved = pagureProject(
	func(m *pagureMsg) string {
		return "User: " + m.f("removed_user") + " removed from " + m.f("project", "fullname") +
			"\nBy: " + m.agent
	},
	func(m *pagureMsg) string {
		return m.agent + " removed the " + m.f("removed_user") + ` from the project "` +
			m.f("project", "fullname") + `"`
	})

// --- issue_schema -----------------------------------------------------------

// pagureIssue is an issue class: the text "<head> <ref><tail>\nBy: agent"
// and a summary.
func pagureIssue(text, summary func(m *pagureMsg) string) pagureClass {
	return pagureClass{
		kind:    pagureKindIssue,
		text:    func(m *pagureMsg) string { return text(m) + "\nBy: " + m.agent },
		summary: summary,
	}
}

// pagureIssueAssignee is the issue's assignee's name. The class raises on a
// null assignee (None["name"]), though ISSUE allows one and the package's
// own test_minimal sends one; fmn says "someone", as
// PullRequestAssignedAddedV1 does for its pull requests.
func pagureIssueAssignee(m *pagureMsg) string {
	a := m.at("issue", "assignee")
	if !a.Truthy() {
		return "someone"
	}
	return PyStr(a.PyItem("name"))
}

var pagureIssueAssignedAdded = pagureIssue(
	func(m *pagureMsg) string {
		return "Issue: " + m.ref() + " assigned to " + pagureIssueAssignee(m)
	},
	func(m *pagureMsg) string {
		return m.agent + " assigned issue " + m.ref() + " to " + pagureIssueAssignee(m)
	})

var pagureIssueAssignedReset = pagureIssue(
	func(m *pagureMsg) string { return "Issue un-assigned: " + m.ref() },
	func(m *pagureMsg) string {
		return m.agent + " reset the assignee on issue " + m.ref()
	})

// pagureCommentURL is "{full_url}#comment-{last comment id}" of the issue
// or pull request. Without comments the class raises, and the URL stays
// the issue's or pull request's own.
func pagureCommentURL(obj string) func(m *pagureMsg) string {
	return func(m *pagureMsg) string {
		return m.f(obj, "full_url") + "#comment-" + PyStr(PyIndex(m.at(obj, "comments"), -1).PyItem("id"))
	}
}

var pagureIssueCommentAdded = func() pagureClass {
	c := pagureIssue(
		func(m *pagureMsg) string { return "Issue: " + m.ref() + " has a new comment" },
		func(m *pagureMsg) string {
			return m.agent + " commented on the issue " + m.ref()
		})
	c.url = pagureCommentURL("issue")
	return c
}()

var pagureIssueDependencyAdded = pagureIssue(
	func(m *pagureMsg) string {
		return "Issue: " + m.ref() + " depends on #" + m.f("added_dependency")
	},
	func(m *pagureMsg) string {
		return m.agent + " set the issue " + m.ref() + " as depending on #" +
			m.f("added_dependency")
	})

var pagureIssueDependencyRemoved = pagureIssue(
	func(m *pagureMsg) string {
		return "Issue: " + m.ref() + " no longer depending on #" +
			strings.Join(PyStrs(m.at("removed_dependency")), ", #")
	},
	func(m *pagureMsg) string {
		return m.agent + " removed the dependency on #" + strings.Join(PyStrs(m.at("removed_dependency")), ", #") +
			" on the issue " + m.ref()
	})

var pagureIssueDrop = func() pagureClass {
	c := pagureIssue(
		func(m *pagureMsg) string { return "Issue deleted: " + m.ref() },
		func(m *pagureMsg) string {
			return m.agent + " deleted issue " + m.ref() + ": " + m.f("issue", "title")
		})
	c.url = func(m *pagureMsg) string { return m.f("project", "full_url") + "/issues" }
	return c
}()

var pagureIssueEdit = pagureIssue(
	func(m *pagureMsg) string { return "Edited Issue: " + m.ref() },
	func(m *pagureMsg) string {
		return m.agent + " edited fields " + PyJoinSkipNone(", ", m.at("fields")) + " of issue " +
			m.ref() + ": " + m.f("issue", "title")
	})

var pagureIssueNew = pagureIssue(
	func(m *pagureMsg) string { return "New Issue: " + m.ref() },
	func(m *pagureMsg) string {
		return m.agent + " created issue " + m.ref() + ": " + m.f("issue", "title")
	})

var pagureIssueTagAdded = pagureIssue(
	func(m *pagureMsg) string {
		return "Issue: " + m.ref() + " tagged with " + PyJoinSkipNone(", ", m.at("tags"))
	},
	func(m *pagureMsg) string {
		return m.agent + " tagged the issue " + m.ref() + " with: " + PyJoinSkipNone(", ", m.at("tags"))
	})

var pagureIssueTagRemoved = pagureIssue(
	func(m *pagureMsg) string {
		return "Issue: " + m.ref() + " un-tagged with " + PyJoinSkipNone(", ", m.at("tags"))
	},
	func(m *pagureMsg) string {
		return m.agent + " removed tags " + PyJoinSkipNone(", ", m.at("tags")) + " from issue " + m.ref()
	})

// --- pull_requests_schema ---------------------------------------------------

// pagurePRClass is a pull-request class: the text "<text>\nBy: agent" and
// a summary.
func pagurePRClass(text, summary func(m *pagureMsg) string) pagureClass {
	return pagureClass{
		kind:    pagureKindPR,
		text:    func(m *pagureMsg) string { return text(m) + "\nBy: " + m.agent },
		summary: summary,
	}
}

var pagurePRAssignedAdded = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request " + m.ref() + " was assigned" },
	func(m *pagureMsg) string {
		a := m.at("pullrequest", "assignee")
		assignee := "someone"
		if a.Truthy() {
			assignee = PyStr(a.PyItem("name"))
		}
		return m.agent + " assigned the pull-request " + m.ref() + " to " + assignee
	})

var pagurePRAssignedReset = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request " + m.ref() + " was un-assigned" },
	func(m *pagureMsg) string {
		return m.agent + " reset the assignee of the pull-request " + m.ref()
	})

// pagurePRAction is "merged" or "closed without merging".
func pagurePRAction(m *pagureMsg) string {
	if m.at("merged").Truthy() {
		return "merged"
	}
	return "closed without merging"
}

var pagurePRClosed = pagurePRClass(
	func(m *pagureMsg) string {
		return "Pull-Request: " + m.ref() + " has been " + pagurePRAction(m)
	},
	func(m *pagureMsg) string {
		return m.agent + " " + pagurePRAction(m) + " the pull-request " + m.ref()
	})

var pagurePRCommentAdded = func() pagureClass {
	c := pagurePRClass(
		func(m *pagureMsg) string { return "Pull-Request: " + m.ref() + " has a new comment" },
		func(m *pagureMsg) string {
			return m.agent + " commented on the pull-request " + m.ref()
		})
	c.url = pagureCommentURL("pullrequest")
	return c
}()

var pagurePRCommentEdited = func() pagureClass {
	c := pagurePRClass(
		func(m *pagureMsg) string { return "Edited comment on Pull-Request: " + m.ref() },
		func(m *pagureMsg) string {
			return m.agent + " edited comment on the pull-request " + m.ref()
		})
	c.url = func(m *pagureMsg) string {
		full := m.at("pullrequest", "full_url")
		comments := m.at("pullrequest", "comments")
		if !comments.Truthy() {
			return m.raw("pullrequest", "full_url")
		}
		return PyStr(full) + "#comment-" + PyStr(PyIndex(comments, -1).PyItem("id"))
	}
	return c
}()

// pagureFlag is "{flag username} {flag status}".
func pagureFlag(m *pagureMsg) string {
	return m.f("flag", "username") + " " + m.f("flag", "status")
}

var pagurePRFlagAdded = pagurePRClass(
	func(m *pagureMsg) string { return "New pull-request flag: " + pagureFlag(m) },
	func(m *pagureMsg) string {
		return "Pull-request " + m.ref() + " was flagged as " + m.f("flag", "status") +
			" by " + m.f("flag", "username")
	})

var pagurePRFlagUpdated = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request flag updated: " + pagureFlag(m) },
	func(m *pagureMsg) string {
		return m.f("flag", "username") + " updated flag on pull-request " + m.ref() + " to " +
			m.f("flag", "status")
	})

var pagurePRInitialCommentEdited = pagurePRClass(
	func(m *pagureMsg) string {
		return "Description of pull-request " + m.ref() + " edited"
	},
	func(m *pagureMsg) string {
		return m.agent + " has edited the description of the pull-request " + m.ref()
	})

var pagurePRNew = pagurePRClass(
	func(m *pagureMsg) string { return "New Pull-Request: " + m.ref() },
	func(m *pagureMsg) string {
		return m.agent + " opened a pull-request " + m.ref() + ": " + m.f("pullrequest", "title")
	})

var pagurePRRebased = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request " + m.ref() + " was rebased" },
	func(m *pagureMsg) string {
		return m.agent + " rebased the pull-request " + m.ref()
	})

var pagurePRReopened = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request " + m.ref() + " was re-opened" },
	func(m *pagureMsg) string {
		return m.agent + " re-opened the pull-request " + m.ref()
	})

var pagurePRTagAdded = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request " + m.ref() + " was tagged" },
	func(m *pagureMsg) string {
		return m.agent + " tagged the pull-request " + m.ref() + " with " + PyJoinSkipNone(", ", m.at("tags"))
	})

var pagurePRTagRemoved = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request " + m.ref() + " was un-tagged" },
	func(m *pagureMsg) string {
		return m.agent + " un-tagged the pull-request " + m.ref() + " with: " +
			PyJoinSkipNone(", ", m.at("tags"))
	})

var pagurePRUpdated = pagurePRClass(
	func(m *pagureMsg) string { return "Pull-request " + m.ref() + " was updated" },
	func(m *pagureMsg) string {
		return m.agent + " updated the pull-request " + m.ref()
	})

// --- misc_schema ------------------------------------------------------------

// pagureCommitFlag is a commit-flag class: text, summary, and the commit's
// URL in the repository.
func pagureCommitFlag(summary func(m *pagureMsg) string) pagureClass {
	return pagureClass{
		kind: pagureKindBase,
		text: func(m *pagureMsg) string {
			return "New commit flag: " + pagureFlag(m) + "\nBy: " + m.agent
		},
		summary: summary,
		url: func(m *pagureMsg) string {
			return m.f("repo", "full_url") + "/c/" + m.f("flag", "commit_hash")
		},
	}
}

var pagureCommitFlagAdded = pagureCommitFlag(func(m *pagureMsg) string {
	return "Commit " + m.f("flag", "commit_hash") + " of project " + m.f("repo", "fullname") +
		" was flagged as " + m.f("flag", "status") + " by " + m.f("flag", "username")
})

var pagureCommitFlagUpdated = pagureCommitFlag(func(m *pagureMsg) string {
	return m.f("flag", "username") + " updated flag on commit " + m.f("flag", "commit_hash") +
		" of project " + m.f("repo", "fullname") + " to " + m.f("flag", "status")
})

var pagureGroupEdit = pagureClass{
	kind: pagureKindBase,
	text: func(m *pagureMsg) string {
		return "Group edit: " + m.f("group", "name") + "\nBy: " + m.agent
	},
	summary: func(m *pagureMsg) string {
		return m.agent + " edited the fields " + PyJoinSkipNone(", ", m.at("fields")) + " of the group " +
			m.f("group", "name")
	},
	url: func(m *pagureMsg) string { return m.raw("group", "full_url") },
}

var pagureTestNotification = pagureClass{
	kind:    pagureKindBase,
	text:    func(*pagureMsg) string { return "Test notification" },
	summary: func(*pagureMsg) string { return "Test notification" },
	url: func(m *pagureMsg) string {
		if strings.Contains(m.x.Topic, ".stg.") {
			return "https://stg.pagure.io"
		}
		return "https://pagure.io"
	},
}

// --- git_schema -------------------------------------------------------------

var pagureGitBranchCreation = pagureClass{
	kind: pagureKindGit,
	text: func(m *pagureMsg) string {
		return "Git branch: " + m.f("branch") + " created\nBy: " + m.agent
	},
	summary: func(m *pagureMsg) string {
		return m.agent + " created the branch " + m.f("branch") + " on " + m.f("repo", "fullname")
	},
	url: func(m *pagureMsg) string {
		base := m.f("repo", "full_url")
		item := m.at("branch")
		// if "refs/heads/" in item: item = item.replace("refs/heads/", "")
		if s, ok := item.StrOK(); ok {
			return base + "/tree/" + strings.ReplaceAll(s, "refs/heads/", "")
		}
		if PyIn("refs/heads/", item) {
			PyRaise("AttributeError", "replace") // only a str has it
		}
		return base + "/tree/" + PyStr(item)
	},
}

var pagureGitBranchDeletion = pagureClass{
	kind: pagureKindGit,
	text: func(m *pagureMsg) string {
		return "Git branch: " + m.f("branch") + " deleted\nBy: " + m.agent
	},
	summary: func(m *pagureMsg) string {
		return m.agent + " deleted the branch " + m.f("branch") + " on " + m.f("repo", "fullname")
	},
	url: func(m *pagureMsg) string { return m.raw("repo", "full_url") },
}

// pagureOne is the 1 of body["total_commits"] == 1.
var pagureOne = ValueOf([]byte("1"))

var pagureGitReceive = pagureClass{
	kind: pagureKindGit,
	text: func(m *pagureMsg) string {
		author := PyIndex(m.at("authors"), 0)
		force := ""
		if m.at("forced").Truthy() {
			force = "forced-"
		}
		n, ok := PyNumber(m.at("total_commits"))
		if !ok {
			PyRaise("TypeError", "'>' not supported")
		}
		plural := ""
		if n > 1 {
			plural = "s"
		}
		branch := strings.ReplaceAll(PyMustStr(m.at("branch")), "refs/heads/", "")
		// tpl.format(**self.body, author=…, force_prefix=…, …) raises
		// when the body has one of these keys too.
		for _, k := range []string{"author", "force_prefix", "plural_suffix", "branch_short"} {
			if m.x.Body.Get(k).Exists() {
				PyRaise("TypeError", "multiple values for "+k)
			}
		}
		return PyStr(author.PyItem("fullname")) + " (" + PyStr(author.PyItem("name")) + ") " + force + "pushed " +
			m.f("total_commits") + " commit" + plural + " on " + m.f("repo", "fullname") +
			".\nBranch: " + branch + "\n"
	},
	summary: func(m *pagureMsg) string {
		branch := strings.ReplaceAll(PyMustStr(m.at("branch")), "refs/heads/", "")
		return m.agent + " pushed " + m.f("total_commits") + " commits on " +
			m.f("repo", "fullname") + " (branch: " + branch + ")"
	},
	url: func(m *pagureMsg) string {
		if PyEq(m.at("total_commits"), pagureOne) {
			return m.f("repo", "full_url") + "/c/" + m.f("end_commit")
		}
		return m.f("repo", "full_url") + "/c/" + m.f("old_commit") + ".." + m.f("end_commit")
	},
	// patch_url: f"{self.url}.patch" for a single commit, else None.
	patch: func(m *pagureMsg, url string) string {
		if !PyEq(m.at("total_commits"), pagureOne) || url == "" {
			return ""
		}
		return url + ".patch"
	},
}

var pagureGitTagCreation = pagureClass{
	kind: pagureKindGit,
	text: func(m *pagureMsg) string {
		return "Git tag: " + m.f("tag") + " created\nBy: " + m.agent
	},
	summary: func(m *pagureMsg) string {
		return m.agent + " tagged the commit " + m.f("rev") + " on " + m.f("repo", "fullname") +
			" as " + m.f("tag")
	},
	url: func(m *pagureMsg) string {
		return m.f("repo", "full_url") + "/commits/" + m.f("tag")
	},
}

var pagureGitTagDeletion = pagureClass{
	kind: pagureKindGit,
	text: func(m *pagureMsg) string {
		return "Git tag: " + m.f("tag") + " deleted\nBy: " + m.agent
	},
	summary: func(m *pagureMsg) string {
		return m.agent + " deleted the tag " + m.f("tag") + " of commit " + m.f("rev") +
			" on " + m.f("repo", "fullname")
	},
	url: func(m *pagureMsg) string { return m.f("repo", "full_url") + "/releases" },
}

func init() {
	s := func(name, class string, c pagureClass) Schema {
		return Schema{Name: name, Class: "pagure_messages." + class, App: "Pagure", Extract: c.extract}
	}
	RegisterPackage(Package{Name: "pagure-messages", Version: "1.3.3", Source: "Pagure/pagure-messages",
		Schemas: []Schema{
			s("pagure.project.new", "project_schema:ProjectNewV1", pagureProjectNew),
			s("pagure.project.edit", "project_schema:ProjectEditV1", pagureProjectEdit),
			s("pagure.project.forked", "project_schema:ProjectForkedV1", pagureProjectForked),
			s("pagure.project.deleted", "project_schema:ProjectDeletedV1", pagureProjectDeleted),
			s("pagure.project.group.added", "project_schema:ProjectGroupAddedV1", pagureProjectGroupAdded),
			s("pagure.project.group.access.updated", "project_schema:ProjectGroupAccessUpdatedV1",
				pagureProjectGroupAccessUpdated),
			s("pagure.project.group.removed", "project_schema:ProjectGroupRemovedV1", pagureProjectGroupRemoved),
			s("pagure.project.tag.edited", "project_schema:ProjectTagEditedV1", pagureProjectTagEdited),
			s("pagure.project.tag.removed", "project_schema:ProjectTagRemovedV1", pagureProjectTagRemoved),
			s("pagure.project.user.access.updated", "project_schema:ProjectUserAccessUpdatedV1",
				pagureProjectUserAccessUpdated),
			s("pagure.project.user.added", "project_schema:ProjectUserAddedV1", pagureProjectUserAdded),
			s("pagure.project.user.removed", "project_schema:ProjectUserRemovedV1", pagureProjectUserRemoved),

			s("pagure.issue.new", "issue_schema:IssueNewV1", pagureIssueNew),
			s("pagure.issue.edit", "issue_schema:IssueEditV1", pagureIssueEdit),
			s("pagure.issue.drop", "issue_schema:IssueDropV1", pagureIssueDrop),
			s("pagure.issue.assigned.added", "issue_schema:IssueAssignedAddedV1", pagureIssueAssignedAdded),
			s("pagure.issue.assigned.reset", "issue_schema:IssueAssignedResetV1", pagureIssueAssignedReset),
			s("pagure.issue.dependency.added", "issue_schema:IssueDependencyAddedV1", pagureIssueDependencyAdded),
			s("pagure.issue.dependency.removed", "issue_schema:IssueDependencyRemovedV1", pagureIssueDependencyRemoved),
			s("pagure.issue.comment.added", "issue_schema:IssueCommentAddedV1", pagureIssueCommentAdded),
			s("pagure.issue.tag.added", "issue_schema:IssueTagAddedV1", pagureIssueTagAdded),
			s("pagure.issue.tag.removed", "issue_schema:IssueTagRemovedV1", pagureIssueTagRemoved),

			s("pagure.commit.flag.added", "misc_schema:CommitFlagAddedV1", pagureCommitFlagAdded),
			s("pagure.commit.flag.updated", "misc_schema:CommitFlagUpdatedV1", pagureCommitFlagUpdated),
			s("pagure.group.edit", "misc_schema:GroupEditV1", pagureGroupEdit),
			s("pagure.Test.notification", "misc_schema:TestNotificationV1", pagureTestNotification),

			s("pagure.pull-request.assigned.added", "pull_requests_schema:PullRequestAssignedAddedV1",
				pagurePRAssignedAdded),
			s("pagure.pull-request.assigned.reset", "pull_requests_schema:PullRequestAssignedResetV1",
				pagurePRAssignedReset),
			s("pagure.pull-request.new", "pull_requests_schema:PullRequestNewV1", pagurePRNew),
			s("pagure.pull-request.comment.added", "pull_requests_schema:PullRequestCommentAddedV1",
				pagurePRCommentAdded),
			s("pagure.pull-request.comment.edited", "pull_requests_schema:PullRequestCommentEditedV1",
				pagurePRCommentEdited),
			s("pagure.pull-request.closed", "pull_requests_schema:PullRequestClosedV1", pagurePRClosed),
			s("pagure.pull-request.flag.added", "pull_requests_schema:PullRequestFlagAddedV1", pagurePRFlagAdded),
			s("pagure.pull-request.flag.updated", "pull_requests_schema:PullRequestFlagUpdatedV1",
				pagurePRFlagUpdated),
			s("pagure.pull-request.initial_comment.edited",
				"pull_requests_schema:PullRequestInitialCommentEditedV1", pagurePRInitialCommentEdited),
			s("pagure.pull-request.reopened", "pull_requests_schema:PullRequestReopenedV1", pagurePRReopened),
			s("pagure.pull-request.tag.added", "pull_requests_schema:PullRequestTagAddedV1", pagurePRTagAdded),
			s("pagure.pull-request.tag.removed", "pull_requests_schema:PullRequestTagRemovedV1",
				pagurePRTagRemoved),
			s("pagure.pull-request.updated", "pull_requests_schema:PullRequestUpdatedV1", pagurePRUpdated),
			s("pagure.pull-request.rebased", "pull_requests_schema:PullRequestRebasedV1", pagurePRRebased),

			s("pagure.git.branch.creation", "git_schema:GitBranchCreationV1", pagureGitBranchCreation),
			s("pagure.git.branch.deletion", "git_schema:GitBranchDeletionV1", pagureGitBranchDeletion),
			s("pagure.git.tag.creation", "git_schema:GitTagCreationV1", pagureGitTagCreation),
			s("pagure.git.tag.deletion", "git_schema:GitTagDeletionV1", pagureGitTagDeletion),
			s("pagure.git.receive", "git_schema:GitReceiveV1", pagureGitReceive),
		}})
}
