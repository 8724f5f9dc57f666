package cli

import (
	"strings"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for in, want := range map[string]time.Time{
		"2026-11-20T08:30:00Z":      time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC),
		"2026-11-20T08:30:00+01:00": time.Date(2026, 11, 20, 7, 30, 0, 0, time.UTC),
		"2026-11-20":                time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
		"2026-11-20T08:30":          time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC),
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
	} {
		got, err := parseWhen(in, clock)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5h", "2026-13-01"} {
		if _, err := parseWhen(bad, clock); err == nil || !strings.Contains(err.Error(), "not a time") {
			t.Errorf("parseWhen(%q): %v", bad, err)
		}
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	if got := progressLine("replay bus", 250_000, 1_000_000, 2*time.Second); got != "replay bus: 250,000 / 1,000,000  125,000/s  6s left" {
		t.Errorf("progress line %q", got)
	}
	if got := progressLine("dlq retry", 3, 0, time.Second); got != "dlq retry: 3  3/s" {
		t.Errorf("without a total %q", got)
	}
	var b strings.Builder
	stop := startProgress(&b, "x", func() uint64 { return 1 }, func() uint64 { return 2 })
	stop()
	if b.Len() != 0 {
		t.Errorf("progress shown on a non-terminal: %q", b.String())
	}
}
