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
	for i := range 3 {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("failure %d refused", i)
		}
	}
	ok, wait := l.take("a")
	if ok || wait != 10*time.Second {
		t.Fatalf("4th: ok=%v wait=%s, want refused for 10s", ok, wait)
	}
	if ok, _ := l.take("b"); !ok {
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
	l.give("a")
	if ok, _ := l.take("a"); !ok {
		t.Fatal("the unit of an accepted token was not given back")
	}
	// Full buckets are forgotten.
	l.give("b")
	if _, ok := l.buckets["b"]; ok {
		t.Error("a full bucket is kept")
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
