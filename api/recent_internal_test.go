package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/rules"
)

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
		x.add(uint64(i+1), t0.Add(time.Duration(i)*time.Minute), topic, keys)
	}
	x.add(50, t0, "dup", nil) // an older sequence is ignored
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
	if got := len(x.postings[bob]); got != 4 {
		t.Errorf("bob's postings not trimmed: %d", got)
	}
	x.evict(t0.Add(200 * time.Minute))
	if x.Len() != 0 || len(x.postings) != 0 {
		t.Errorf("after evicting everything: %d entries, %d keys", x.Len(), len(x.postings))
	}
}
