package bus

import "strings"

// Copr's messages (copr-messaging 1.2, read in fedora-copr/copr, directory
// messaging/, at tag copr-messaging-1.2-1).
//
// Every class derives from _CoprMessage, whose constructor unwraps the
// fedmsg-era envelope: a body with a "msg" key is replaced by its value
// (then by {} when that is falsy, as fedora-messaging's Message does). The
// classes keep the base class's text, which dumps the unwrapped body.
//
// There is no url and no packages property: the base class's None and []
// stand.

func init() {
	const app = "Copr"
	RegisterPackage(Package{Name: "copr-messaging", Version: "1.2", Source: "fedora-copr/copr",
		Schemas: []Schema{
			{Name: "copr.build.start", Class: "copr_messaging.schema:BuildChrootStartedV1",
				App: app, Extract: coprBuildChroot(false, false)},
			{Name: "copr.build.end", Class: "copr_messaging.schema:BuildChrootEndedV1",
				App: app, Extract: coprBuildChroot(false, true)},
			{Name: "copr.chroot.start", Class: "copr_messaging.schema:BuildChrootStartedV1DontUse",
				App: app, Extract: coprBuildChroot(false, false)},
			{Name: "copr.unused.build.start", Class: "copr_messaging.schema:BuildChrootStartedV1Stomp",
				App: app, Extract: coprBuildChroot(true, false)},
			{Name: "copr.unused.build.end", Class: "copr_messaging.schema:BuildChrootEndedV1Stomp",
				App: app, Extract: coprBuildChroot(true, true)},
			{Name: "copr.unused.chroot.start", Class: "copr_messaging.schema:BuildChrootStartedV1StompDontUse",
				App: app, Extract: coprStompChrootStart},
		}})
}

// coprEmptyObject is the body fedora-messaging holds for a falsy one.
var coprEmptyObject = ValueOf([]byte("{}"))

// coprUnwrap applies _CoprMessage's constructor: it returns the body the
// class holds and, when that is not the body received and the text is
// displayed, sets x.TextBody to it.
func coprUnwrap(x *Extraction) Body {
	if x.Body.Value.Kind() != KindObject {
		return x.Body
	}
	m := x.Body.Get("msg")
	if !m.Exists() {
		return x.Body
	}
	if !m.Truthy() {
		m = coprEmptyObject
	}
	if x.Display() {
		x.TextBody = m
	}
	return m.Object()
}

// coprStatuses is copr_common's StatusEnum by value.
var coprStatuses = map[string]string{
	"0": "failed", "1": "succeeded", "2": "canceled", "3": "running", "4": "pending",
	"5": "skipped", "6": "starting", "7": "importing", "8": "forked", "9": "waiting",
	"1000": "unknown",
}

// coprStatusNames is StatusEnum by name (what StatusEnum("name") returns).
var coprStatusNames = map[string]string{}

func init() {
	for k, v := range coprStatuses {
		coprStatusNames[v] = k
	}
}

// coprStatusEnum returns str(StatusEnum(v)): the state name of an int (a
// boolean counts as one), the number of a state name; false where
// StatusEnum raises KeyError (a float, an unknown number or name).
func coprStatusEnum(v Value) (string, bool) {
	switch v.Kind() {
	case KindBool:
		if t, _ := v.Bool(); t {
			return coprStatuses["1"], true
		}
		return coprStatuses["0"], true
	case KindNumber:
		if v.IsFloat() {
			return "", false
		}
		s, ok := coprStatuses[pyNumber(v)]
		return s, ok
	case KindString:
		s, ok := coprStatusNames[v.Str()]
		return s, ok
	}
	return "", false
}

// coprBuildChroot: the build chroot classes, of the fedmsg-era bodies
// (BuildChrootStartedV1, BuildChrootEndedV1, BuildChrootStartedV1DontUse)
// or of the old STOMP ones (stomp: BuildChrootStartedV1Stomp,
// BuildChrootEndedV1Stomp); ended selects BuildChrootEnded's summary and
// agent.
//
// Where Python raises, fmn derives: a missing key reads as None; a status
// StatusEnum does not know stays as sent (for STOMP bodies, a status_int
// that int() rejects or StatusEnum does not know gives the lower-cased
// status text); a STOMP build id int() rejects stays as sent.
func coprBuildChroot(stomp, ended bool) func(x *Extraction) {
	return func(x *Extraction) {
		b := coprUnwrap(x)
		submitterKey := "user"
		if stomp {
			submitterKey = "submitter"
		}
		// _BuildMessage.submitter: a namespaced name (github.com:foo) is
		// nobody's.
		submitter, isStr := b.Get(submitterKey).StrOK()
		if isStr && strings.Contains(submitter, ":") {
			submitter, isStr = "", false
		}
		// agent_name: the submitter of a started build (BuildChrootEnded
		// names none).
		if !ended && isStr {
			x.Agent = submitter
		}
		// usernames: the submitter and the project owner, groups (@name)
		// left out.
		var users []string
		if isStr && !strings.HasPrefix(submitter, "@") {
			users = append(users, submitter)
		}
		if o, ok := b.Get("owner").StrOK(); ok && !strings.HasPrefix(o, "@") {
			users = append(users, o)
		}
		x.Usernames = NonEmpty(users...)
		if !x.Display() {
			return
		}
		buildID := PyStr(b.Get("build"))
		if stomp {
			PyTry(func() { buildID = PyIntStr(b.Get("build")) })
		}
		prefix := `Copr Message in project "` + PyStr(b.Get("owner")) + "/" + PyStr(b.Get("copr")) +
			`": build ` + buildID + `: chroot "` + PyStr(b.Get("chroot")) + `"`
		if ended {
			x.Summary = prefix + ` ended as "` + coprStatus(b, stomp) + `".`
		} else {
			x.Summary = prefix + " started."
		}
	}
}

// coprStatus returns the ended build's status as the summary shows it.
func coprStatus(b Body, stomp bool) string {
	if !stomp {
		st := b.Get("status")
		if s, ok := coprStatusEnum(st); ok {
			return s
		}
		return PyStr(st)
	}
	si := b.Get("status_int")
	var n string
	if PyTry(func() { n = PyIntStr(si) }) {
		if s, ok := coprStatuses[n]; ok {
			return s
		}
	}
	if s := b.Get("status").Str(); s != "" {
		return strings.ToLower(s)
	}
	return PyStr(si)
}

// coprStompChrootStart: BuildChrootStartedV1StompDontUse, a bare
// _CoprMessage.
func coprStompChrootStart(x *Extraction) {
	if !x.Display() {
		return // the class derives nothing matching reads
	}
	coprUnwrap(x)
	x.Summary = "Unspecified Copr message"
}
