package bus

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bodhi's messages (bodhi-messages 8.1.1, fedora-infra/bodhi,
// bodhi-messages/bodhi/messages/schemas).
//
// Every class derives from BodhiMessage: app "bodhi", agent body["agent"]
// (dict.get), usernames the agent plus the @mentions of a top-level
// body["comment"]["text"], no packages, no URL, the base class's summary
// (the topic) and text. UpdateMessage adds the update (body["update"], or
// body["comment"]["update"] for comments): its URL, its owner among the
// usernames, its builds' packages, and the summary as text. No class sets
// deprecated; the ready-for-testing classes send at DEBUG, which the
// severity header carries.
//
// Python raises (KeyError, TypeError) only on bodies the classes' JSON
// schemas reject, which fedora-messaging never delivers. fmn computes each
// property on its own: a property that would raise keeps the base class's
// value (topic, dump, no URL, no list) and the others stand.

func init() {
	const (
		bo     = "bodhi.messages.schemas.buildroot_override:"
		errata = "bodhi.messages.schemas.errata:"
		comp   = "bodhi.messages.schemas.compose:"
		upd    = "bodhi.messages.schemas.update:"
	)
	RegisterPackage(Package{Name: "bodhi-messages", Version: "8.1.1", Source: "fedora-infra/bodhi",
		Schemas: []Schema{
			{Name: "bodhi.buildroot_override.tag.v1", Class: bo + "BuildrootOverrideTagV1", App: "bodhi",
				Extract: bodhiOverride("submitted")},
			{Name: "bodhi.buildroot_override.untag.v1", Class: bo + "BuildrootOverrideUntagV1", App: "bodhi",
				Extract: bodhiOverride("expired")},
			{Name: "bodhi.errata.publish.v1", Class: errata + "ErrataPublishV1", App: "bodhi",
				Extract: bodhiErrataPublish},
			{Name: "bodhi.compose.complete.v1", Class: comp + "ComposeCompleteV1", App: "bodhi",
				Extract: bodhiCompose(func(b Body) string {
					if b.Get("success").Truthy() {
						return "bodhi composer successfully composed " + PyStr(b.Get("repo"))
					}
					return "bodhi composer failed to compose " + PyStr(b.Get("repo"))
				})},
			{Name: "bodhi.compose.composing.v1", Class: comp + "ComposeComposingV1", App: "bodhi",
				Extract: bodhiCompose(func(b Body) string {
					return "bodhi composer started composing " + PyStr(b.Get("repo"))
				})},
			{Name: "bodhi.compose.start.v1", Class: comp + "ComposeStartV1", App: "bodhi",
				Extract: bodhiCompose(func(Body) string { return "bodhi composer started a push" })},
			{Name: "bodhi.compose.sync.done.v1", Class: comp + "ComposeSyncDoneV1", App: "bodhi",
				Extract: bodhiCompose(func(b Body) string {
					return "bodhi composer finished waiting for " + PyStr(b.Get("repo")) + " to hit the master mirror"
				})},
			{Name: "bodhi.compose.sync.wait.v1", Class: comp + "ComposeSyncWaitV1", App: "bodhi",
				Extract: bodhiCompose(func(b Body) string {
					return "bodhi composer is waiting for " + PyStr(b.Get("repo")) + " to hit the master mirror"
				})},
			{Name: "bodhi.repo.done.v1", Class: comp + "RepoDoneV1", App: "bodhi",
				Extract: bodhiCompose(func(b Body) string {
					return "bodhi composer is finished building " + PyStr(b.Get("repo"))
				})},
			{Name: "bodhi.update.comment.v1", Class: upd + "UpdateCommentV1", App: "bodhi",
				Extract: bodhiUpdateComment},
			{Name: "bodhi.update.complete.stable.v1", Class: upd + "UpdateCompleteStableV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiCompleteSummary, bodhiCompleteText)},
			{Name: "bodhi.update.complete.testing.v1", Class: upd + "UpdateCompleteTestingV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiCompleteSummary, bodhiCompleteText)},
			{Name: "bodhi.update.status.testing.v1", Class: upd + "UpdateReadyForTestingV1", App: "bodhi",
				Extract: bodhiReadyForTesting("contact", "name")},
			{Name: "bodhi.update.status.testing.v2", Class: upd + "UpdateReadyForTestingV2", App: "bodhi",
				Extract: bodhiReadyForTesting("update", "user", "name")},
			{Name: "bodhi.update.status.testing.v3", Class: upd + "UpdateReadyForTestingV3", App: "bodhi",
				Extract: bodhiUpdateMessage(
					func(c *bodhiCtx) string {
						u := c.update()
						return PyStr(u.owner) + "'s " + u.buildsSummary() + " bodhi update is ready for testing"
					},
					func(c *bodhiCtx) string {
						u := c.update()
						return PyStr(u.owner) + "'s Bodhi update " + PyStr(u.alias) + " is ready for testing\nBuilds:\n" +
							u.buildLines() + " "
					})},
			{Name: "bodhi.update.edit.v1", Class: upd + "UpdateEditV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiEditSummary, func(c *bodhiCtx) string {
					return PyStr(c.agent()) + " edited " + PyStr(c.update().alias) +
						" adding " + strconv.Itoa(PyLen(c.item("new_bugs"))) + " new bugs"
				})},
			{Name: "bodhi.update.edit.v2", Class: upd + "UpdateEditV2", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiEditSummary, func(c *bodhiCtx) string {
					return PyStr(c.agent()) + " edited " + PyStr(c.update().alias) +
						" adding " + strconv.Itoa(PyLen(c.item("new_bugs"))) + " new bug(s), adding " +
						strconv.Itoa(PyLen(c.item("new_builds"))) + " build(s), and removing " +
						strconv.Itoa(PyLen(c.item("removed_builds"))) + " build(s)"
				})},
			{Name: "bodhi.update.eject.v1", Class: upd + "UpdateEjectV1", App: "bodhi",
				Extract: bodhiUpdateMessage(func(c *bodhiCtx) string {
					u := c.update()
					return PyStr(u.owner) + "'s " + u.buildsSummary() + " bodhi update was ejected from the " +
						PyStr(c.item("repo")) + " mash. Reason: \"" + PyStr(c.item("reason")) + "\""
				}, nil)},
			{Name: "bodhi.update.karma.threshold.v1", Class: upd + "UpdateKarmaThresholdV1", App: "bodhi",
				Extract: bodhiUpdateMessage(
					func(c *bodhiCtx) string {
						u := c.update()
						return PyStr(u.owner) + "'s " + u.buildsSummary() + " bodhi update has reached the " +
							PyStr(c.item("status")) + " karma threshold"
					},
					func(c *bodhiCtx) string {
						u := c.update()
						return PyStr(u.owner) + "'s bodhi update " + PyStr(u.alias) + " has reached the " +
							PyStr(c.item("status")) + " karma threshold.\nBuilds:\n" + u.buildLines()
					})},
			{Name: "bodhi.update.request.revoke.v1", Class: upd + "UpdateRequestRevokeV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiRequestSummary, bodhiRequestText)},
			{Name: "bodhi.update.request.stable.v1", Class: upd + "UpdateRequestStableV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiRequestSummary, bodhiRequestText)},
			{Name: "bodhi.update.request.testing.v1", Class: upd + "UpdateRequestTestingV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiRequestSummary, bodhiRequestText)},
			{Name: "bodhi.update.request.unpush.v1", Class: upd + "UpdateRequestUnpushV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiRequestSummary, bodhiRequestText)},
			{Name: "bodhi.update.request.obsolete.v1", Class: upd + "UpdateRequestObsoleteV1", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiRequestSummary, bodhiRequestText)},
			{Name: "bodhi.update.requirements_met.stable.v1", Class: upd + "UpdateRequirementsMetStableV1", App: "bodhi",
				Extract: bodhiUpdateMessage(
					func(c *bodhiCtx) string {
						u := c.update()
						return PyStr(u.owner) + "'s " + u.buildsSummary() + " bodhi update has met stable testing requirements"
					},
					func(c *bodhiCtx) string {
						u := c.update()
						return PyStr(u.owner) + "'s Bodhi update " + PyStr(u.alias) +
							" has met stable testing requirements.\nBuilds:\n" + u.buildLines()
					})},
		}})
}

const bodhiUpdatesURL = "https://bodhi.fedoraproject.org/updates/"

// --- helpers ---------------------------------------------------------------

// bodhiTruncate is bodhi.messages.utils.truncate: from 40 characters on,
// the first 40 and an ellipsis.
func bodhiTruncate(s string) string {
	if len(s) < 40 { // fewer bytes, fewer characters
		return s
	}
	n := 0
	for i := range s {
		if n == 40 {
			return s[:i] + "…"
		}
		n++
	}
	if n == 40 {
		return s + "…"
	}
	return s
}

// bodhiPackage is BuildV1.package: nvr.rsplit('-', 2)[0].
func bodhiPackage(nvr string) string {
	i := strings.LastIndexByte(nvr, '-')
	if i < 0 {
		return nvr
	}
	if j := strings.LastIndexByte(nvr[:i], '-'); j >= 0 {
		return nvr[:j]
	}
	return nvr[:i]
}

// bodhiPastTense is bodhi.messages.utils.past_tense.
func bodhiPastTense(verb string) string {
	if strings.HasSuffix(verb, "e") {
		return verb + "d"
	}
	return verb + "ed"
}

// bodhiMentions is re.findall(MENTION_RE, text) with the "@" cut:
// MENTION_RE = r'(?<!\S)(@\w+)', an "@" at the start or after whitespace
// followed by word characters (Unicode, as Python's re has them for str).
func bodhiMentions(text string) []string {
	var out []string
	afterSpace := true
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if r == '@' && afterSpace {
			j := i + n
			for j < len(text) {
				w, m := utf8.DecodeRuneInString(text[j:])
				if !bodhiWordRune(w) {
					break
				}
				j += m
			}
			if j > i+n {
				out = append(out, text[i+n:j])
				afterSpace = false
				i = j
				continue
			}
		}
		afterSpace = bodhiSpaceRune(r)
		i += n
	}
	return out
}

// bodhiWordRune is \w of Python's re for str: alphanumeric or "_".
func bodhiWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// bodhiSpaceRune is \s of Python's re for str (str.isspace): Go's
// unicode.IsSpace and the separators U+001C…U+001F.
func bodhiSpaceRune(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// --- the classes -----------------------------------------------------------

// bodhiUpdate is UpdateV1 as UpdateMessage.update builds it: every key
// below is required (alias, builds[*].nvr, user.name, status, request,
// release.name), whatever its type.
type bodhiUpdate struct {
	alias, owner, status Value
	nvrs                 []Value
	strs                 []string // the NVRs as strs, once nvrStrings has read them
}

func bodhiUpdateOf(x *Extraction, v Value) *bodhiUpdate {
	if v.Kind() != KindObject {
		PyRaise("TypeError", "the update is not a dict")
	}
	o := x.object(v)
	u := &bodhiUpdate{alias: o.PyItem("alias")}
	u.nvrs = PyPluck(o.PyItem("builds"), "nvr")
	u.owner = o.PyItem("user", "name")
	u.status = o.PyItem("status")
	o.PyItem("request")
	o.PyItem("release", "name")
	return u
}

// nvrStrings are the builds' NVRs, which Python joins and splits (strs
// only: anything else raises).
func (u *bodhiUpdate) nvrStrings() []string {
	if u.strs == nil {
		strs := make([]string, len(u.nvrs))
		for i, v := range u.nvrs {
			strs[i] = PyMustStr(v)
		}
		u.strs = strs
	}
	return u.strs
}

// buildsSummary is UpdateMessage._builds_summary.
func (u *bodhiUpdate) buildsSummary() string {
	return bodhiTruncate(strings.Join(u.nvrStrings(), " "))
}

// buildLines is "\n".join(nvrs).
func (u *bodhiUpdate) buildLines() string { return strings.Join(u.nvrStrings(), "\n") }

// packages is UpdateV1.packages.
func (u *bodhiUpdate) packages() []string {
	strs := u.nvrStrings()
	out := make([]string, len(strs))
	for i, nvr := range strs {
		out[i] = bodhiPackage(nvr)
	}
	return out
}

// bodhiCtx is one message as an UpdateMessage (or ErrataPublishV1) sees
// it: the update is read once, when a property first needs it.
type bodhiCtx struct {
	x *Extraction
	// src holds the update (key "update") and, for comments, the agent:
	// the body, or the comment (indexed once).
	src Body
	// agentAt is the path in src of agent_name when the class reads it
	// with [] (comments); nil means body.get("agent").
	agentAt []string
	// agentIsOwner: agent_name is update.user.name (errata).
	agentIsOwner bool
	upd          *bodhiUpdate
}

// item is body[k1][k2]….
func (c *bodhiCtx) item(path ...string) Value { return c.x.Body.PyItem(path...) }

func (c *bodhiCtx) update() *bodhiUpdate {
	if c.upd == nil {
		c.upd = bodhiUpdateOf(c.x, c.src.PyItem("update"))
	}
	return c.upd
}

// agent is the class's agent_name.
func (c *bodhiCtx) agent() Value {
	switch {
	case c.agentIsOwner:
		return c.update().owner
	case c.agentAt != nil:
		return c.src.PyItem(c.agentAt...)
	}
	return c.x.Body.Get("agent")
}

// ownerQual is UpdateMessage._owner_qual.
func (c *bodhiCtx) ownerQual() string {
	u := c.update()
	if PyEq(c.agent(), u.owner) {
		return "their"
	}
	return PyStr(u.owner) + "'s"
}

// baseUsernames is BodhiMessage.usernames: the agent and whoever
// body["comment"]["text"] mentions.
func (c *bodhiCtx) baseUsernames() []string {
	users := Strs(c.agent())
	if cm := c.x.Body.Get("comment"); cm.Exists() {
		var text Value
		if c.agentAt != nil { // the comment is src, indexed already
			text = c.src.PyItem("text")
		} else {
			text = cm.PyItem("text")
		}
		users = append(users, bodhiMentions(PyMustStr(text))...)
	}
	return users
}

// bodhiUpdateMessage extracts an UpdateMessage: text nil keeps
// UpdateMessage.__str__ (the summary).
func bodhiUpdateMessage(summary, text func(c *bodhiCtx) string) func(*Extraction) {
	return func(x *Extraction) {
		bodhiUpdateExtract(&bodhiCtx{x: x, src: x.Body}, summary, text)
	}
}

func bodhiUpdateExtract(c *bodhiCtx, summary, text func(c *bodhiCtx) string) {
	x := c.x
	if text == nil {
		text = summary
	}
	PyTry(func() { x.Agent = PyOptStr(c.agent()) })
	PyTry(func() { x.Usernames = append(c.baseUsernames(), Strs(c.update().owner)...) })
	PyTry(func() { x.Packages = c.update().packages() })
	if !x.Display() {
		return
	}
	PyTry(func() { x.URL = bodhiUpdatesURL + PyStr(c.update().alias) })
	PyTry(func() { x.Summary = summary(c) })
	PyTry(func() { x.Text = text(c) })
}

var bodhiCommentUser = []string{"user", "name"}

// bodhiUpdateComment is UpdateCommentV1: the update and the agent are the
// comment's.
func bodhiUpdateComment(x *Extraction) {
	// A comment that is not a dict indexes as an empty one: every lookup
	// raises, as Python's TypeError.
	c := &bodhiCtx{x: x, src: x.object(x.Body.Get("comment")), agentAt: bodhiCommentUser}
	karma := func() string { return PyStr(c.src.PyItem("karma")) }
	bodhiUpdateExtract(c,
		func(c *bodhiCtx) string {
			return PyStr(c.agent()) + " commented on update " + c.update().buildsSummary() + " (karma: " + karma() + ")"
		},
		func(c *bodhiCtx) string {
			u := c.update()
			return PyStr(c.agent()) + " commented on " + PyStr(u.owner) + "'s update " + PyStr(u.alias) +
				" with karma " + karma() + ":\n\n" + PyStr(c.src.PyItem("text")) + "\n\nBuilds:\n" + u.buildLines()
		})
}

func bodhiCompleteSummary(c *bodhiCtx) string {
	u := c.update()
	return PyStr(u.owner) + "'s " + u.buildsSummary() + " bodhi update completed push to " + PyStr(u.status)
}

func bodhiCompleteText(c *bodhiCtx) string {
	u := c.update()
	return PyStr(u.owner) + "'s Bodhi update " + PyStr(u.alias) + " completed push to " + PyStr(u.status) +
		"\nBuilds:\n" + u.buildLines() + " "
}

func bodhiEditSummary(c *bodhiCtx) string {
	u := c.update()
	return PyStr(c.agent()) + " edited " + c.ownerQual() + " update " + PyStr(u.alias) + " (" + u.buildsSummary() + ")"
}

// bodhiRequestStatus is UpdateRequestMessage's status: the last token of
// the message's topic.
func bodhiRequestStatus(topic string) (status string, pastTense bool) {
	status = topic[strings.LastIndexByte(topic, '.')+1:]
	switch status {
	case "unpush", "obsolete", "revoke":
		return status, true
	}
	return status, false
}

func bodhiRequestSummary(c *bodhiCtx) string {
	u := c.update()
	status, past := bodhiRequestStatus(c.x.Topic)
	if past {
		return PyStr(c.agent()) + " " + bodhiPastTense(status) + " " + c.ownerQual() + " update " +
			PyStr(u.alias) + " (" + u.buildsSummary() + ")"
	}
	return PyStr(c.agent()) + " submitted " + c.ownerQual() + " update " + PyStr(u.alias) +
		" (" + u.buildsSummary() + ") to " + status
}

func bodhiRequestText(c *bodhiCtx) string {
	u := c.update()
	status, past := bodhiRequestStatus(c.x.Topic)
	action := "submitted"
	if past {
		action = bodhiPastTense(status)
	}
	s := PyStr(c.agent()) + " " + action + " " + c.ownerQual() + " update " + PyStr(u.alias)
	if !past {
		s += " to " + status
	}
	return s + ".\nBuilds:\n" + u.buildLines()
}

// bodhiErrataPublish is ErrataPublishV1: the update's owner is the agent;
// summary and text are the email's subject and body.
func bodhiErrataPublish(x *Extraction) {
	c := &bodhiCtx{x: x, src: x.Body, agentIsOwner: true}
	PyTry(func() { x.Agent = PyOptStr(c.agent()) })
	PyTry(func() { x.Usernames = c.baseUsernames() })
	PyTry(func() { x.Packages = c.update().packages() })
	if !x.Display() {
		return
	}
	PyTry(func() { x.URL = bodhiUpdatesURL + PyStr(c.update().alias) })
	PyTry(func() { x.Summary = PyStr(c.item("subject")) })
	// An empty body cannot be told from the base text (Text "" means the
	// dump): fmn shows the dump there.
	PyTry(func() { x.Text = PyMustStr(c.item("body")) })
}

// bodhiCompose extracts the compose classes: BodhiMessage with a summary
// that is also the text.
func bodhiCompose(summary func(b Body) string) func(*Extraction) {
	return func(x *Extraction) {
		c := &bodhiCtx{x: x, src: x.Body}
		x.Agent = PyOptStr(c.agent())
		PyTry(func() { x.Usernames = c.baseUsernames() })
		if !x.Display() {
			return
		}
		x.Summary = summary(x.Body)
		x.Text = x.Summary
	}
}

// bodhiOverride extracts BuildrootOverrideTagV1 and …UntagV1: the
// submitter is the agent and the only username.
func bodhiOverride(verb string) func(*Extraction) {
	return func(x *Extraction) {
		nvr := func() Value { return x.Body.PyItem("override", "nvr") }
		submitter := func() Value { return x.Body.PyItem("override", "submitter", "name") }
		PyTry(func() { x.Agent = PyOptStr(submitter()) })
		PyTry(func() { x.Usernames = Strs(submitter()) })
		PyTry(func() { x.Packages = []string{bodhiPackage(PyMustStr(nvr()))} })
		if !x.Display() {
			return
		}
		PyTry(func() { x.URL = "https://bodhi.fedoraproject.org/overrides/" + PyStr(nvr()) })
		PyTry(func() {
			x.Summary = PyStr(submitter()) + " " + verb + " a buildroot override for " + PyStr(nvr())
			x.Text = x.Summary
		})
	}
}

// bodhiReadyForTesting extracts UpdateReadyForTestingV1 and V2 (not
// UpdateMessages): builds, URL, usernames and packages come from
// body["artifact"]; the name in summary and text from the path owner
// (contact.name in V1, update.user.name in V2).
func bodhiReadyForTesting(owner ...string) func(*Extraction) {
	return func(x *Extraction) {
		agent := x.Body.Get("agent")
		x.Agent = PyOptStr(agent)
		builds := func() Value { return x.Body.PyItem("artifact", "builds") }
		PyTry(func() {
			users := Strs(PyPluck(builds(), "issuer")...)
			if agent.Truthy() {
				users = append(users, Strs(agent)...)
			}
			x.Usernames = users
		})
		PyTry(func() { x.Packages = Strs(PyPluck(builds(), "component")...) })
		if !x.Display() {
			return
		}
		nvrs := func() []string {
			var out []string
			for _, v := range PyPluck(builds(), "nvr") {
				out = append(out, PyMustStr(v))
			}
			return out
		}
		name := func() string { return PyStr(x.Body.PyItem(owner...)) }
		PyTry(func() {
			x.Summary = name() + "'s " + bodhiTruncate(strings.Join(nvrs(), " ")) + " bodhi update is ready for testing"
		})
		PyTry(func() {
			x.Text = name() + "'s Bodhi update is ready for testing\nBuilds:\n" + strings.Join(nvrs(), "\n") + " "
		})
		PyTry(func() { x.URL = bodhiUpdatesURL + PyStr(x.Body.PyItem("artifact", "id")) })
	}
}
