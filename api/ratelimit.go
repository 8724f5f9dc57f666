package api

import (
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// failureLimiter limits the failed authentications of each client address
// with a token bucket: burst failures in a row, then rate per second. A
// check of a token takes one unit before it starts (so that a burst of
// concurrent requests cannot all reach the provider) and gives it back when
// the token is accepted: only failures use the bucket up.
type failureLimiter struct {
	burst float64
	rate  float64 // units per second
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	units float64
	at    time.Time
	// inflight counts the checks holding a unit; changed is closed (and
	// replaced) when one ends, for the requests waiting on them.
	inflight int
	changed  chan struct{}
}

// maxBuckets bounds the addresses tracked; past it, full buckets (which
// hold nothing worth keeping) are dropped, then all.
const maxBuckets = 1 << 16

func newFailureLimiter(burst int, perMinute float64) *failureLimiter {
	return &failureLimiter{burst: float64(burst), rate: perMinute / 60, now: time.Now, buckets: map[string]*bucket{}}
}

// fill brings b up to now; the caller holds l.mu.
func (l *failureLimiter) fill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.units = min(l.burst, b.units+d.Seconds()*l.rate)
	}
	b.at = now
}

// take uses one unit of addr's bucket; when it is empty, it says how long
// until there is one.
func (l *failureLimiter) take(addr string) (ok bool, retryAfter time.Duration) {
	ok, retryAfter, _ = l.reserve(addr)
	return ok, retryAfter
}

// reserve is take, but when the bucket is empty only because checks of
// this address are still running (their units come back if their tokens
// are accepted), it returns a channel closed when one of them ends, to
// wait on and try again: concurrent first requests of one user are not
// refused, while concurrent bad tokens still reach the provider at most
// burst at a time.
func (l *failureLimiter) reserve(addr string) (ok bool, retryAfter time.Duration, busy <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{units: l.burst, at: now}
		l.buckets[addr] = b
	}
	l.fill(b, now)
	if b.units >= 1 {
		b.units--
		b.inflight++
		return true, 0, nil
	}
	if b.inflight > 0 {
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		return false, 0, b.changed
	}
	wait := time.Duration(math.Ceil((1 - b.units) / l.rate * float64(time.Second)))
	return false, wait, nil
}

// done ends a check that reserve admitted: an accepted token gives its
// unit back, a refused one keeps it used.
func (l *failureLimiter) done(addr string, accepted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		return
	}
	if b.inflight > 0 {
		b.inflight--
	}
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	l.fill(b, l.now())
	if accepted {
		b.units = min(l.burst, b.units+1)
	}
	if b.units >= l.burst && b.inflight == 0 {
		delete(l.buckets, addr)
	}
}

// give returns the unit of an accepted token.
func (l *failureLimiter) give(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		return
	}
	l.fill(b, l.now())
	b.units = min(l.burst, b.units+1)
	if b.inflight > 0 {
		b.inflight--
	}
	if b.units >= l.burst && b.inflight == 0 {
		delete(l.buckets, addr)
	}
}

func (l *failureLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		l.fill(b, now)
		if b.units >= l.burst && b.inflight == 0 {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// clientAddr is the address the limiter counts a request against: the
// peer, or, when the peer is a trusted proxy, the last address of
// X-Forwarded-For that is not a trusted proxy. IPv6 addresses count by
// their /64, which one host usually has whole.
func clientAddr(remote string, forwarded []string, trusted []netip.Prefix) string {
	peer := parseAddr(remote)
	if !peer.IsValid() {
		return remote
	}
	if isTrusted(peer, trusted) {
		var hops []string
		for _, h := range forwarded {
			hops = append(hops, strings.Split(h, ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			a := parseAddr(strings.TrimSpace(hops[i]))
			if !a.IsValid() {
				break
			}
			peer = a
			if !isTrusted(a, trusted) {
				break
			}
		}
	}
	if peer.Is6() {
		p, _ := peer.Prefix(64)
		return p.String()
	}
	return peer.String()
}

// parseAddr reads "host:port", "[v6]:port" or a bare address.
func parseAddr(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseProxies reads FMN_TRUSTED_PROXIES: addresses or CIDR prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
