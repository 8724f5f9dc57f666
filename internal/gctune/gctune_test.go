package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, headroom uint64
		want           int
	}{
		{50 * mib, 256 * mib, 512},
		{256 * mib, 256 * mib, 100}, // as Go's default from here on
		{1024 * mib, 256 * mib, 100},
		{1 * mib, 256 * mib, 10000}, // bounded while the heap is tiny
		{0, 256 * mib, 10000},
		{40 * mib, 80 * mib, 200},
		{1, 1 << 62, 10000}, // no overflow
	} {
		if got := Percent(c.live, c.headroom); got != c.want {
			t.Errorf("Percent(%d MiB live, %d MiB headroom) = %d, want %d", c.live/mib, c.headroom/mib, got, c.want)
		}
	}
}

var sink [][]byte

// churn allocates n bytes of garbage while keeping live bytes reachable,
// and returns how many GC cycles ran meanwhile.
func churn(live, n int) uint32 {
	keep := make([][]byte, 0, live/4096)
	for range live / 4096 {
		keep = append(keep, make([]byte, 4096))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n/1024; i++ {
		sink = append(sink[:0], make([]byte, 1024))
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return after.NumGC - before.NumGC
}

// Not parallel: GOGC is the process's.
func TestFloor(t *testing.T) {
	if Current() != 100 {
		t.Skipf("GOGC is %d here, not Go's default", Current())
	}
	const mib = 1 << 20
	plain := churn(16*mib, 512*mib)

	release, kept := Floor(128 * mib)
	if kept != Effective(128*mib) || kept == 0 {
		t.Fatalf("Floor keeps %d MiB of headroom without GOGC set, want %d", kept/mib, Effective(128*mib)/mib)
	}
	floored := churn(16*mib, 512*mib)
	p := Current()
	// The live heap is ~16 MiB plus the test binary's: GOGC well above 100.
	if p < 300 {
		t.Errorf("GOGC %d with 128 MiB of headroom over ~16 MiB live, want several hundred", p)
	}
	if floored*2 > plain {
		t.Errorf("%d GC cycles with the floor against %d without, want at most half", floored, plain)
	}
	t.Logf("512 MiB allocated over 16 MiB live: %d GC cycles at GOGC 100, %d with a 128 MiB floor (GOGC %d)", plain, floored, p)

	// A second, larger holder takes over; releasing it gives the first
	// one's back; releasing both restores Go's default.
	release2, _ := Floor(512 * mib)
	settles(t, 512*mib)
	release2()
	release2() // twice is harmless
	settles(t, 128*mib)
	release()
	if got := Current(); got != 100 {
		t.Errorf("GOGC %d after the last release, want 100", got)
	}
}

// settles waits until GOGC is the one headroom gives for the live heap
// (the floor adjusts after each GC cycle, asynchronously).
func settles(t *testing.T, headroom uint64) {
	t.Helper()
	keep := make([]byte, 16<<20)
	defer runtime.KeepAlive(keep)
	var got, want int
	for range 100 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		got, want = Current(), Percent(liveHeap(), headroom)
		if got >= want*7/8 && got <= want*9/8+1 {
			return
		}
	}
	t.Errorf("GOGC %d, want about %d for %d MiB of headroom over %d MiB live", got, want, headroom>>20, liveHeap()>>20)
}

func TestFloorLeavesAnOperatorsGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")
	release, kept := Floor(128 << 20)
	defer release()
	if kept != 0 {
		t.Error("Floor applied although GOGC is set")
	}
	if _, kept := Floor(0); kept != 0 {
		t.Error("Floor(0) applied")
	}
}

func TestEffectiveBoundedByMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	if cgroupLimit() < 4<<30 {
		t.Skipf("this cgroup's memory limit is %d MiB", cgroupLimit()/mib)
	}
	if got := Effective(256 * mib); got != 256*mib {
		t.Errorf("Effective(256 MiB) = %d MiB without a limit", got/mib)
	}
	old := debug.SetMemoryLimit(512 * mib)
	defer debug.SetMemoryLimit(old)
	if got := Effective(256 * mib); got != 128*mib {
		t.Errorf("Effective(256 MiB) = %d MiB under a 512 MiB GOMEMLIMIT, want 128", got/mib)
	}
	if got := Effective(64 * mib); got != 64*mib {
		t.Errorf("Effective(64 MiB) = %d MiB under a 512 MiB GOMEMLIMIT, want 64", got/mib)
	}
}
