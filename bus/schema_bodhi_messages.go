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
						" adding " + bodhiLen(c.item("new_bugs")) + " new bugs"
				})},
			{Name: "bodhi.update.edit.v2", Class: upd + "UpdateEditV2", App: "bodhi",
				Extract: bodhiUpdateMessage(bodhiEditSummary, func(c *bodhiCtx) string {
					return PyStr(c.agent()) + " edited " + PyStr(c.update().alias) +
						" adding " + bodhiLen(c.item("new_bugs")) + " new bug(s), adding " +
						bodhiLen(c.item("new_builds")) + " build(s), and removing " +
						bodhiLen(c.item("removed_builds")) + " build(s)"
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

// --- Python semantics ----------------------------------------------------

// bodhiRaise is a Python exception of a property (KeyError, TypeError,
// AttributeError): bodhiTry turns it back into "the property keeps its
// base value".
type bodhiRaise string

// bodhiTry runs one property's computation; a bodhiRaise leaves what f had
// not assigned yet. Other panics are bugs and propagate.
func bodhiTry(f func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bodhiRaise); !ok {
				panic(r)
			}
		}
	}()
	f()
}

// bodhiItem is Python's v[k1][k2]…: it raises unless each step is a dict
// holding the key.
func bodhiItem(v Value, keys ...string) Value {
	for _, k := range keys {
		if v.Kind() != KindObject {
			panic(bodhiRaise("TypeError: " + PyReprString(k) + " of a non-dict"))
		}
		w := v.Get(k)
		if !w.Exists() {
			panic(bodhiRaise("KeyError: " + PyReprString(k)))
		}
		v = w
	}
	return v
}

// bodhiNeed is bodhiItem whose first step is an indexed object (the body,
// or an object indexed once with Value.Object).
func bodhiNeed(b Body, key string, more ...string) Value {
	v := b.Get(key)
	if !v.Exists() {
		panic(bodhiRaise("KeyError: " + PyReprString(key)))
	}
	return bodhiItem(v, more...)
}

// bodhiStr is a value Python uses as a str (joined, split, returned by
// __str__): anything else raises.
func bodhiStr(v Value) string {
	s, ok := v.StrOK()
	if !ok {
		panic(bodhiRaise("TypeError: expected str, got " + PyRepr(v)))
	}
	return s
}

// bodhiText is an agent_name as fmn holds it: "" for None, a string as
// itself, anything else as str() shows it.
func bodhiText(v Value) string {
	switch v.Kind() {
	case KindAbsent, KindNull:
		return ""
	case KindString:
		return v.Str()
	}
	return PyStr(v)
}

// bodhiLen is str(len(v)): lists, dicts and strs have a length, anything
// else raises.
func bodhiLen(v Value) string {
	n := 0
	switch v.Kind() {
	case KindArray:
		n = v.Len()
	case KindObject:
		n = len(v.Keys())
	case KindString:
		n = utf8.RuneCountInString(v.Str())
	default:
		panic(bodhiRaise("TypeError: object of type " + PyRepr(v) + " has no len()"))
	}
	return strconv.Itoa(n)
}

// bodhiEach is [b[key] for b in v]: a list's elements must be dicts
// holding key; iterating an empty str or dict yields nothing, a non-empty
// one yields strs that b[key] fails on, and anything else is not
// iterable.
func bodhiEach(v Value, key string) []Value {
	var out []Value
	switch v.Kind() {
	case KindArray:
		out = make([]Value, 0, 4)
		v.Each(func(b Value) bool {
			out = append(out, bodhiItem(b, key))
			return true
		})
	case KindString, KindObject:
		if bodhiLen(v) != "0" {
			panic(bodhiRaise("TypeError: string indices must be integers"))
		}
	default:
		panic(bodhiRaise("TypeError: " + PyRepr(v) + " is not iterable"))
	}
	return out
}

// bodhiPyEq is Python's == on two decoded JSON values (absent is None).
func bodhiPyEq(a, b Value) bool {
	ka, kb := a.Kind(), b.Kind()
	if ka == KindAbsent {
		ka = KindNull
	}
	if kb == KindAbsent {
		kb = KindNull
	}
	num := func(v Value, k Kind) (float64, bool) {
		switch k {
		case KindBool:
			if t, _ := v.Bool(); t {
				return 1, true
			}
			return 0, true
		case KindNumber:
			return v.Float()
		}
		return 0, false
	}
	switch {
	case ka == KindString && kb == KindString:
		return a.Str() == b.Str()
	case ka == KindNull || kb == KindNull:
		return ka == kb
	}
	if fa, ok := num(a, ka); ok {
		fb, ok := num(b, kb)
		return ok && fa == fb
	}
	return ka == kb && PyRepr(a) == PyRepr(b)
}

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

func bodhiUpdateOf(v Value) *bodhiUpdate {
	if v.Kind() != KindObject {
		panic(bodhiRaise("TypeError: the update is not a dict"))
	}
	o := v.Object()
	u := &bodhiUpdate{alias: bodhiNeed(o, "alias")}
	u.nvrs = bodhiEach(bodhiNeed(o, "builds"), "nvr")
	u.owner = bodhiNeed(o, "user", "name")
	u.status = bodhiNeed(o, "status")
	bodhiNeed(o, "request")
	bodhiNeed(o, "release", "name")
	return u
}

// nvrStrings are the builds' NVRs, which Python joins and splits (strs
// only: anything else raises).
func (u *bodhiUpdate) nvrStrings() []string {
	if u.strs == nil {
		strs := make([]string, len(u.nvrs))
		for i, v := range u.nvrs {
			strs[i] = bodhiStr(v)
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

func (c *bodhiCtx) item(key string, more ...string) Value { return bodhiNeed(c.x.Body, key, more...) }

func (c *bodhiCtx) update() *bodhiUpdate {
	if c.upd == nil {
		c.upd = bodhiUpdateOf(bodhiNeed(c.src, "update"))
	}
	return c.upd
}

// agent is the class's agent_name.
func (c *bodhiCtx) agent() Value {
	switch {
	case c.agentIsOwner:
		return c.update().owner
	case c.agentAt != nil:
		return bodhiNeed(c.src, c.agentAt[0], c.agentAt[1:]...)
	}
	return c.x.Body.Get("agent")
}

// ownerQual is UpdateMessage._owner_qual.
func (c *bodhiCtx) ownerQual() string {
	u := c.update()
	if bodhiPyEq(c.agent(), u.owner) {
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
			text = bodhiNeed(c.src, "text")
		} else {
			text = bodhiItem(cm, "text")
		}
		users = append(users, bodhiMentions(bodhiStr(text))...)
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
	bodhiTry(func() { x.Agent = bodhiText(c.agent()) })
	bodhiTry(func() { x.URL = bodhiUpdatesURL + PyStr(c.update().alias) })
	bodhiTry(func() { x.Usernames = append(c.baseUsernames(), Strs(c.update().owner)...) })
	bodhiTry(func() { x.Packages = c.update().packages() })
	bodhiTry(func() { x.Summary = summary(c) })
	bodhiTry(func() { x.Text = text(c) })
}

var bodhiCommentUser = []string{"user", "name"}

// bodhiUpdateComment is UpdateCommentV1: the update and the agent are the
// comment's.
func bodhiUpdateComment(x *Extraction) {
	// A comment that is not a dict indexes as an empty one: every lookup
	// raises, as Python's TypeError.
	c := &bodhiCtx{x: x, src: x.Body.Get("comment").Object(), agentAt: bodhiCommentUser}
	karma := func() string { return PyStr(bodhiNeed(c.src, "karma")) }
	bodhiUpdateExtract(c,
		func(c *bodhiCtx) string {
			return PyStr(c.agent()) + " commented on update " + c.update().buildsSummary() + " (karma: " + karma() + ")"
		},
		func(c *bodhiCtx) string {
			u := c.update()
			return PyStr(c.agent()) + " commented on " + PyStr(u.owner) + "'s update " + PyStr(u.alias) +
				" with karma " + karma() + ":\n\n" + PyStr(bodhiNeed(c.src, "text")) + "\n\nBuilds:\n" + u.buildLines()
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
	bodhiTry(func() { x.Agent = bodhiText(c.agent()) })
	bodhiTry(func() { x.URL = bodhiUpdatesURL + PyStr(c.update().alias) })
	bodhiTry(func() { x.Usernames = c.baseUsernames() })
	bodhiTry(func() { x.Packages = c.update().packages() })
	bodhiTry(func() { x.Summary = PyStr(c.item("subject")) })
	// An empty body cannot be told from the base text (Text "" means the
	// dump): fmn shows the dump there.
	bodhiTry(func() { x.Text = bodhiStr(c.item("body")) })
}

// bodhiCompose extracts the compose classes: BodhiMessage with a summary
// that is also the text.
func bodhiCompose(summary func(b Body) string) func(*Extraction) {
	return func(x *Extraction) {
		c := &bodhiCtx{x: x, src: x.Body}
		x.Agent = bodhiText(c.agent())
		bodhiTry(func() { x.Usernames = c.baseUsernames() })
		x.Summary = summary(x.Body)
		x.Text = x.Summary
	}
}

// bodhiOverride extracts BuildrootOverrideTagV1 and …UntagV1: the
// submitter is the agent and the only username.
func bodhiOverride(verb string) func(*Extraction) {
	return func(x *Extraction) {
		nvr := func() Value { return bodhiNeed(x.Body, "override", "nvr") }
		submitter := func() Value { return bodhiNeed(x.Body, "override", "submitter", "name") }
		bodhiTry(func() { x.Agent = bodhiText(submitter()) })
		bodhiTry(func() { x.Usernames = Strs(submitter()) })
		bodhiTry(func() { x.URL = "https://bodhi.fedoraproject.org/overrides/" + PyStr(nvr()) })
		bodhiTry(func() { x.Packages = []string{bodhiPackage(bodhiStr(nvr()))} })
		bodhiTry(func() {
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
		x.Agent = bodhiText(agent)
		builds := func() Value { return bodhiNeed(x.Body, "artifact", "builds") }
		nvrs := func() []string {
			var out []string
			for _, v := range bodhiEach(builds(), "nvr") {
				out = append(out, bodhiStr(v))
			}
			return out
		}
		name := func() string { return PyStr(bodhiNeed(x.Body, owner[0], owner[1:]...)) }
		bodhiTry(func() {
			x.Summary = name() + "'s " + bodhiTruncate(strings.Join(nvrs(), " ")) + " bodhi update is ready for testing"
		})
		bodhiTry(func() {
			x.Text = name() + "'s Bodhi update is ready for testing\nBuilds:\n" + strings.Join(nvrs(), "\n") + " "
		})
		bodhiTry(func() { x.URL = bodhiUpdatesURL + PyStr(bodhiNeed(x.Body, "artifact", "id")) })
		bodhiTry(func() {
			users := Strs(bodhiEach(builds(), "issuer")...)
			if agent.Truthy() {
				users = append(users, Strs(agent)...)
			}
			x.Usernames = users
		})
		bodhiTry(func() { x.Packages = Strs(bodhiEach(builds(), "component")...) })
	}
}
