package consumer

// Synthetic but Fedora-shaped data for the pipeline benchmark: users,
// package names, rules and bus messages. Everything comes from one seeded
// generator, so two runs with the same sizes see the same workload.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
	"github.com/nats-io/nats.go"
)

// Workload knobs. They decide how many messages concern someone with rules
// and so how many notifications the matcher publishes per message; the
// benchmark prints the resulting fraction so a reader can judge it.
const (
	// hotUserShare is the chance that a picked user with rules (followed, or
	// named in a message) comes from the small "hot" head of the users:
	// the active packagers.
	hotUserShare = 0.25
	// hotFollowShare and hotPkgMsgShare are the same for packages: a
	// followed package, and a package named in a message.
	hotFollowShare = 0.15
	hotPkgMsgShare = 0.10
	// hotPackagesDiv and hotUsersDiv size those heads (pool/div).
	hotPackagesDiv = 40
	hotUsersDiv    = 25
)

// The two knobs that move the fan-out most; FMN_BENCH_KNOWN_USER_SHARE and
// FMN_BENCH_FOLLOWED_SHARE override them (see sizesFromEnv).
var (
	// knownUserShare is the chance that a username in a message belongs to
	// one of the users with rules (the rest are Fedora accounts without
	// rules, bots and Copr users from elsewhere).
	knownUserShare = 0.35
	// followedShare is the share of artifacts-followed among the rules
	// beyond each user's related-events (the rest are users-followed).
	followedShare = 0.6
)

// benchWorld is the population the rules and messages are drawn from.
type benchWorld struct {
	rng      *rand.Rand
	users    []string // have rules; users[:hotUsers] are the active ones
	hotUsers int
	outside  []string // Fedora accounts and bots without rules
	packages []string // packages[:hotPkgs] are the popular ones
	hotPkgs  int
	groups   []string
	seq      uint64 // message counter, for ids and build numbers
	start    time.Time
}

var (
	syllables = strings.Fields(`ba be bi bo bu da de di do du fa fe fi fo ga ge gi go ha he hi ho ja je jo ka ke ki ko ku
		la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to tu va ve vi
		vo wa we wi xa ya yo za zo an ar el en er in on or us ax ex ix ol al il ur ist ock ard ell ton son ley man rick`)
	// Real package names for the popular head, so a notification reads
	// like one.
	famousPackages = strings.Fields(`kernel firefox systemd glibc gcc python3 bash coreutils openssl curl vim-enhanced
		emacs git podman buildah NetworkManager gnome-shell mesa llvm clang rust golang nodejs java-21-openjdk
		libreoffice thunderbird chromium qemu libvirt dnf rpm anaconda grub2 util-linux selinux-policy firewalld
		openssh sudo httpd nginx postgresql mariadb redis python-requests python-numpy python-django ansible
		kubernetes cri-o containerd docker-compose flatpak ostree rpm-ostree gtk4 qt6-qtbase kf6-kio plasma-workspace
		pipewire wireplumber pulseaudio bluez cups samba nfs-utils lvm2 cryptsetup dracut shim fwupd xorg-x11-server
		wayland mutter gdm sddm texlive ghc cabal-install perl ruby php R julia octave gimp inkscape blender krita`)
	pkgPrefixes = []struct {
		p string
		w int
	}{{"", 40}, {"python-", 15}, {"perl-", 8}, {"rust-", 8}, {"golang-github-", 6}, {"rubygem-", 4},
		{"texlive-", 4}, {"ghc-", 3}, {"nodejs-", 3}, {"R-", 2}, {"php-", 2}, {"mingw-", 2}, {"lib", 3}}
	bots       = []string{"packit", "bodhi", "zodbot", "releng", "koschei", "copr-bot", "fedora-ci", "the-new-hotness", "kevin-bot", "distgit"}
	words      = strings.Fields(`the update fixes a regression in build with new upstream release please test this on rawhide and report karma if it works for you thanks see changelog for details security issue crash when starting service after upgrade rebuilt for python soname bump minor bug fixes and documentation improvements backport patch from main branch`)
	releases   = []string{"F39", "F40", "F41", "F42", "EPEL-9", "EPEL-10"}
	coprChroot = []string{"fedora-rawhide-x86_64", "fedora-41-x86_64", "fedora-40-aarch64", "epel-9-x86_64", "centos-stream-10-x86_64"}
)

func newBenchWorld(seed uint64, users, packages int) *benchWorld {
	w := &benchWorld{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: time.Now().UTC()}
	seen := map[string]bool{}
	uniq := func(s string) string {
		for i := 2; seen[s]; i++ {
			s = strings.TrimRight(s, "0123456789") + strconv.Itoa(i)
		}
		seen[s] = true
		return s
	}
	w.users = make([]string, users)
	for i := range w.users {
		w.users[i] = uniq(w.userName())
	}
	w.hotUsers = max(1, users/hotUsersDiv)
	w.outside = make([]string, max(1000, users))
	for i := range w.outside {
		if i < len(bots) {
			w.outside[i] = uniq(bots[i])
			continue
		}
		w.outside[i] = uniq(w.userName())
	}
	seenPkg := map[string]bool{}
	w.packages = make([]string, 0, packages)
	for _, p := range famousPackages {
		if len(w.packages) < packages {
			seenPkg[p] = true
			w.packages = append(w.packages, p)
		}
	}
	for len(w.packages) < packages {
		p := w.pickPrefix() + w.word(2+w.rng.IntN(2))
		if w.rng.IntN(5) == 0 {
			p += "-" + w.word(1+w.rng.IntN(2))
		}
		if !seenPkg[p] {
			seenPkg[p] = true
			w.packages = append(w.packages, p)
		}
	}
	w.hotPkgs = max(1, packages/hotPackagesDiv)
	for i := 0; i < 300; i++ {
		w.groups = append(w.groups, "sig-"+w.word(2))
	}
	return w
}

func (w *benchWorld) word(n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(syllables[w.rng.IntN(len(syllables))])
	}
	return b.String()
}

// userName looks like a FAS account: jdoe, mariolopez, kevin, ngompa2.
func (w *benchWorld) userName() string {
	switch w.rng.IntN(4) {
	case 0:
		return string(rune('a'+w.rng.IntN(26))) + w.word(2+w.rng.IntN(2))
	case 1:
		return w.word(2) + w.word(2)
	case 2:
		return w.word(2 + w.rng.IntN(2))
	default:
		return w.word(2) + strconv.Itoa(w.rng.IntN(100))
	}
}

func (w *benchWorld) pickPrefix() string {
	total := 0
	for _, p := range pkgPrefixes {
		total += p.w
	}
	n := w.rng.IntN(total)
	for _, p := range pkgPrefixes {
		if n < p.w {
			return p.p
		}
		n -= p.w
	}
	return ""
}

// skewed picks an index in [0,n), from the hot head [0,hot) with
// probability share (and uniformly otherwise).
func (w *benchWorld) skewed(n, hot int, share float64) int {
	if w.rng.Float64() < share {
		return w.rng.IntN(hot)
	}
	return w.rng.IntN(n)
}

// pkg is a package named in a message; followPkg one a rule follows.
func (w *benchWorld) pkg() string {
	return w.packages[w.skewed(len(w.packages), w.hotPkgs, hotPkgMsgShare)]
}

func (w *benchWorld) followPkg() string {
	return w.packages[w.skewed(len(w.packages), w.hotPkgs, hotFollowShare)]
}

func (w *benchWorld) ruleUser() string {
	return w.users[w.skewed(len(w.users), w.hotUsers, hotUserShare)]
}

// msgUser is a username as messages carry them: a user with rules
// (knownUserShare of the time) or someone else.
func (w *benchWorld) msgUser() string {
	if w.rng.Float64() < knownUserShare {
		return w.ruleUser()
	}
	return w.outside[w.rng.IntN(len(w.outside))]
}

func (w *benchWorld) chance(p float64) bool { return w.rng.Float64() < p }

// --- rules -------------------------------------------------------------------

// benchRules returns n rules of the world's users, each already carrying its
// owner (as Commands.Create sets it): one related-events per user first,
// then artifacts-followed or users-followed rules spread over the users.
func (w *benchWorld) benchRules(n int) []rules.Rule {
	out := make([]rules.Rule, 0, n)
	for i := 0; i < n; i++ {
		u := w.users[i%len(w.users)]
		var r rules.Rule
		switch {
		case i < len(w.users):
			r = rules.Rule{Name: "My events", TrackingRule: rules.TrackingRule{Name: rules.TrackRelatedEvents, Params: json.RawMessage("null")}}
		case w.chance(followedShare):
			k := followCount(w.rng)
			arts := make([]rules.FollowedArtifact, 0, k)
			for range k {
				typ := rules.ArtifactRPMs
				switch x := w.rng.IntN(100); {
				case x < 3:
					typ = rules.ArtifactContainers
				case x < 5:
					typ = rules.ArtifactFlatpaks
				case x < 6:
					typ = rules.ArtifactModules
				}
				arts = append(arts, rules.FollowedArtifact{Name: w.followPkg(), Type: typ})
			}
			params, _ := json.Marshal(arts)
			r = rules.Rule{Name: "Packages I follow", TrackingRule: rules.TrackingRule{Name: rules.TrackArtifactsFollowed, Params: params}}
		default:
			k := 1 + w.rng.IntN(5)
			names := make([]string, 0, k)
			for range k {
				if f := w.ruleUser(); f != u {
					names = append(names, f)
				}
			}
			if len(names) == 0 {
				names = append(names, w.users[(i+1)%len(w.users)])
			}
			params, _ := json.Marshal(names)
			r = rules.Rule{Name: "People I follow", TrackingRule: rules.TrackingRule{Name: rules.TrackUsersFollowed, Params: params}}
		}
		r.User = rules.User{Name: u}
		r.GenerationRules = []rules.GenerationRule{w.generationRule(u)}
		if w.chance(0.1) {
			// A second channel for what matters: errors to chat.
			g := w.generationRule(u)
			g.Filters.Severities = []string{"warning", "error"}
			r.GenerationRules = append(r.GenerationRules, g)
		}
		out = append(out, r)
	}
	return out
}

// followCount is 1–10, mostly small (mean about 2.6).
func followCount(rng *rand.Rand) int {
	switch x := rng.IntN(100); {
	case x < 40:
		return 1
	case x < 65:
		return 2
	case x < 77:
		return 3
	case x < 85:
		return 4
	case x < 90:
		return 5
	default:
		return 6 + rng.IntN(5)
	}
}

var (
	benchApps      = [][]string{{"bodhi"}, {"koji"}, {"bodhi", "koji"}, {"pagure", "distgit"}, {"copr"}, {"Bodhi", "Koji", "pagure"}}
	benchExcluded  = [][]string{{"copr"}, {"fas"}, {"koji", "copr"}}
	benchSeverties = [][]string{{"warning", "error"}, {"info", "warning", "error"}, {"debug", "info", "warning", "error"}, {"error"}}
	benchTopics    = []string{"org.fedoraproject.prod.bodhi.*", "*.buildsys.build.state.change", "org.fedoraproject.prod.pagure.*",
		"org.fedoraproject.*.bodhi.update.comment", "*copr.build.end", "org.fedoraproject.prod.[bp]*"}
)

func (w *benchWorld) generationRule(u string) rules.GenerationRule {
	var g rules.GenerationRule
	email := rules.Destination{Protocol: rules.ProtocolEmail, Address: u + "@fedoraproject.org"}
	irc := rules.Destination{Protocol: rules.ProtocolIRC, Address: u}
	matrix := rules.Destination{Protocol: rules.ProtocolMatrix, Address: "@" + u + ":fedora.im"}
	switch x := w.rng.IntN(100); {
	case x < 60:
		g.Destinations = []rules.Destination{email}
	case x < 75:
		g.Destinations = []rules.Destination{irc}
	case x < 90:
		g.Destinations = []rules.Destination{matrix}
	default:
		g.Destinations = []rules.Destination{email, matrix}
	}
	f := &g.Filters
	if w.chance(0.15) {
		f.Applications = benchApps[w.rng.IntN(len(benchApps))]
	} else if w.chance(0.1) {
		f.ExcludedApplications = benchExcluded[w.rng.IntN(len(benchExcluded))]
	}
	if w.chance(0.15) {
		f.Severities = benchSeverties[w.rng.IntN(len(benchSeverties))]
	}
	if w.chance(0.08) {
		t := benchTopics[w.rng.IntN(len(benchTopics))]
		f.Topic = &t
	}
	f.MyActions = w.chance(0.1)
	return g
}

// --- messages ----------------------------------------------------------------

// benchMsg is one generated bus message in its BUS form.
type benchMsg struct {
	ID  string
	Msg *nats.Msg
}

func (w *benchWorld) uuid() string {
	a, b := w.rng.Uint64(), w.rng.Uint64()
	a = a&^(0xf<<12) | 4<<12
	b = b&^(3<<62) | 2<<62
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func (w *benchWorld) text(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[w.rng.IntN(len(words))])
	}
	return b.String()
}

// benchMessages returns n messages of a Fedora-like mix: corpusShare % real
// Fedora messages of the corpus, the rest generated (bodhi, koji, pagure,
// copr, FAS) with users and packages from the world.
func (w *benchWorld) benchMessages(n int) []benchMsg {
	out := make([]benchMsg, n)
	for i := range out {
		out[i] = w.message()
	}
	return out
}

type msgDraft struct {
	topic, schema string
	severity      int
	users         []string
	rpms          []string
	groups        []string
	body          map[string]any
	pad           []string // path of the string field that pads the body
}

// corpusShare is the share of the traffic, in percent, that is a real
// Fedora message of bus/testdata/corpus (its valid messages of 21 apps, each
// sent again under a new id): the shapes and sizes the extractors meet.
const corpusShare = 10

// corpusMessages are the valid corpus messages, loaded once.
var corpusMessages = sync.OnceValue(func() []bus.Message {
	f, err := os.Open("../bus/testdata/corpus/fedora-messages.jsonl")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var out []bus.Message
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct {
			bus.Message
			Expect struct {
				BodyValid bool `json:"body_valid"`
			} `json:"expect"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			panic(err)
		}
		if line.Expect.BodyValid {
			out = append(out, line.Message)
		}
	}
	return out
})

func (w *benchWorld) message() benchMsg {
	w.seq++
	if w.rng.IntN(100) < corpusShare {
		cm := corpusMessages()
		m := cm[w.rng.IntN(len(cm))]
		m.ID = w.uuid()
		nm, err := m.NATSMsg()
		if err != nil {
			panic(fmt.Sprintf("corpus message %s: %v", m.ID, err))
		}
		return benchMsg{ID: m.ID, Msg: nm}
	}
	var d msgDraft
	switch x := w.rng.IntN(100); {
	case x < 22:
		d = w.bodhi()
	case x < 52:
		d = w.koji()
	case x < 70:
		d = w.pagure()
	case x < 92:
		d = w.copr()
	default:
		d = w.fas()
	}
	// Body of 300–1500 bytes: pad the draft's free-text field.
	target := 300 + w.rng.IntN(1201)
	raw, _ := json.Marshal(d.body)
	if len(raw) < target {
		setPath(d.body, d.pad, w.text(target-len(raw)))
		raw, _ = json.Marshal(d.body)
	}
	m := bus.Message{
		ID:      w.uuid(),
		Topic:   d.topic,
		Body:    raw,
		Headers: map[string]json.RawMessage{},
	}
	hs := func(v string) json.RawMessage { b, _ := json.Marshal(v); return b }
	m.Headers[bus.HeaderSchema] = hs(d.schema)
	sev := d.severity
	if sev == 0 {
		sev = bus.SeverityInfo
	}
	m.Headers[bus.HeaderSeverity] = json.RawMessage(strconv.Itoa(sev))
	m.Headers[bus.HeaderSentAt] = hs(w.start.Add(time.Duration(w.seq) * time.Millisecond).Format("2006-01-02T15:04:05.000000+00:00"))
	m.Headers[bus.HeaderPriority] = json.RawMessage("0")
	for _, u := range d.users {
		m.Headers[bus.FilterHeaderPrefix+"user_"+u] = json.RawMessage("true")
	}
	for _, p := range d.rpms {
		m.Headers[bus.FilterHeaderPrefix+"rpm_"+p] = json.RawMessage("true")
	}
	for _, g := range d.groups {
		m.Headers[bus.FilterHeaderPrefix+"group_"+g] = json.RawMessage("true")
	}
	nm, err := m.NATSMsg()
	if err != nil {
		panic(fmt.Sprintf("generated an invalid message: %v", err))
	}
	return benchMsg{ID: m.ID, Msg: nm}
}

func setPath(m map[string]any, path []string, v string) {
	for _, k := range path[:len(path)-1] {
		m = m[k].(map[string]any)
	}
	m[path[len(path)-1]] = v
}

// dedupe keeps the first of each name, at most limit.
func dedupeN(names []string, limit int) []string {
	var out []string
	for _, n := range names {
		if n == "" || len(out) == limit {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == n
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}

func (w *benchWorld) nvr(name string) string {
	return fmt.Sprintf("%s-%d.%d.%d-%d.fc%d", name, w.rng.IntN(10), w.rng.IntN(30), w.rng.IntN(20), 1+w.rng.IntN(5), 39+w.rng.IntN(4))
}

func (w *benchWorld) bodhi() msgDraft {
	owner, agent := w.msgUser(), w.msgUser()
	if w.chance(0.4) {
		agent = owner
	}
	pkgs := dedupeN([]string{w.pkg(), w.pkg(), w.pkg()}[:1+w.rng.IntN(3)], 3)
	var builds []any
	var nvrs []string
	for _, p := range pkgs {
		nvr := w.nvr(p)
		nvrs = append(nvrs, nvr)
		builds = append(builds, map[string]any{"nvr": nvr, "signed": true, "type": "rpm"})
	}
	alias := fmt.Sprintf("FEDORA-2025-%010x", w.rng.Uint64()&0xffffffffff)
	update := map[string]any{
		"alias": alias, "status": "testing", "request": nil, "type": "bugfix", "severity": "unspecified",
		"release": map[string]any{"name": releases[w.rng.IntN(len(releases))]},
		"user":    map[string]any{"name": owner}, "title": strings.Join(nvrs, " "), "builds": builds,
		"url": "https://bodhi.fedoraproject.org/updates/" + alias, "notes": "",
	}
	d := msgDraft{body: map[string]any{"update": update, "agent": agent}, pad: []string{"update", "notes"}, rpms: pkgs}
	switch x := w.rng.IntN(10); {
	case x < 4:
		mention := w.msgUser()
		d.topic, d.schema = "org.fedoraproject.prod.bodhi.update.comment", "bodhi.update.comment.v1"
		d.body = map[string]any{"comment": map[string]any{
			"karma": w.rng.IntN(3) - 1, "text": "Works for me, @" + mention + " please check.", "timestamp": "2025-05-01 12:30:45",
			"user": map[string]any{"name": agent}, "update": update}, "agent": agent}
		d.users = dedupeN([]string{agent, owner, mention}, 3)
		d.pad = []string{"comment", "update", "notes"}
	case x < 7:
		d.topic, d.schema = "org.fedoraproject.prod.bodhi.update.request.testing", "bodhi.update.request.testing.v1"
		d.users = dedupeN([]string{agent, owner}, 3)
	case x < 9:
		d.topic, d.schema = "org.fedoraproject.prod.bodhi.update.complete.stable", "bodhi.update.complete.stable.v1"
		d.body["agent"] = "bodhi"
		d.users = []string{owner}
	default:
		d.topic, d.schema = "org.fedoraproject.prod.bodhi.update.edit", "bodhi.update.edit.v2"
		d.users = dedupeN([]string{agent, owner}, 3)
	}
	return d
}

func (w *benchWorld) koji() msgDraft {
	owner, name := w.msgUser(), w.pkg()
	var state int
	sev := bus.SeverityInfo
	switch x := w.rng.IntN(100); {
	case x < 40:
		state = 0
	case x < 80:
		state = 1
	case x < 95:
		state, sev = 3, bus.SeverityWarning
	default:
		state = 4
	}
	id := 2600000 + int(w.seq)
	body := map[string]any{
		"build_id": id, "name": name, "version": fmt.Sprintf("%d.%d", w.rng.IntN(10), w.rng.IntN(40)),
		"release": fmt.Sprintf("%d.fc%d", 1+w.rng.IntN(5), 39+w.rng.IntN(4)), "owner": owner, "new": state, "old": 0,
		"attribute": "state", "instance": "primary", "epoch": nil, "task_id": 130000000 + int(w.seq),
		"request":  []any{"git+https://src.fedoraproject.org/rpms/" + name + ".git#" + fmt.Sprintf("%040x", w.rng.Uint64()), "f42-build-side", map[string]any{}},
		"base_url": "https://koji.fedoraproject.org", "callback_id": nil, "extra": "",
	}
	return msgDraft{topic: "org.fedoraproject.prod.buildsys.build.state.change", schema: "koji_fedoramessaging.build.BuildStateChangeV1",
		severity: sev, users: []string{owner}, rpms: []string{name}, body: body, pad: []string{"extra"}}
}

func (w *benchWorld) pagure() msgDraft {
	agent, name := w.msgUser(), w.pkg()
	project := map[string]any{"name": name, "namespace": "rpms", "fullname": "rpms/" + name,
		"full_url": "https://src.fedoraproject.org/rpms/" + name, "description": "", "user": map[string]any{"name": w.msgUser()}}
	if w.chance(0.7) {
		commit := func() string { return fmt.Sprintf("%016x%016x%08x", w.rng.Uint64(), w.rng.Uint64(), w.rng.Uint32()) }
		total := 1 + w.rng.IntN(3)
		return msgDraft{topic: "org.fedoraproject.prod.pagure.git.receive", schema: "pagure.git.receive",
			users: []string{agent}, rpms: []string{name}, pad: []string{"repo", "description"},
			body: map[string]any{"agent": agent, "repo": project, "branch": "refs/heads/" + []string{"rawhide", "f42", "f41", "epel9"}[w.rng.IntN(4)],
				"total_commits": total, "start_commit": commit(), "end_commit": commit(), "old_commit": commit(), "forced": false,
				"authors": []any{map[string]any{"name": agent, "fullname": strings.ToUpper(agent[:1]) + agent[1:]}}}}
	}
	author := w.msgUser()
	pr := map[string]any{"id": 1 + w.rng.IntN(300), "title": w.text(40), "project": project, "user": map[string]any{"name": author},
		"full_url": fmt.Sprintf("https://src.fedoraproject.org/rpms/%s/pull-request/%d", name, w.seq%300), "initial_comment": "",
		"status": "Open", "comments": []any{}}
	d := msgDraft{users: dedupeN([]string{agent, author}, 3), rpms: []string{name}, pad: []string{"pullrequest", "initial_comment"},
		body: map[string]any{"agent": agent, "pullrequest": pr}}
	if w.chance(0.5) {
		d.topic, d.schema = "org.fedoraproject.prod.pagure.pull-request.new", "pagure.pull-request.new"
		d.users = []string{author}
		d.body["agent"] = author
	} else {
		d.topic, d.schema = "org.fedoraproject.prod.pagure.pull-request.comment.added", "pagure.pull-request.comment.added"
		pr["comments"] = []any{map[string]any{"id": w.seq, "comment": w.text(60), "user": map[string]any{"name": agent}}}
	}
	return d
}

func (w *benchWorld) copr() msgDraft {
	// Most Copr users have no Fedora rules.
	user := w.outside[w.rng.IntN(len(w.outside))]
	if w.chance(0.3) {
		user = w.msgUser()
	}
	owner := user
	if w.chance(0.2) {
		owner = "@" + strings.TrimPrefix(w.groups[w.rng.IntN(len(w.groups))], "sig-")
	}
	pkg := w.pkg()
	body := map[string]any{"build": 8000000 + int(w.seq), "chroot": coprChroot[w.rng.IntN(len(coprChroot))], "copr": w.word(2),
		"owner": owner, "user": user, "pkg": pkg, "version": fmt.Sprintf("%d.%d-1", w.rng.IntN(5), w.rng.IntN(20)),
		"ip": "2620:52:3:1:dead:beef:cafe:c1d9", "pid": 100000 + w.rng.IntN(900000), "what": "", "who": "backend.worker-rpm_build_worker:" + strconv.Itoa(w.rng.IntN(5000))}
	users := []string{user}
	if !strings.HasPrefix(owner, "@") && owner != user {
		users = append(users, owner)
	}
	d := msgDraft{users: users, body: body, pad: []string{"what"}}
	switch x := w.rng.IntN(3); x {
	case 0:
		d.topic, d.schema = "org.fedoraproject.prod.copr.build.start", "copr.build.start"
	case 1:
		d.topic, d.schema = "org.fedoraproject.prod.copr.chroot.start", "copr.chroot.start"
	default:
		status := []int{1, 1, 1, 0}[w.rng.IntN(4)]
		body["status"] = status
		d.topic, d.schema = "org.fedoraproject.prod.copr.build.end", "copr.build.end"
		if status == 0 {
			d.severity = bus.SeverityWarning
		}
	}
	return d
}

func (w *benchWorld) fas() msgDraft {
	user := w.msgUser()
	if w.chance(0.5) {
		group := w.groups[w.rng.IntN(len(w.groups))]
		sponsor := w.msgUser()
		return msgDraft{topic: "org.fedoraproject.prod.fas.group.member.sponsor", schema: "fasjson.group.member.sponsor.v1",
			users: dedupeN([]string{sponsor, user}, 3), groups: []string{group}, pad: []string{"content"},
			body: map[string]any{"agent": sponsor, "msg": map[string]any{"agent": sponsor, "user": user, "group": group},
				"summary": fmt.Sprintf("%s sponsored %s into the group %s", sponsor, user, group),
				"url":     "https://accounts.fedoraproject.org/group/" + group + "/", "content": ""}}
	}
	return msgDraft{topic: "org.fedoraproject.prod.fas.user.update", schema: "fasjson.user.update.v1",
		users: []string{user}, pad: []string{"content"},
		body: map[string]any{"agent": user, "msg": map[string]any{"agent": user, "user": user, "fields": []any{"timezone", "ircnicks"}},
			"summary": user + " updated their account: timezone, ircnicks",
			"url":     "https://accounts.fedoraproject.org/user/" + user + "/", "content": ""}}
}

// probeMessage is a small generic message that mentions user, for the
// rule-change probe.
func (w *benchWorld) probeMessage(user string) benchMsg {
	w.seq++
	m := bus.Message{
		ID:    w.uuid(),
		Topic: "org.fedoraproject.prod.fas.user.update",
		Headers: map[string]json.RawMessage{
			bus.HeaderSchema:                        json.RawMessage(`"fasjson.user.update.v1"`),
			bus.HeaderSeverity:                      json.RawMessage("20"),
			bus.FilterHeaderPrefix + "user_" + user: json.RawMessage("true"),
		},
		Body: json.RawMessage(fmt.Sprintf(`{"agent": "fasjson-probe", "msg": {"user": %q}, "summary": "%s updated their account", "url": "https://accounts.fedoraproject.org/user/%s/"}`, user, user, user)),
	}
	nm, err := m.NATSMsg()
	if err != nil {
		panic(err)
	}
	return benchMsg{ID: m.ID, Msg: nm}
}
