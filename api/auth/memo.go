package auth

import (
	"sync"
	"time"
)

// maxMemo bounds each memo: past it, expired entries go, then arbitrary
// ones until a quarter is free.
const maxMemo = 1 << 14

// memo maps token hashes to values until a deadline, in process.
type memo[V any] struct {
	mu sync.Mutex
	m  map[[32]byte]memoEntry[V]
}

type memoEntry[V any] struct {
	v     V
	until time.Time
}

// recentEntry is an accepted token.
type recentEntry struct {
	id  Identity
	jwt bool
}

func (m *memo[V]) get(k [32]byte, now time.Time) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	if !now.Before(e.until) {
		delete(m.m, k)
		var zero V
		return zero, false
	}
	return e.v, true
}

func (m *memo[V]) put(k [32]byte, v V, now, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[[32]byte]memoEntry[V])
	}
	if len(m.m) >= maxMemo {
		for k, e := range m.m {
			if !now.Before(e.until) {
				delete(m.m, k)
			}
		}
		for k := range m.m {
			if len(m.m) < maxMemo*3/4 {
				break
			}
			delete(m.m, k)
		}
	}
	m.m[k] = memoEntry[V]{v: v, until: until}
}
