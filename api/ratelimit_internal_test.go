package api

import (
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := newFailureLimiter(3, 6) // 3 in a row, then one every 10s
	l.now = func() time.Time { return now }
	fail := func(addr string) bool {
		ok, _ := l.take(addr)
		if ok {
			l.done(addr, false)
		}
		return ok
	}
	for i := range 3 {
		if !fail("a") {
			t.Fatalf("failure %d refused", i)
		}
	}
	ok, wait := l.take("a")
	if ok || wait != 10*time.Second {
		t.Fatalf("4th: ok=%v wait=%s, want refused for 10s", ok, wait)
	}
	if !fail("b") {
		t.Fatal("another address is limited")
	}
	now = now.Add(4 * time.Second)
	if ok, wait := l.take("a"); ok || wait != 6*time.Second {
		t.Fatalf("after 4s: ok=%v wait=%s", ok, wait)
	}
	now = now.Add(6 * time.Second)
	if ok, _ := l.take("a"); !ok {
		t.Fatal("after 10s: still refused")
	}
	// An accepted token gives its unit back.
	l.done("a", true)
	if ok, _ := l.take("a"); !ok {
		t.Fatal("the unit of an accepted token was not given back")
	}
	l.done("a", true)
	// Full buckets are forgotten.
	l.give("b")
	if _, ok := l.buckets["b"]; ok {
		t.Error("a full bucket is kept")
	}
}

// Checks still running hold the units: a further request of the address
// waits for one of them instead of being refused, and goes ahead when its
// token was good.
func TestFailureLimiterWaitsForRunningChecks(t *testing.T) {
	t.Parallel()
	l := newFailureLimiter(2, 6)
	for range 2 {
		if ok, _, _ := l.reserve("a"); !ok {
			t.Fatal("refused within the burst")
		}
	}
	ok, _, busy := l.reserve("a")
	if ok || busy == nil {
		t.Fatalf("third while two run: ok=%v busy=%v, want a channel to wait on", ok, busy)
	}
	l.done("a", true)
	select {
	case <-busy:
	default:
		t.Fatal("the end of a check did not wake the waiter")
	}
	if ok, _, _ := l.reserve("a"); !ok {
		t.Fatal("refused after an accepted token gave its unit back")
	}
	// Two failures use the bucket up: then refused, with nothing to wait on.
	l.done("a", false)
	l.done("a", false)
	if ok, wait, busy := l.reserve("a"); ok || busy != nil || wait <= 0 {
		t.Fatalf("after failures: ok=%v wait=%s busy=%v", ok, wait, busy)
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"198.51.100.7:1234", nil, "198.51.100.7"},
		{"198.51.100.7:1234", []string{"203.0.113.9"}, "198.51.100.7"}, // not a proxy: XFF ignored
		{"10.1.2.3:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"10.1.2.3:1234", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"}, // the client's own prefix is not believed
		{"10.1.2.3:1234", []string{"203.0.113.9, 192.0.2.1"}, "203.0.113.9"},
		{"10.1.2.3:1234", []string{"203.0.113.9", "10.9.9.9"}, "203.0.113.9"},
		{"10.1.2.3:1234", []string{"garbage, 10.9.9.9"}, "10.9.9.9"},
		{"10.1.2.3:1234", nil, "10.1.2.3"},
		{"[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2::/64"},
		{"[::1]:80", []string{"2001:db8::1"}, "2001:db8::/64"},
		{"[::ffff:198.51.100.7]:80", nil, "198.51.100.7"},
	} {
		if got := clientAddr(tt.remote, tt.xff, proxies); got != tt.want {
			t.Errorf("clientAddr(%q, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
		}
	}
	if _, err := ParseProxies([]string{"not-an-address"}); err == nil {
		t.Error("a bad proxy was accepted")
	}
}
