package bus

import (
	"fmt"
	"strings"
)

// Extractors for common Fedora schemas. FMN computed these fields with the
// schemas' Python classes (bodhi-messages, koji-fedoramessaging-messages,
// copr-messaging, pagure-messages); these follow the same body shapes and
// produce the same kind of summaries, so notifications read as FMN users
// know them.

func init() {
	bodhi := func(f func(x *Extraction, u bodhiUpdate)) Extractor {
		return ExtractorFunc{App: "bodhi", Func: func(x *Extraction) { bodhiExtract(x, f) }}
	}
	Register("bodhi.update.comment.v1", bodhi(bodhiComment))
	Register("bodhi.update.comment.v2", bodhi(bodhiComment))
	Register("bodhi.update.edit.v1", bodhi(bodhiEdit))
	Register("bodhi.update.edit.v2", bodhi(bodhiEdit))
	for _, status := range []string{"testing", "stable", "revoke", "unpush", "obsolete"} {
		Register("bodhi.update.request."+status+".v1", bodhi(bodhiRequest(status)))
	}
	Register("bodhi.update.complete.stable.v1", bodhi(bodhiComplete))
	Register("bodhi.update.complete.testing.v1", bodhi(bodhiComplete))
	Register("bodhi.update.eject.v1", bodhi(bodhiEject))
	Register("bodhi.update.karma.threshold.v1", bodhi(bodhiKarma))
	Register("bodhi.update.requirements_met.stable.v1", bodhi(bodhiRequirementsMet))

	Register("koji_fedoramessaging.build.BuildStateChangeV1", ExtractorFunc{App: "Koji", Func: kojiBuildState})

	Register("copr.build.start", ExtractorFunc{App: "Copr", Func: coprBuild(false)})
	Register("copr.chroot.start", ExtractorFunc{App: "Copr", Func: coprBuild(false)})
	Register("copr.build.end", ExtractorFunc{App: "Copr", Func: coprBuild(true)})

	pagure := func(f func(x *Extraction)) Extractor { return ExtractorFunc{App: "pagure", Func: f} }
	Register("pagure.git.receive", pagure(pagureGitReceive))
	Register("pagure.pull-request.new", pagure(pagurePR(prNew)))
	Register("pagure.pull-request.comment.added", pagure(pagurePR(prComment)))
	Register("pagure.pull-request.closed", pagure(pagurePR(prClosed)))
}

// --- bodhi ---------------------------------------------------------------

const bodhiUpdateURL = "https://bodhi.fedoraproject.org/updates/"

type bodhiUpdate struct {
	v      Body
	alias  string
	owner  string
	nvrs   []string
	builds string // the NVRs, shortened for a summary
}

func bodhiExtract(x *Extraction, f func(*Extraction, bodhiUpdate)) {
	uv := x.Body.Get("update").Object()
	if !uv.Exists() {
		uv = x.Body.Get("comment", "update").Object()
	}
	u := bodhiUpdate{v: uv, alias: uv.Get("alias").Str(), owner: uv.Get("user", "name").Str()}
	if u.alias == "" {
		return // not the shape this schema promises: keep the generic fields
	}
	uv.Get("builds").Each(func(b Value) bool {
		if nvr := b.Get("nvr").Str(); nvr != "" {
			u.nvrs = append(u.nvrs, nvr)
		}
		return true
	})
	u.builds = truncate(strings.Join(u.nvrs, " "), 60)
	if u.alias != "" {
		x.URL = bodhiUpdateURL + u.alias
	}
	x.Packages = nil
	for _, nvr := range u.nvrs {
		x.Packages = append(x.Packages, nvrName(nvr))
	}
	x.Usernames = nil
	f(x, u)
	if x.Agent != "" {
		x.Usernames = append(x.Usernames, x.Agent)
	}
	if u.owner != "" {
		x.Usernames = append(x.Usernames, u.owner)
	}
	if x.Text == "" || strings.HasPrefix(x.Text, "Body of message on ") {
		x.Text = x.Summary
	}
}

// ownerQual is "their" when the agent owns the update, else "<owner>'s".
func (u bodhiUpdate) ownerQual(agent string) string {
	if agent == u.owner {
		return "their"
	}
	return u.owner + "'s"
}

func bodhiComment(x *Extraction, u bodhiUpdate) {
	c := x.Body.Get("comment").Object()
	x.Agent = c.Get("user", "name").Str()
	label, score := "karma", c.Get("karma")
	if x.Schema == "bodhi.update.comment.v2" {
		label, score = "feedback", c.Get("feedback")
	}
	n, text := intText(score), c.Get("text").Str()
	// Concatenation rather than fmt: this runs for every comment.
	x.Summary = x.Agent + " commented on update " + u.builds + " (" + label + ": " + n + ")"
	x.Text = x.Agent + " commented on " + u.owner + "'s update " + u.alias + " with " + label + " " + n + ":\n\n" +
		text + "\n\nBuilds:\n" + strings.Join(u.nvrs, "\n")
	x.Usernames = append(x.Usernames, mentions(text)...)
}

func bodhiEdit(x *Extraction, u bodhiUpdate) {
	x.Summary = fmt.Sprintf("%s edited %s update %s (%s)", x.Agent, u.ownerQual(x.Agent), u.alias, u.builds)
}

func bodhiRequest(status string) func(*Extraction, bodhiUpdate) {
	past := map[string]string{"unpush": "unpushed", "obsolete": "obsoleted", "revoke": "revoked"}[status]
	return func(x *Extraction, u bodhiUpdate) {
		if past != "" {
			x.Summary = fmt.Sprintf("%s %s %s update %s (%s)", x.Agent, past, u.ownerQual(x.Agent), u.alias, u.builds)
			return
		}
		x.Summary = fmt.Sprintf("%s submitted %s update %s (%s) to %s", x.Agent, u.ownerQual(x.Agent), u.alias, u.builds, status)
	}
}

func bodhiComplete(x *Extraction, u bodhiUpdate) {
	x.Summary = fmt.Sprintf("%s's %s bodhi update completed push to %s", u.owner, u.builds, u.v.Get("status").Str())
}

func bodhiEject(x *Extraction, u bodhiUpdate) {
	x.Summary = fmt.Sprintf("%s's %s bodhi update was ejected from the %s mash. Reason: %q",
		u.owner, u.builds, x.Body.Get("repo").Str(), x.Body.Get("reason").Str())
}

func bodhiKarma(x *Extraction, u bodhiUpdate) {
	x.Summary = fmt.Sprintf("%s's %s bodhi update has reached the %s karma threshold", u.owner, u.builds, x.Body.Get("status").Str())
}

func bodhiRequirementsMet(x *Extraction, u bodhiUpdate) {
	x.Summary = fmt.Sprintf("%s's %s bodhi update has met stable testing requirements", u.owner, u.builds)
}

// nvrName returns the package name of name-version-release.
func nvrName(nvr string) string {
	for k := 0; k < 2; k++ {
		i := strings.LastIndexByte(nvr, '-')
		if i <= 0 {
			return nvr
		}
		nvr = nvr[:i]
	}
	return nvr
}

// mentions returns the @user mentions of a comment: an @ at the start or
// after whitespace, followed by word characters.
func mentions(text string) []string {
	var out []string
	for i := 0; i < len(text); i++ {
		if text[i] != '@' || i > 0 && !isSpace(text[i-1]) {
			continue
		}
		j := i + 1
		for j < len(text) && isWord(text[j]) {
			j++
		}
		if j > i+1 {
			out = append(out, text[i+1:j])
		}
		i = j - 1
	}
	return out
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

// --- koji ----------------------------------------------------------------

var kojiBuildStates = []string{"BUILDING", "COMPLETE", "DELETED", "FAILED", "CANCELED"}

func kojiBuildState(x *Extraction) {
	b := x.Body
	if b.Get("name").Str() == "" {
		return
	}
	owner := b.Get("owner").Str()
	nvr := b.Get("name").Str() + "-" + b.Get("version").Text() + "-" + b.Get("release").Text()
	state := intText(b.Get("new"))
	if n, ok := b.Get("new").Int(); ok && n >= 0 && int(n) < len(kojiBuildStates) {
		state = kojiBuildStates[n]
	}
	x.Agent = owner
	x.Summary = "Build " + state + ": " + owner + "'s " + nvr
	x.Text = fmt.Sprintf("Package:    %s\nStatus:     %s\nBuilt by:   %s\nID:         %s\n",
		nvr, strings.ToLower(state), owner, intText(b.Get("build_id")))
	x.Usernames = nil
	if owner != "" {
		x.Usernames = []string{owner}
	}
	x.Packages = nil
	if name := b.Get("name").Str(); name != "" {
		x.Packages = []string{name}
	}
}

// --- copr ----------------------------------------------------------------

const coprURL = "https://copr.fedorainfracloud.org/coprs/"

var coprStatuses = map[int64]string{
	0: "failed", 1: "succeeded", 2: "canceled", 3: "running", 4: "pending",
	5: "skipped", 6: "starting", 7: "importing", 8: "forked", 9: "waiting",
}

func coprBuild(ended bool) func(*Extraction) {
	return func(x *Extraction) {
		b := x.Body.Value
		if m := b.Get("msg"); m.Exists() { // fedmsg-era wrapping
			b = m
		}
		owner, project := b.Get("owner").Text(), b.Get("copr").Text()
		build := intText(b.Get("build"))
		if build == "" {
			return
		}
		prefix := `Copr Message in project "` + owner + "/" + project + `": build ` + build
		chroot := b.Get("chroot").Str()
		user := b.Get("user").Str()
		if strings.Contains(user, ":") { // namespaced, e.g. github.com:foo
			user = ""
		}
		if ended {
			status := intText(b.Get("status"))
			if n, ok := b.Get("status").Int(); ok && coprStatuses[n] != "" {
				status = coprStatuses[n]
			}
			x.Summary = prefix + `: chroot "` + chroot + `" ended as "` + status + `".`
			// Builds end on their own; whoever canceled one is not known.
			x.Agent = ""
		} else {
			x.Summary = prefix + `: chroot "` + chroot + `" started.`
			x.Agent = user
		}
		x.Text = x.Summary
		if pkg := b.Get("pkg").Str(); pkg != "" {
			x.Text += "\nPackage: " + pkg
			if v := b.Get("version").Str(); v != "" {
				x.Text += "-" + v
			}
		}
		if owner != "" && project != "" {
			if g, ok := strings.CutPrefix(owner, "@"); ok {
				x.URL = coprURL + "g/" + g + "/" + project + "/build/" + build + "/"
			} else {
				x.URL = coprURL + owner + "/" + project + "/build/" + build + "/"
			}
		}
		x.Usernames = nil
		for _, u := range []string{user, owner} {
			if u != "" && !strings.HasPrefix(u, "@") {
				x.Usernames = append(x.Usernames, u)
			}
		}
	}
}

// --- pagure / dist-git ----------------------------------------------------

// pagureArtifacts files a dist-git project under its namespace.
func pagureArtifacts(x *Extraction, project Value) {
	name := project.Get("name").Str()
	if name == "" {
		return
	}
	switch project.Get("namespace").Str() {
	case "rpms":
		x.Packages = []string{name}
	case "containers":
		x.Containers = []string{name}
	case "modules":
		x.Modules = []string{name}
	case "flatpaks":
		x.Flatpaks = []string{name}
	}
}

func pagureGitReceive(x *Extraction) {
	repo := x.Body.Get("repo")
	fullname := repo.Get("fullname").Str()
	if fullname == "" {
		return
	}
	branch := strings.TrimPrefix(x.Body.Get("branch").Str(), "refs/heads/")
	total, _ := x.Body.Get("total_commits").Int()
	plural := "s"
	if total == 1 {
		plural = ""
	}
	x.Summary = fmt.Sprintf("%s pushed %d commit%s on %s (branch: %s)", x.Agent, total, plural, fullname, branch)
	x.Text = x.Summary
	if a := x.Body.Get("authors").Index(0); a.Exists() {
		force := ""
		if f, _ := x.Body.Get("forced").Bool(); f {
			force = "forced-"
		}
		x.Text = fmt.Sprintf("%s (%s) %spushed %d commit%s on %s.\nBranch: %s\n",
			a.Get("fullname").Str(), a.Get("name").Str(), force, total, plural, fullname, branch)
	}
	if base := repo.Get("full_url").Str(); base != "" {
		end := x.Body.Get("end_commit").Str()
		if total == 1 {
			x.URL = base + "/c/" + end
		} else {
			x.URL = base + "/c/" + x.Body.Get("old_commit").Str() + ".." + end
		}
	}
	pagureArtifacts(x, repo)
	x.Usernames = nil
	if x.Agent != "" {
		x.Usernames = []string{x.Agent}
	}
}

const (
	prNew = iota
	prComment
	prClosed
)

func pagurePR(event int) func(*Extraction) {
	return func(x *Extraction) {
		pr := x.Body.Get("pullrequest")
		if !pr.Get("id").Exists() {
			return
		}
		ref := pr.Get("project", "fullname").Str() + "#" + intText(pr.Get("id"))
		x.URL = pr.Get("full_url").Str()
		switch event {
		case prNew:
			x.Summary = fmt.Sprintf("%s opened a pull-request %s: %s", x.Agent, ref, pr.Get("title").Str())
			x.Text = "New Pull-Request: " + ref + "\nBy: " + x.Agent
			if c := pr.Get("initial_comment").Str(); c != "" {
				x.Text += "\n\n" + c
			}
		case prComment:
			x.Summary = fmt.Sprintf("%s commented on the pull-request %s", x.Agent, ref)
			last := pr.Get("comments").Index(-1)
			if id := intText(last.Get("id")); id != "" && x.URL != "" {
				x.URL += "#comment-" + id
			}
			x.Text = fmt.Sprintf("Pull-Request: %s has a new comment\nBy: %s", ref, x.Agent)
			if c := last.Get("comment").Str(); c != "" {
				x.Text += "\n\n" + c
			}
		case prClosed:
			action := "closed without merging"
			if m, _ := x.Body.Get("merged").Bool(); m {
				action = "merged"
			}
			x.Summary = fmt.Sprintf("%s %s the pull-request %s", x.Agent, action, ref)
			x.Text = fmt.Sprintf("Pull-Request: %s has been %s\nBy: %s", ref, action, x.Agent)
		}
		pagureArtifacts(x, pr.Get("project"))
		x.Usernames = nil
		for _, u := range []string{x.Agent, pr.Get("user", "name").Str()} {
			if u != "" {
				x.Usernames = append(x.Usernames, u)
			}
		}
	}
}
