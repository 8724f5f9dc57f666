package preview

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// lookup returns the sequences of the candidates of keys since since.
func (x *RecentIndex) lookup(keys []rules.Key, since time.Time, topicOK func(string) bool) ([]uint64, int, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	pos, window, ok := x.candidates(candidateQuery{keys: keys, since: since, topicOK: topicOK})
	var seqs []uint64
	for _, i := range pos {
		seqs = append(seqs, x.entries[i].seq)
	}
	return seqs, window, ok
}

func (x *RecentIndex) postings(k rules.Key) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	id, ok := x.keyIDs[k]
	if !ok {
		return nil
	}
	return x.keys[id].seqs
}

func TestRecentIndexWindow(t *testing.T) {
	t.Parallel()
	x := NewRecentIndex(nil, "BUS", time.Hour, nil)
	t0 := time.Unix(10000, 0)
	x.from = t0
	alice, bob := rules.Key{Kind: rules.KeyUser, Value: "alice"}, rules.Key{Kind: rules.KeyAgent, Value: "bob"}
	for i := range 100 {
		keys := []rules.Key{alice}
		if i%10 == 0 {
			keys = append(keys, bob, bob) // a repeated key counts once
		}
		topic := "org.fedoraproject.prod.bodhi.update.comment"
		if i%2 == 1 {
			topic = "org.fedoraproject.prod.buildsys.tag"
		}
		x.add(uint64(i+1), t0.Add(time.Duration(i)*time.Minute), &bus.Parsed{Topic: topic}, keys)
	}
	x.add(50, t0, &bus.Parsed{Topic: "dup"}, nil) // an older sequence is ignored
	if _, _, ok := x.lookup([]rules.Key{bob}, t0, nil); ok {
		t.Fatal("lookup before the index is ready")
	}
	x.ready.Store(true)

	seqs, window, ok := x.lookup([]rules.Key{bob, alice}, t0.Add(90*time.Minute), nil)
	if !ok || window != 10 || fmt.Sprint(seqs) != "[91 92 93 94 95 96 97 98 99 100]" {
		t.Errorf("alice or bob since 90m: %v, window %d, %v", seqs, window, ok)
	}
	seqs, _, _ = x.lookup([]rules.Key{bob}, t0, func(topic string) bool { return strings.Contains(topic, "bodhi") })
	if fmt.Sprint(seqs) != "[1 11 21 31 41 51 61 71 81 91]" {
		t.Errorf("bob, bodhi topics: %v", seqs)
	}
	if seqs, _, _ := x.lookup([]rules.Key{{Kind: rules.KeyUser, Value: "carol"}}, t0, nil); len(seqs) != 0 {
		t.Errorf("carol: %v", seqs)
	}
	if n := len(x.fwd); n != 110 {
		t.Errorf("%d forward keys, want 110", n)
	}

	x.evict(t0.Add(55 * time.Minute))
	if x.Len() != 45 {
		t.Errorf("after eviction %d entries, want 45", x.Len())
	}
	if _, _, ok := x.lookup([]rules.Key{bob}, t0, nil); ok {
		t.Error("the index answers for a time it no longer covers")
	}
	seqs, window, ok = x.lookup([]rules.Key{bob}, t0.Add(55*time.Minute), nil)
	if !ok || window != 45 || fmt.Sprint(seqs) != "[61 71 81 91]" {
		t.Errorf("bob after eviction: %v, window %d, %v", seqs, window, ok)
	}
	if got := len(x.postings(bob)); got != 4 {
		t.Errorf("bob's postings not trimmed: %d", got)
	}
	if n := len(x.fwd); n != 49 {
		t.Errorf("%d forward keys after eviction, want 49", n)
	}
	var p bus.Parsed
	x.view(5, &p) // sequence 61
	if p.Agent != "bob" || fmt.Sprint(p.Usernames) != "[alice]" {
		t.Errorf("view of 61 after eviction: %+v", p)
	}
	x.evict(t0.Add(200 * time.Minute))
	if x.Len() != 0 || len(x.keyIDs) != 0 || len(x.fwd) != 0 || len(x.freeKeys) != 2 {
		t.Errorf("after evicting everything: %d entries, %d keys, %d forward, %d free", x.Len(), len(x.keyIDs), len(x.fwd), len(x.freeKeys))
	}
	// Free key slots are reused.
	x.add(200, t0.Add(300*time.Minute), &bus.Parsed{}, []rules.Key{{Kind: rules.KeyRPM, Value: "foo"}})
	if len(x.keys) != 2 || len(x.freeKeys) != 1 {
		t.Errorf("%d key slots, %d free", len(x.keys), len(x.freeKeys))
	}
}

// TestRecentIndexView checks that a view holds what matching reads of the
// message.
func TestRecentIndexView(t *testing.T) {
	t.Parallel()
	x := NewRecentIndex(nil, "BUS", time.Hour, nil)
	t0 := time.Unix(10000, 0)
	x.from = t0
	full := &bus.Parsed{ID: "m1", Topic: "org.fedoraproject.prod.bodhi.update.comment", App: "Bodhi", Severity: bus.SeverityError,
		Usernames: []string{"alice", "bob", "alice"}, Groups: []string{"packager"}, Agent: "bob",
		Packages: []string{"foo", "bar"}, Containers: []string{"foo"}, Modules: []string{"mod"}, Flatpaks: []string{"fp"},
		Summary: "s", Body: []byte("{}")}
	x.add(1, t0, full, rules.MessageKeys(full))
	x.add(2, t0, &bus.Parsed{Topic: "org.fedoraproject.prod.fas.user.update"}, nil)
	x.add(3, t0, &bus.Parsed{Topic: "t", Severity: 1000, Usernames: []string{"carol"}}, []rules.Key{{Kind: rules.KeyUser, Value: "carol"}})

	var p bus.Parsed
	x.view(0, &p)
	want := bus.Parsed{Topic: full.Topic, App: full.App, Severity: full.Severity, Usernames: []string{"alice", "bob"}, Agent: "bob",
		Packages: full.Packages, Containers: full.Containers, Modules: full.Modules, Flatpaks: full.Flatpaks}
	if fmt.Sprintf("%+v", p) != fmt.Sprintf("%+v", want) {
		t.Errorf("view\n%+v, want\n%+v", p, want)
	}
	x.view(1, &p)
	if p.Topic != "org.fedoraproject.prod.fas.user.update" || p.Agent != "" || len(p.Usernames)+len(p.Packages)+len(p.Containers)+len(p.Modules)+len(p.Flatpaks) != 0 ||
		p.Severity != 0 || p.App != "" {
		t.Errorf("view without keys: %+v", p)
	}
	x.view(2, &p)
	if bus.SeverityName(p.Severity) != "error" || !slices.Equal(p.Usernames, []string{"carol"}) {
		t.Errorf("view of a large severity: %+v", p)
	}
}

func TestRecentIndexMatchViews(t *testing.T) {
	t.Parallel()
	x := NewRecentIndex(nil, "BUS", time.Hour, nil)
	t0 := time.Unix(10000, 0)
	x.from = t0
	x.ready.Store(true)
	alice := rules.Key{Kind: rules.KeyUser, Value: "alice"}
	for i := range 5000 {
		p := &bus.Parsed{Topic: "t", Usernames: []string{"alice"}, Severity: bus.SeverityInfo}
		if i%3 == 0 {
			p.Severity = bus.SeverityError
		}
		x.add(uint64(i+1), t0.Add(time.Duration(i)*time.Second), p, rules.MessageKeys(p))
	}
	two := []rules.Match{{Destination: rules.Destination{Protocol: "email", Address: "a"}}, {Destination: rules.Destination{Protocol: "irc", Address: "a"}}}
	errorsTwice := func(p *bus.Parsed, matches []rules.Match) ([]rules.Match, error) {
		if p.Severity == bus.SeverityError {
			matches = append(matches, two...)
		}
		return matches, nil
	}
	vr, ok, err := x.matchViews(context.Background(), candidateQuery{keys: []rules.Key{alice}, since: t0}, 3, errorsTwice)
	if !ok || err != nil || !vr.complete || vr.window != 5000 || vr.candidates != 5000 || len(vr.matches) != 1667 || vr.dests != 2*1667 {
		t.Fatalf("%v %v: window %d, candidates %d, matches %d, dests %d, complete %v", ok, err, vr.window, vr.candidates, len(vr.matches), vr.dests, vr.complete)
	}
	if !slices.IsSortedFunc(vr.matches, func(a, b viewMatch) int { return int(a.seq) - int(b.seq) }) || vr.matches[0].seq != 1 || vr.matches[1666].seq != 4999 {
		t.Errorf("matches out of order: %v ... %v", vr.matches[:3], vr.matches[len(vr.matches)-3:])
	}
	// With keep, only the newest matches are kept, and every destination
	// is counted.
	for _, keep := range []int{1, 10, 600, 5000} {
		kept, _, _ := x.matchViews(context.Background(), candidateQuery{keys: []rules.Key{alice}, since: t0, keep: keep}, 3, errorsTwice)
		want := vr.matches[max(0, len(vr.matches)-keep):]
		if !slices.Equal(kept.matches, want) || kept.dests != vr.dests {
			t.Errorf("keep %d: %d matches (%v…), %d destinations; want the newest %d (%v…), %d", keep,
				len(kept.matches), kept.matches[:min(2, len(kept.matches))], kept.dests, len(want), want[:min(2, len(want))], vr.dests)
		}
	}
	// What the stream no longer holds is left out.
	q := candidateQuery{keys: []rules.Key{alice}, since: t0, minSeq: 4001, deleted: []uint64{17, 4001, 4003, 6000}}
	if vr, _, _ := x.matchViews(context.Background(), q, 3, errorsTwice); vr.window != 5000 || vr.candidates != 998 || vr.matches[0].seq != 4006 || vr.matches[1].seq != 4009 {
		t.Errorf("from 4001 without 4001 and 4003: window %d, candidates %d, first matches %v", vr.window, vr.candidates, vr.matches[:2])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if vr, ok, _ := x.matchViews(ctx, candidateQuery{keys: []rules.Key{alice}, since: t0}, 3, errorsTwice); !ok || vr.complete {
		t.Errorf("cancelled: ok %v, complete %v", ok, vr.complete)
	}
	boom := fmt.Errorf("boom")
	_, _, err = x.matchViews(context.Background(), candidateQuery{keys: []rules.Key{alice}, since: t0}, 3, func(*bus.Parsed, []rules.Match) ([]rules.Match, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("error %v", err)
	}
}

// BenchmarkRecentIndexMemory checks the estimate of Stats against the heap
// for an hour at 50 messages/s of synthetic messages shaped like Fedora's
// (1-2 usernames, an agent, 0-3 packages):
//
//	go test -run '^$' -bench BenchmarkRecentIndexMemory ./api/
func BenchmarkRecentIndexMemory(b *testing.B) {
	const n = 50 * 3600
	rng := rand.New(rand.NewPCG(1, 2))
	name := func(prefix string, pool int) string {
		if rng.IntN(4) == 0 {
			pool /= 50 // a popular head
		}
		return fmt.Sprintf("%s%d", prefix, rng.IntN(pool))
	}
	msgs := make([]*bus.Parsed, n)
	for i := range msgs {
		p := &bus.Parsed{Topic: fmt.Sprintf("org.fedoraproject.prod.app%d.event", rng.IntN(20)), App: fmt.Sprintf("app%d", rng.IntN(8)), Severity: bus.SeverityInfo}
		for range 1 + rng.IntN(2) {
			p.Usernames = append(p.Usernames, name("user", 3000))
		}
		if rng.IntN(2) == 0 {
			p.Agent = p.Usernames[0]
		}
		for range rng.IntN(4) {
			p.Packages = append(p.Packages, name("package-", 6000))
		}
		msgs[i] = p
	}
	t0 := time.Unix(10000, 0)
	var st IndexStats
	var grew uint64
	for b.Loop() {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap := ms.HeapAlloc
		x := NewRecentIndex(nil, "BUS", 2*time.Hour, nil)
		var keys []rules.Key
		for i, p := range msgs {
			keys = rules.AppendMessageKeys(keys[:0], p)
			x.add(uint64(i+1), t0.Add(time.Duration(i)*20*time.Millisecond), p, keys)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		grew = ms.HeapAlloc - heap
		st = x.Stats()
		runtime.KeepAlive(x)
	}
	b.ReportMetric(float64(grew)/n, "heap-B/msg")
	b.ReportMetric(float64(st.Bytes)/n, "est-B/msg")
	b.ReportMetric(float64(st.Postings)/n, "keys/msg")
}
