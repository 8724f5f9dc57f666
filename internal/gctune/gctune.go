// Package gctune keeps a floor under the Go heap goal: at least the live
// heap plus a fixed headroom.
//
// With Go's default (GOGC=100) a collection starts each time the program
// has allocated as much as its live heap. fmn's matcher keeps a rule index
// of tens of MiB live and allocates about 2 KiB per bus message, most of
// it the NATS client's copy of each message and its headers: at tens of
// thousands of messages a second that is a GC cycle every second or so,
// each marking the whole index again. A headroom of a few hundred MiB
// makes cycles several times rarer (GC CPU falls with them) for a bounded
// cost in memory; once the live heap is larger than the headroom, GOGC=100
// holds again, so a large heap never doubles by more than Go's default.
//
// An operator's GOGC is left alone: Floor does nothing when it is set. A
// memory limit bounds the headroom to a quarter of it (Effective): a
// GOMEMLIMIT, or the cgroup's limit of a container, which the Go runtime
// does not know of and which would kill the process rather than make it
// collect.
package gctune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

const (
	// minPercent is Go's default GOGC: the floor never collects more often.
	minPercent = 100
	// maxPercent bounds GOGC while the live heap is still tiny (a process
	// starting).
	maxPercent = 10000
)

var state struct {
	mu sync.Mutex
	// holders are the headrooms asked for by callers that have not
	// released them; the largest applies.
	holders map[*holder]uint64
	// running: a sentinel is armed (see arm); percent is what Floor last
	// set, restore what GOGC was before the first holder.
	running bool
	percent int
	restore int
}

type holder struct{ _ byte }

// Floor keeps the heap goal at least live heap + headroom bytes (GOGC
// raised after each GC cycle from the live heap it left, never below
// 100) until release is called. Several holders may overlap (roles of one
// process, tests): the largest headroom applies, and Go's setting comes
// back when the last one releases. It does nothing when headroom is 0 or
// GOGC is set in the environment. It returns the headroom it keeps
// (Effective; 0 when it does nothing).
func Floor(headroom uint64) (release func(), applied uint64) {
	if headroom == 0 || os.Getenv("GOGC") != "" {
		return func() {}, 0
	}
	headroom = Effective(headroom)
	h := new(holder)
	state.mu.Lock()
	if state.holders == nil {
		state.holders = map[*holder]uint64{}
	}
	if len(state.holders) == 0 {
		state.restore = Current()
		state.percent = state.restore
	}
	state.holders[h] = headroom
	adjustLocked()
	if !state.running {
		state.running = true
		arm()
	}
	state.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			state.mu.Lock()
			defer state.mu.Unlock()
			delete(state.holders, h)
			if len(state.holders) == 0 {
				debug.SetGCPercent(state.restore)
				state.percent = state.restore
				return
			}
			adjustLocked()
		})
	}, headroom
}

// sentinel is garbage the moment it is made: its cleanup runs after the
// next GC cycle. Its pointer keeps it out of the tiny allocator, whose
// blocks are freed together.
type sentinel struct{ _ *byte }

// arm schedules a look at the heap after the next GC cycle.
func arm() {
	runtime.AddCleanup(new(sentinel), func(struct{}) { afterCycle() }, struct{}{})
}

func afterCycle() {
	state.mu.Lock()
	defer state.mu.Unlock()
	if len(state.holders) == 0 {
		state.running = false
		return
	}
	adjustLocked()
	arm()
}

// adjustLocked sets GOGC from the live heap and the largest headroom held.
func adjustLocked() {
	var headroom uint64
	for _, h := range state.holders {
		headroom = max(headroom, h)
	}
	p := Percent(liveHeap(), headroom)
	// Small moves of the live heap are not worth a change.
	if d := p - state.percent; d < -state.percent/8 || d > state.percent/8 {
		debug.SetGCPercent(p)
		state.percent = p
	}
}

// Percent is the GOGC that puts the heap goal at live + headroom, between
// 100 and 10,000.
func Percent(live, headroom uint64) int {
	if live == 0 || headroom/live >= maxPercent/100 {
		return maxPercent
	}
	return int(max(headroom*100/live, minPercent))
}

// Current is the GOGC in effect.
func Current() int { return int(readUint64("/gc/gogc:percent", minPercent)) }

// liveHeap is the heap the last GC cycle marked live.
func liveHeap() uint64 { return readUint64("/gc/heap/live:bytes", 0) }

func readUint64(name string, otherwise uint64) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return otherwise
	}
	return s[0].Value.Uint64()
}

// Effective is the headroom Floor keeps for the one asked for: at most a
// quarter of the memory limit, the smaller of GOMEMLIMIT and the cgroup's.
func Effective(headroom uint64) uint64 {
	limit := uint64(math.MaxInt64)
	if l := debug.SetMemoryLimit(-1); l > 0 {
		limit = uint64(l)
	}
	limit = min(limit, cgroupLimit())
	return min(headroom, limit/4)
}

// cgroupLimit is the memory limit of the process's cgroup (v2, else v1),
// MaxInt64 when there is none or it cannot be read.
func cgroupLimit() uint64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n // v1 says "no limit" with a huge number, which min ignores
		}
		return math.MaxInt64 // "max"
	}
	return math.MaxInt64
}
