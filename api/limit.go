package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// previewLimiter bounds the rule previews running at once: in all (each
// reads BUS and parses, so they share the process's memory and CPU) and
// per user (so that one user cannot take every slot). A preview over the
// limit is refused at once with 429 and a Retry-After, rather than queued:
// a queue would hold the request, its body and its connection, and a
// client that gave up would still get its turn.
type previewLimiter struct {
	max, perUser int
	timeout      time.Duration

	mu      sync.Mutex
	running int
	byUser  map[string]int
	// avg is a moving average of how long a preview takes, for
	// Retry-After (0 until one has finished).
	avg time.Duration
}

func newPreviewLimiter(max, perUser int, timeout time.Duration) *previewLimiter {
	return &previewLimiter{max: max, perUser: perUser, timeout: timeout, byUser: map[string]int{}}
}

// refusal says why a preview was not started.
type refusal struct {
	// user is true when the user's own limit was reached, false when the
	// server's was.
	user       bool
	limit      int
	retryAfter time.Duration
}

// acquire takes a slot for user; release gives it back and records how
// long the preview took. When no slot is free, release is nil and refused
// says why.
func (l *previewLimiter) acquire(user string) (release func(), refused *refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.byUser[user]; n >= l.perUser {
		return nil, &refusal{user: true, limit: l.perUser, retryAfter: l.retryAfterLocked()}
	}
	if l.running >= l.max {
		return nil, &refusal{limit: l.max, retryAfter: l.retryAfterLocked()}
	}
	l.running++
	l.byUser[user]++
	start := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			took := time.Since(start)
			l.mu.Lock()
			defer l.mu.Unlock()
			l.running--
			if l.byUser[user]--; l.byUser[user] <= 0 {
				delete(l.byUser, user)
			}
			if l.avg == 0 {
				l.avg = took
			} else {
				l.avg = (3*l.avg + took) / 4
			}
		})
	}, nil
}

// retryAfterLocked is when a slot is likely free again: the typical
// duration of a preview, at least a second and at most the preview
// timeout (no preview runs longer).
func (l *previewLimiter) retryAfterLocked() time.Duration {
	return min(max(l.avg, time.Second), max(l.timeout, time.Second))
}

// runningNow is the number of previews running, for the metrics.
func (l *previewLimiter) runningNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running
}

// tooManyPreviews is the 429 of a refused preview: a problem saying why,
// and when to try again.
func tooManyPreviews(r *refusal) error {
	secs := int(math.Ceil(r.retryAfter.Seconds()))
	var msg string
	if r.user {
		msg = fmt.Sprintf("You already have %d rule previews running, the most one user may run at once: "+
			"try again when one has finished (in about %d s).", r.limit, secs)
	} else {
		msg = fmt.Sprintf("The server is running %d rule previews, the most it runs at once: try again in about %d s.", r.limit, secs)
	}
	return huma.ErrorWithHeaders(huma.NewError(http.StatusTooManyRequests, msg),
		http.Header{"Retry-After": {strconv.Itoa(secs)}})
}
