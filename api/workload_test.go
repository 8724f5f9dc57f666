package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// workload generates Fedora-shaped bus messages from one seed: Koji
// builds, Bodhi comments, Copr builds, dist-git pushes and messages of
// other apps, with usernames and packages drawn from pools with a popular
// head, and bodies of realistic size (0.5 to 3 KB).
type workload struct {
	rng   *rand.Rand
	users []string
	pkgs  []string
	seq   int
}

var syl = strings.Fields(`ba be bi bo bu da de di do du fa fe fi fo ga ge gi go ha he hi ho ja je jo ka ke ki ko ku
	la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to tu va ve vi`)

var prose = strings.Fields(`the update fixes a regression in the build with a new upstream release please test this on
	rawhide and report karma if it works for you thanks see the changelog for details security issue crash when
	starting the service after upgrade rebuilt for python soname bump minor bug fixes and documentation`)

func newWorkload(seed uint64, users, pkgs int) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(seed, seed*7+1))}
	seen := map[string]bool{}
	for len(w.users) < users {
		n := w.word(2 + w.rng.IntN(2))
		if w.rng.IntN(4) == 0 {
			n += strconv.Itoa(w.rng.IntN(100))
		}
		if !seen[n] {
			seen[n] = true
			w.users = append(w.users, n)
		}
	}
	for len(w.pkgs) < pkgs {
		p := []string{"", "python-", "perl-", "rust-", "golang-"}[w.rng.IntN(5)] + w.word(2+w.rng.IntN(2))
		if !seen[p] {
			seen[p] = true
			w.pkgs = append(w.pkgs, p)
		}
	}
	return w
}

func (w *workload) word(n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(syl[w.rng.IntN(len(syl))])
	}
	return b.String()
}

func (w *workload) text(words int) string {
	out := make([]string, words)
	for i := range out {
		out[i] = prose[w.rng.IntN(len(prose))]
	}
	return strings.Join(out, " ")
}

// user picks a user, a quarter of the time from the first 2%.
func (w *workload) user() string {
	if w.rng.IntN(4) == 0 {
		return w.users[w.rng.IntN(max(1, len(w.users)/50))]
	}
	return w.users[w.rng.IntN(len(w.users))]
}

func (w *workload) pkg() string {
	if w.rng.IntN(4) == 0 {
		return w.pkgs[w.rng.IntN(max(1, len(w.pkgs)/50))]
	}
	return w.pkgs[w.rng.IntN(len(w.pkgs))]
}

// next returns the next message in its serialized form.
func (w *workload) next(sentAt time.Time) *bus.Message {
	w.seq++
	id := fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", w.seq, w.rng.IntN(1<<16), w.rng.IntN(1<<12), w.rng.IntN(1<<12), w.rng.Uint64()>>16)
	h := map[string]any{"sent-at": sentAt.UTC().Format("2006-01-02T15:04:05.000000+00:00"), "priority": 0}
	var topic string
	var body map[string]any
	sev := 20
	switch k := w.rng.IntN(100); {
	case k < 30: // koji
		owner, p := w.user(), w.pkg()
		topic = "org.fedoraproject.prod.buildsys.build.state.change"
		h["fedora_messaging_schema"] = "koji_fedoramessaging.build.BuildStateChangeV1"
		state := []int{0, 1, 1, 1, 3}[w.rng.IntN(5)]
		if state == 3 {
			sev = 40
		}
		body = map[string]any{"build_id": 2000000 + w.seq, "name": p, "version": "1." + strconv.Itoa(w.rng.IntN(30)),
			"release": "1.fc42", "owner": owner, "new": state, "old": 0, "attribute": "state", "epoch": nil,
			"instance": "primary", "task_id": 120000000 + w.seq, "request": []string{"git+https://src.fedoraproject.org/rpms/" + p + ".git#" + w.word(8), "f42-build-side-" + strconv.Itoa(w.seq%997)}}
		h["fedora_messaging_user_"+owner] = true
		h["fedora_messaging_rpm_"+p] = true
	case k < 55: // bodhi comment
		owner, agent := w.user(), w.user()
		topic = "org.fedoraproject.prod.bodhi.update.comment"
		h["fedora_messaging_schema"] = "bodhi.update.comment.v1"
		var builds []map[string]any
		for range 1 + w.rng.IntN(3) {
			p := w.pkg()
			builds = append(builds, map[string]any{"nvr": p + "-2." + strconv.Itoa(w.rng.IntN(9)) + "-1.fc42", "signed": true, "epoch": 0})
			h["fedora_messaging_rpm_"+p] = true
		}
		text := w.text(20 + w.rng.IntN(60))
		if w.rng.IntN(10) == 0 {
			m := w.user()
			text += " @" + m
			h["fedora_messaging_user_"+m] = true
		}
		alias := "FEDORA-2026-" + w.word(5)
		body = map[string]any{"comment": map[string]any{
			"karma": w.rng.IntN(3) - 1, "text": text, "timestamp": sentAt.UTC().Format(time.RFC3339), "user": map[string]any{"name": agent, "id": w.rng.IntN(9999)},
			"update": map[string]any{"alias": alias, "builds": builds, "user": map[string]any{"name": owner}, "status": "testing", "request": nil,
				"title": alias, "notes": w.text(150 + w.rng.IntN(350)), "karma": w.rng.IntN(5), "stable_karma": 3, "unstable_karma": -3,
				"bugs": []map[string]any{{"bug_id": 2000000 + w.rng.IntN(900000), "title": w.text(8), "security": false}}, "type": "bugfix", "severity": "unspecified",
				"date_submitted": sentAt.Add(-72 * time.Hour).UTC().Format(time.RFC3339), "url": "https://bodhi.fedoraproject.org/updates/" + alias, "release": map[string]any{"name": "F42", "branch": "f42"}}},
			"agent": agent}
		h["fedora_messaging_user_"+owner] = true
		h["fedora_messaging_user_"+agent] = true
	case k < 70: // copr
		owner := w.user()
		topic = "org.fedoraproject.prod.copr.build.end"
		h["fedora_messaging_schema"] = "copr.build.end"
		body = map[string]any{"build": 8000000 + w.seq, "chroot": "fedora-rawhide-x86_64", "copr": w.word(3), "owner": owner,
			"user": owner, "pkg": w.pkg(), "version": "0." + strconv.Itoa(w.rng.IntN(50)), "status": w.rng.IntN(2), "ip": "10.0.0.1", "who": "backend.worker-" + strconv.Itoa(w.rng.IntN(99))}
		h["fedora_messaging_user_"+owner] = true
	case k < 85: // dist-git push
		agent, p := w.user(), w.pkg()
		topic = "org.fedoraproject.prod.pagure.git.receive"
		h["fedora_messaging_schema"] = "pagure.git.receive"
		body = map[string]any{"agent": agent, "branch": "rawhide", "total_commits": 1 + w.rng.IntN(3), "forced": false,
			"start_commit": w.word(10), "end_commit": w.word(10), "old_commit": w.word(10),
			"authors": []map[string]any{{"name": agent, "fullname": strings.ToUpper(agent[:1]) + agent[1:] + " Packager"}},
			"repo": map[string]any{"name": p, "namespace": "rpms", "fullname": "rpms/" + p, "full_url": "https://src.fedoraproject.org/rpms/" + p,
				"description": "The " + p + " package", "user": map[string]any{"name": agent}, "date_created": "1500000000"},
			"changed_files": map[string]string{p + ".spec": "M", "sources": "M", ".gitignore": "M"},
			"msg":           w.text(20 + w.rng.IntN(60))}
		h["fedora_messaging_user_"+agent] = true
		h["fedora_messaging_rpm_"+p] = true
	default: // other apps, generic extractor
		app := []string{"fas", "badges", "mdapi", "anitya", "fedocal", "zodbot", "planet"}[w.rng.IntN(7)]
		topic = "org.fedoraproject.prod." + app + "." + w.word(2) + ".update"
		u := w.user()
		body = map[string]any{"agent": u, "usernames": []string{u}, "summary": app + " did something for " + u, "content": w.text(60 + w.rng.IntN(120))}
		if w.rng.IntN(20) == 0 {
			sev = 10
		}
	}
	h["fedora_messaging_severity"] = sev
	hdr := make(map[string]json.RawMessage, len(h))
	for k, v := range h {
		hdr[k], _ = json.Marshal(v)
	}
	data, _ := json.Marshal(body)
	return &bus.Message{ID: id, Topic: topic, Headers: hdr, Body: data}
}

// publishMessages publishes msgs to BUS, waiting for every ack.
func publishMessages(tb testing.TB, ctx context.Context, js jetstream.JetStream, msgs []*bus.Message) {
	tb.Helper()
	var futs []jetstream.PubAckFuture
	for _, m := range msgs {
		nm, err := m.NATSMsg()
		if err != nil {
			tb.Fatal(err)
		}
		f, err := js.PublishMsgAsync(nm, jetstream.WithMsgID(m.ID))
		if err != nil {
			tb.Fatal(err)
		}
		futs = append(futs, f)
		// At most 1024 unacknowledged: nats.go refuses more than 4000
		// outstanding async publishes by default ("stalled with too many
		// outstanding async published messages").
		if len(futs) == 1024 {
			waitAcks(tb, ctx, futs)
			futs = futs[:0]
		}
	}
	waitAcks(tb, ctx, futs)
}

func waitAcks(tb testing.TB, ctx context.Context, futs []jetstream.PubAckFuture) {
	tb.Helper()
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			tb.Fatal(err)
		case <-ctx.Done():
			tb.Fatal(ctx.Err())
		}
	}
}

// publish sends n generic messages of one topic naming agent (and user
// among the usernames when set).
func publish(tb testing.TB, b *bundle, n int, at time.Time, topic, agent, user string) []string {
	tb.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(topic, ".", "-"), at.UnixNano(), i)
		body := map[string]any{"agent": agent, "summary": fmt.Sprintf("%s message %d", topic, i), "url": "https://example.org/" + id}
		if user != "" {
			body["usernames"] = []string{user}
		}
		data, _ := json.Marshal(body)
		m := nats.NewMsg(wire.BusSubject(topic))
		m.Header.Set(wire.HeaderMsgID, id)
		m.Header.Set(bus.HeaderSentAt, at.UTC().Format(time.RFC3339Nano))
		m.Data = data
		if _, err := b.nats.JS.PublishMsg(b.ctx, m); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}
