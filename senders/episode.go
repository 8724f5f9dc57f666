package senders

import (
	"log/slog"
	"sync"
	"time"
)

// episode turns a failure that may repeat many times a second (every
// attempt while a relay is down) into a few log lines: one when it starts,
// with the first failure's details; a reminder at most every `every` while
// it goes on, with how many failed since the last line; one when it ends.
// Each failure stays visible at debug level.
type episode struct {
	log   *slog.Logger
	every time.Duration
	// start, again and end are the messages of the three kinds of line.
	start, again, end string
	now               func() time.Time

	mu       sync.Mutex
	active   bool
	since    time.Time
	lastLine time.Time
	count    int // failures since the last line
	total    int // failures in this episode
	reason   string
}

func newEpisode(log *slog.Logger, every time.Duration, start, again, end string) *episode {
	return &episode{log: log, every: every, start: start, again: again, end: end, now: time.Now}
}

// fail records one failure; attrs describe it (they are logged with the
// first line only).
func (e *episode) fail(reason string, attrs ...any) {
	now := e.now()
	e.mu.Lock()
	e.count++
	e.total++
	e.reason = reason
	switch {
	case !e.active:
		e.active, e.since, e.lastLine, e.count = true, now, now, 0
		e.mu.Unlock()
		e.log.Warn(e.start, append(attrs, "reason", reason)...)
		return
	case now.Sub(e.lastLine) >= e.every:
		count, total, since := e.count, e.total, e.since
		e.lastLine, e.count = now, 0
		e.mu.Unlock()
		e.log.Warn(e.again, "failed", count, "failed_total", total,
			"for", now.Sub(since).Round(time.Second), "last_reason", reason)
		return
	}
	e.mu.Unlock()
}

// ok ends the episode, if one is under way.
func (e *episode) ok() {
	e.mu.Lock()
	if !e.active {
		e.mu.Unlock()
		return
	}
	total, since, reason := e.total, e.since, e.reason
	e.active, e.count, e.total = false, 0, 0
	e.mu.Unlock()
	e.log.Info(e.end, "failed_total", total, "after", e.now().Sub(since).Round(time.Millisecond), "last_reason", reason)
}
