package bus

import (
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Koji's messages (koji-fedoramessaging-messages 1.3.0, read in
// fedora-infra/koji-fedoramessaging-messages at v1.3.0).
//
// Every class derives from KojiFedoraMessagingMessage: app "Koji", the
// agent as the only username (when set), and the summary as the text —
// except the build state change, whose text lists the build and its tasks.

func init() {
	const app = "Koji"
	RegisterPackage(Package{Name: "koji-fedoramessaging-messages", Version: "1.3.0",
		Source: "fedora-infra/koji-fedoramessaging-messages",
		Schemas: []Schema{
			{Name: "koji_fedoramessaging.build.BuildStateChangeV1", Class: "koji_fedoramessaging_messages.build:BuildStateChangeV1",
				App: app, Extract: kojiBuildStateChange},
			{Name: "koji_fedoramessaging.package.ListChangeV1", Class: "koji_fedoramessaging_messages.package:ListChangeV1",
				App: app, Extract: kojiPackageListChange},
			{Name: "koji_fedoramessaging.repo.DoneV1", Class: "koji_fedoramessaging_messages.repo:DoneV1",
				App: app, Extract: kojiRepo},
			{Name: "koji_fedoramessaging.repo.InitV1", Class: "koji_fedoramessaging_messages.repo:InitV1",
				App: app, Extract: kojiRepo},
			{Name: "koji_fedoramessaging.rpm.SignV1", Class: "koji_fedoramessaging_messages.rpm:SignV1",
				App: app, Extract: kojiRPMSign},
			{Name: "koji_fedoramessaging.tag.TagV1", Class: "koji_fedoramessaging_messages.tag:TagV1",
				App: app, Extract: kojiTag("tagged into")},
			{Name: "koji_fedoramessaging.tag.UntagV1", Class: "koji_fedoramessaging_messages.tag:UntagV1",
				App: app, Extract: kojiTag("untagged from")},
			{Name: "koji_fedoramessaging.task.TaskStateChangeV1", Class: "koji_fedoramessaging_messages.task:TaskStateChangeV1",
				App: app, Extract: kojiTaskStateChange},
		}})
}

// kojiBase applies KojiFedoraMessagingMessage's defaults once the class's
// agent and summary are set: the agent as the only username, the summary
// as the text (when displayed).
func kojiBase(x *Extraction) {
	x.Usernames = NonEmpty(x.Agent)
	if x.Display() {
		x.Text = x.Summary
	}
}

// kojiRepo: DoneV1 and InitV1 override nothing; the summary is the topic.
func kojiRepo(x *Extraction) { kojiBase(x) }

// kojiPackageListChange: ListChangeV1.
func kojiPackageListChange(x *Extraction) {
	b := x.Body
	pkg := b.Get("package")
	x.Agent = b.Get("owner").Str()
	if x.Display() {
		x.Summary = "Package list change for " + PyStr(pkg) + ":  " + PyStr(b.Get("tag"))
	}
	x.Packages = Strs(pkg)
	kojiBase(x)
}

// kojiRPMSign: SignV1. The owner and the package name come from the build;
// where Python's lookups raise (no rpm, a build that is not an object)
// they are None.
func kojiRPMSign(x *Extraction) {
	b := x.Body
	build := b.Get("build")
	x.Agent = build.Get("owner_name").Str()
	if x.Display() {
		rpm := b.Get("rpm").Object()
		x.Summary = "rpm " + PyStr(rpm.Get("name")) + "-" + PyStr(rpm.Get("version")) + "-" +
			PyStr(rpm.Get("release")) + " was signed"
	}
	if name := build.Get("name"); name.Truthy() {
		x.Packages = Strs(name)
	}
	kojiBase(x)
}

// kojiTag: TagV1 and UntagV1 (TagMessage). The usernames are the user who
// tagged and the package owner.
func kojiTag(action string) func(x *Extraction) {
	return func(x *Extraction) {
		b := x.Body
		name, user, owner := b.Get("name"), b.Get("user"), b.Get("owner")
		x.Agent = user.Str()
		x.Packages = Strs(name)
		x.Usernames = Strs(user, owner)
		if !x.Display() {
			return
		}
		x.Summary = PyStr(name) + "-" + PyStr(b.Get("version")) + "-" + PyStr(b.Get("release")) +
			" was " + action + " " + PyStr(b.Get("tag")) + " by " + PyStr(user)
		x.Text = x.Summary
	}
}

// kojiTaskStateChange: TaskStateChangeV1. The text is the task and its
// sub-tasks with their result files. Where Python raises (info null or
// not an object) the summary leaves the architecture empty and the text
// is the summary.
func kojiTaskStateChange(x *Extraction) {
	b := x.Body
	x.Agent = b.Get("owner").Str()
	x.Usernames = NonEmpty(x.Agent)
	if !x.Display() {
		return
	}
	info := b.Get("info")
	orEmpty := func(v Value) string {
		if v.Truthy() {
			return PyStr(v)
		}
		return ""
	}
	x.Summary = "Task " + PyStr(b.Get("new")) + " -- " + orEmpty(b.Get("method")) +
		" (" + orEmpty(b.Get("srpm")) + " " + orEmpty(info.Get("arch")) + ")"
	x.URL = info.Get("url").Str()
	if info.Kind() != KindObject {
		x.Text = x.Summary
		return
	}
	var t strings.Builder
	kojiTaskText(&t, info, kojiFilesBase(b))
	x.Text = t.String()
}

// kojiBuildStates are BUILD_STATES by value.
var kojiBuildStates = [...]string{"BUILDING", "COMPLETE", "DELETED", "FAILED", "CANCELED"}

// kojiBuildState returns the BUILD_STATES value of v: an integral number
// or a boolean (Python's Enum lookup by value takes 1.0 and True for 1),
// false when it names no state (Python raises ValueError).
func kojiBuildState(v Value) (int, bool) {
	switch v.Kind() {
	case KindBool:
		if t, _ := v.Bool(); t {
			return 1, true
		}
		return 0, true
	case KindNumber:
		if n, ok := v.Int(); ok && n >= 0 && n < int64(len(kojiBuildStates)) {
			return int(n), true
		}
	}
	return 0, false
}

// kojiBuildStateChange: BuildStateChangeV1.
//
// Where Python raises, fmn derives:
//   - a state number BUILD_STATES does not know: the number stands for
//     the state's name in the summary and the text;
//   - a task without files_base_url (the text's KeyError): the task's
//     files are listed with their paths relative to Koji's work directory;
//   - a date fromisoformat rejects: the date as written;
//   - a missing url: no URL.
func kojiBuildStateChange(x *Extraction) {
	b := x.Body
	owner, name := b.Get("owner"), b.Get("name")
	newV := b.Get("new")
	state, known := kojiBuildState(newV)

	ownerName := owner.Str()
	switch {
	case b.Get("old").Kind() <= KindNull:
		x.Agent = ownerName
	case known && (state == 1 || state == 2 || state == 3): // COMPLETE, DELETED, FAILED
		x.Agent = ""
	default:
		x.Agent = ownerName
	}
	x.Usernames = Strs(owner)
	x.Packages = Strs(name)
	if !x.Display() {
		return
	}

	stateName := PyStr(newV)
	if known {
		stateName = kojiBuildStates[state]
	}
	version, release := PyStr(b.Get("version")), PyStr(b.Get("release"))
	x.URL = b.Get("url").Str()
	nvr := PyStr(name) + "-" + version + "-" + release
	x.Summary = "Build " + stateName + ": " + PyStr(owner) + "'s " + nvr

	status := stateName
	if known {
		status = strings.ToLower(stateName)
	}
	finished := kojiDate(b.Get("completion_time"))
	if finished == "" {
		finished = "(still running)"
	}
	var t strings.Builder
	t.WriteString("Package:    " + nvr +
		"\nStatus:     " + status +
		"\nBuilt by:   " + PyStr(owner) +
		"\nID:         " + PyStr(b.Get("build_id")) +
		"\nStarted:    " + kojiDate(b.Get("creation_time")) +
		"\nFinished:   " + finished + "\n\n")
	if task := b.Get("task"); task.Kind() <= KindNull {
		t.WriteString("Build imported into koji\n")
	} else {
		t.WriteString("Closed tasks:\n-------------\n")
		kojiTaskText(&t, task, kojiFilesBase(b))
	}
	x.Text = t.String()
}

// kojiFilesBase returns what fill_task_template puts before each result
// file: files_base_url and a slash, or "" when the body has no
// files_base_url (Python raises KeyError; fmn lists the paths relative to
// Koji's work directory).
func kojiFilesBase(b Body) string {
	v := b.Get("files_base_url")
	if !v.Exists() {
		return ""
	}
	return PyStr(v) + "/"
}

// kojiTaskText writes fill_task_template(task, files_base_url): the task,
// its result files and its sub-tasks by completion time. Missing keys
// read as None, results that are not objects (LiveCD's strings) list no
// files.
func kojiTaskText(b *strings.Builder, task Value, filesBase string) {
	t := task.Object()
	id := PyStr(t.Get("id"))
	host := "(unscheduled)"
	if h := t.Get("host_name"); h.Truthy() {
		host = PyStr(h)
	}
	b.WriteString("Task " + id + " on " + host +
		"\nTask Type: " + PyStr(t.Get("method")) + " (" + PyStr(t.Get("arch")) + ")" +
		"\nLink: " + PyStr(t.Get("url")) + "\n")
	if r := t.Get("result"); r.Kind() == KindObject {
		ro := r.Object()
		for _, kind := range [...]string{"logs", "rpms", "srpms"} {
			v := ro.Get(kind)
			if !v.Truthy() {
				continue
			}
			b.WriteString(kind + ":\n")
			// for item in v: a truthy v that is not iterable (Python's
			// TypeError) lists no files.
			PyTry(func() {
				PyEachStr(v, func(item string) { b.WriteString("  " + filesBase + item + "\n") })
			})
		}
		if v := ro.Get("srpm"); v.Exists() {
			b.WriteString("srpm:\n  " + filesBase + PyStr(v) + "\n")
		}
	}
	children := t.Get("children")
	if children.Truthy() {
		b.WriteString("\nTask " + id + " has the following sub-tasks:\n")
	}
	type child struct {
		v   Value
		key float64
	}
	var cs []child
	children.Each(func(c Value) bool {
		key, _ := PyNumber(c.Get("completion_time")) // 0 for what is no number or bool
		cs = append(cs, child{c, key})
		return true
	})
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].key < cs[j].key })
	for _, c := range cs {
		b.WriteString("\n")
		kojiTaskText(b, c.v, filesBase)
	}
}

// kojiDate is date_to_string: datetime.fromisoformat(v).strftime("%a, %d
// %b %Y %H:%M:%S %Z"), "" for what is not a string (Python's TypeError).
// A string fromisoformat rejects (Python raises ValueError) stays as
// written.
func kojiDate(v Value) string {
	s, ok := v.StrOK()
	if !ok {
		return ""
	}
	if out, ok := kojiFromISOFormat(s); ok {
		return out
	}
	return s
}

// kojiFromISOFormat parses what Python 3.11's datetime.fromisoformat
// reads — a date YYYY-MM-DD or YYYYMMDD, then optionally any one
// separator character and a time hh[[:]mm[[:]ss[(.|,)fraction]]] with an
// optional offset Z or ±hh[[:]mm[[:]ss]] — and formats it as
// date_to_string does. Week dates and fractional offsets are not read.
func kojiFromISOFormat(s string) (string, bool) {
	num := func(s string) (int, bool) {
		n := 0
		if s == "" {
			return 0, false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	var y, mo, d int
	var ok1, ok2, ok3 bool
	var rest string
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		y, ok1 = num(s[:4])
		mo, ok2 = num(s[5:7])
		d, ok3 = num(s[8:10])
		rest = s[10:]
	case len(s) >= 8:
		y, ok1 = num(s[:4])
		mo, ok2 = num(s[4:6])
		d, ok3 = num(s[6:8])
		rest = s[8:]
	}
	if !ok1 || !ok2 || !ok3 || y < 1 || mo < 1 || mo > 12 || d < 1 ||
		d > time.Date(y, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return "", false
	}
	var h, mi, sec int
	zone := ""
	if rest != "" {
		_, size := utf8.DecodeRuneInString(rest)
		tm := rest[size:]
		if tm == "" {
			return "", false
		}
		if i := strings.IndexAny(tm, "+-Z"); i >= 0 {
			z := tm[i:]
			tm = strings.TrimRight(tm[:i], " ")
			if z[0] == 'Z' {
				if len(z) != 1 {
					return "", false
				}
				zone = "UTC"
			} else {
				oh, om, os, ok := kojiClock(z[1:], false)
				if !ok || oh > 23 {
					return "", false
				}
				switch {
				case oh == 0 && om == 0 && os == 0:
					zone = "UTC"
				default:
					zone = "UTC" + z[:1] + kojiTwoDigits(oh) + ":" + kojiTwoDigits(om)
					if os != 0 {
						zone += ":" + kojiTwoDigits(os)
					}
				}
			}
		}
		var ok bool
		h, mi, sec, ok = kojiClock(tm, true)
		if !ok {
			return "", false
		}
	}
	if h > 23 || mi > 59 || sec > 59 {
		return "", false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	return t.Format("Mon, 02 Jan ") + strconv.Itoa(y) + t.Format(" 15:04:05 ") + zone, true
}

// kojiClock reads hh[[:]mm[[:]ss]] and, with fraction, a fraction after
// the seconds (read and dropped).
func kojiClock(s string, fraction bool) (h, m, sec int, ok bool) {
	if fraction {
		if i := strings.IndexAny(s, ".,"); i >= 0 {
			f := s[i+1:]
			if i != 6 && i != 8 || f == "" || strings.Trim(f, "0123456789") != "" {
				return 0, 0, 0, false
			}
			s = s[:i]
		}
	}
	extended := len(s) > 2 && s[2] == ':'
	var parts []string
	if extended {
		parts = strings.Split(s, ":")
	} else {
		for len(s) > 2 {
			parts = append(parts, s[:2])
			s = s[2:]
		}
		parts = append(parts, s)
	}
	if len(parts) > 3 {
		return 0, 0, 0, false
	}
	vals := [3]int{}
	for i, p := range parts {
		if len(p) != 2 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' {
			return 0, 0, 0, false
		}
		vals[i] = int(p[0]-'0')*10 + int(p[1]-'0')
	}
	return vals[0], vals[1], vals[2], true
}

func kojiTwoDigits(n int) string {
	return string([]byte{byte('0' + n/10%10), byte('0' + n%10)})
}
