package svccache

import (
	"sync"

	"github.com/redis/rueidis"
)

// Invalidations fans the invalidation notices of one rueidis client out to
// subscribers: the Cache's decoded memo, and whoever derives state from
// cached answers (the matcher's index of owned artifacts). Redis sends a
// notice when a key this client has read through its client-side cache is
// written, deleted or expires, by any client; rueidis sends a nil key list
// when it flushed its cache (reconnection).
type Invalidations struct {
	mu   sync.RWMutex
	subs map[int]func(keys []string)
	next int
}

// Hook makes opt's client report its invalidations to the returned value.
// Call it before rueidis.NewClient(opt). An OnInvalidations already set
// (rulelog.NotifyVersion) is still called.
func Hook(opt *rueidis.ClientOption) *Invalidations {
	inv := &Invalidations{subs: map[int]func([]string){}}
	prev := opt.OnInvalidations
	opt.OnInvalidations = func(msgs []rueidis.RedisMessage) {
		if prev != nil {
			prev(msgs)
		}
		var keys []string
		if msgs != nil {
			keys = make([]string, 0, len(msgs))
			for _, m := range msgs {
				if k, err := m.ToString(); err == nil {
					keys = append(keys, k)
				}
			}
		}
		inv.publish(keys, msgs == nil)
	}
	return inv
}

// Subscribe calls fn with the invalidated keys of every notice, and with
// nil when everything was flushed. fn runs on the client's reading
// goroutine: it must be quick and must not call Redis. Call the returned
// function to stop.
func (i *Invalidations) Subscribe(fn func(keys []string)) (unsubscribe func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	id := i.next
	i.next++
	i.subs[id] = fn
	return func() {
		i.mu.Lock()
		defer i.mu.Unlock()
		delete(i.subs, id)
	}
}

func (i *Invalidations) publish(keys []string, all bool) {
	if all {
		keys = nil
	} else if len(keys) == 0 {
		return
	}
	i.mu.RLock()
	defer i.mu.RUnlock()
	for _, fn := range i.subs {
		fn(keys)
	}
}
