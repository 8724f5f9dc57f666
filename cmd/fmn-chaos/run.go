package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// runTrial runs one workload trial on a fresh system and does the
// accounting.
func (h *harness) runTrial(ctx context.Context, t trial) (res result) {
	res.name = t.name
	h.trialStart = time.Now()
	s, err := h.startSystem(ctx, t.name, t.cold)
	if s != nil {
		h.mu.Lock()
		h.systems = append(h.systems, s)
		h.mu.Unlock()
		defer s.stop()
	}
	if err != nil {
		res.err = fmt.Errorf("starting the system: %w", err)
		if s != nil {
			res.notes = slices.Concat(s.notes, s.exits())
		}
		return res
	}
	setup := time.Since(h.trialStart)

	// The rules, through the event log as an operator adds them.
	failed := map[string][]string{}
	for i := range ruleUsers {
		u := userOf(i)
		if err := s.addRule(ctx, u, i%3); err != nil {
			failed[err.Error()] = append(failed[err.Error()], u)
		}
	}
	for e, users := range failed {
		s.note("`fmn rules add` failed for %s: %s", strings.Join(users, ","), e)
	}
	// A failed `rules add` may still have appended its event (it failed
	// waiting for the projection): wait until the projection has every
	// event of RULES, then give matching its second (the design's bound
	// for a rule change to reach matching) and a half.
	if wait, err := s.waitProjection(ctx, 60*time.Second); err != nil {
		s.note("rules projection: %v", err)
	} else if wait > time.Second {
		s.note("rules projection caught up with RULES %.1fs after the last `rules add`", wait.Seconds())
	}
	rulesDone := time.Since(h.trialStart) - setup
	sleepCtx(ctx, 1500*time.Millisecond)

	h.sink.reset()
	p := &publisher{js: s.js, trial: t.name, n: h.n, rate: h.rate}
	s.pub = p
	tr := &trialRun{}
	faultDone := make(chan struct{})
	pubCtx, cancelPub := context.WithCancel(ctx)
	defer cancelPub()
	go func() {
		defer close(faultDone)
		if t.fault != nil {
			t.fault(pubCtx, s, p, tr)
		}
	}()
	p.run(pubCtx, 90*time.Second)
	<-faultDone
	if ctx.Err() != nil {
		res.err = ctx.Err()
		return res
	}

	// What must arrive: every stored message about a user with a rule.
	msgs := p.snapshot()
	want := map[string]bool{}
	maybe := map[string]bool{}
	storedAt := map[string]time.Time{}
	var unpublished, dupPub int
	for _, m := range msgs {
		if m.acked.IsZero() {
			unpublished++
			continue
		}
		if m.duplicate {
			dupPub++
		}
		k := rcptKey(m.id, m.user)
		storedAt[k] = m.acked
		switch {
		case m.idx%workloadUsers < ruleUsers:
			want[k] = true
		case isLate(m.user) && !tr.lateAccepted.IsZero():
			switch {
			case !m.first.Before(tr.lateAccepted.Add(time.Second)):
				want[k] = true
			case !m.acked.Before(tr.lateStart):
				maybe[k] = true
			}
		}
	}
	if unpublished > 0 {
		s.note("%d messages could not be published within 90 s (first error: %s); they are not expected", unpublished, p.firstErr)
	}
	if r := p.retries.Load(); r > 0 {
		s.note("publisher: %d publish attempts retried (first error: %s), %d stored earlier by an attempt whose PubAck was lost", r, p.firstErr, dupPub)
	}

	// Wait for the last emails.
	end := p.end
	if tr.faultEnd.After(end) {
		end = tr.faultEnd
	}
	deadline := end.Add(h.drain)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if h.sink.received(want) == len(want) {
			sleepCtx(ctx, 2*time.Second) // late duplicates
			break
		}
		// Nothing more can come when the sender is gone, or when both
		// consumers are and the sender has been idle a while.
		if s.dead("sender-email") || s.dead("consumer-a") && s.dead("consumer-b") && time.Since(h.sink.lastArrival()) > 5*time.Second {
			break
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
	waitedUntil := time.Now()
	sn := h.sink.snapshot()

	res.expected = len(want)
	for k := range want {
		if sn.byKey[k] > 0 {
			res.delivered++
		}
	}
	res.missing = res.expected - res.delivered
	keyDup := 0
	for k, n := range sn.byKey {
		if n > 1 {
			keyDup += n - 1
		}
		if !want[k] && !maybe[k] {
			res.extra += n
		}
	}
	res.duplicated = max(keyDup, sn.dupMsgID)
	if sn.dupMsgID != keyDup {
		s.note("duplicates: %d by (bus message, recipient), %d by Message-ID", keyDup, sn.dupMsgID)
	}
	if res.extra > 0 {
		s.note("%d emails nobody should have received", res.extra)
	}
	if sn.aborted > 0 {
		s.note("%d SMTP transactions cut short in DATA (not counted as received)", sn.aborted)
	}
	if sn.noID > 0 {
		s.note("%d emails without Message-ID", sn.noID)
	}
	if n := len(maybe); n > 0 {
		got := 0
		for k := range maybe {
			if sn.byKey[k] > 0 {
				got++
			}
		}
		s.note("%s: %d of %d messages published while the rule was being added were delivered (not counted either way)", lateUser, got, n)
	}

	// The longest time with notifications outstanding and none arriving:
	// from the first publish, between arrivals, and after the last one when
	// some never came.
	points := []time.Time{p.start}
	points = append(points, sn.arrivals...)
	if res.missing > 0 {
		points = append(points, waitedUntil)
	}
	slices.SortFunc(points, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(points); i++ {
		if g := points[i].Sub(points[i-1]); g > res.maxStall {
			res.maxStall = g
		}
	}
	if len(sn.arrivals) > 0 {
		last := sn.arrivals[len(sn.arrivals)-1]
		// Latency of each delivered notification: from its bus message's
		// PubAck to the first time the sink saw it.
		var lat []time.Duration
		for k := range want {
			if at, ok := sn.firstAt[k]; ok {
				lat = append(lat, max(0, at.Sub(storedAt[k])))
			}
		}
		slices.Sort(lat)
		pct := func(q float64) float64 {
			if len(lat) == 0 {
				return 0
			}
			return lat[min(len(lat)-1, int(q*float64(len(lat))))].Seconds()
		}
		s.note("timing: setup %.1fs, %d rules %.1fs, publishing %.1fs, last email %.1fs after the last publish; latency p50 %.2fs p99 %.2fs max %.2fs",
			setup.Seconds(), ruleUsers, rulesDone.Seconds(), p.end.Sub(p.start).Seconds(), max(0, last.Sub(p.end).Seconds()),
			pct(0.5), pct(0.99), pct(1))
	}
	if !tr.lateAccepted.IsZero() && !tr.faultEnd.IsZero() {
		var during, after, lostDuring, lostAfter int
		for k := range want {
			if !strings.HasSuffix(k, " "+addressOf(lateUser)) {
				continue
			}
			got := sn.byKey[k] > 0
			if storedAt[k].Before(tr.faultEnd) {
				during++
				if !got {
					lostDuring++
				}
			} else {
				after++
				if !got {
					lostAfter++
				}
			}
		}
		s.note("%s's rule: %d messages published after it was accepted (+1 s) while Redis was down, %d missing; %d after Redis was back, %d missing",
			lateUser, during, lostDuring, after, lostAfter)
	}

	// The statistics: rule_generated (and generated_stats per channel)
	// against what NOTIFY holds, and the deliveries counted sent against the
	// emails the relay accepted; the projection may lag a moment.
	statsDeadline := time.Now().Add(20 * time.Second)
	var real uint64
	var perRule, perChannel, sent int64
	var relayed int
	for {
		var err1, err2 error
		real, err1 = s.notifyCount(ctx, "email")
		perRule, perChannel, sent, err2 = s.statsCounted(ctx)
		relayed = h.sink.snapshot().total
		if err1 == nil && err2 == nil {
			res.statsKnown = true
			if perRule == int64(real) && perChannel == int64(real) && sent == int64(relayed) {
				break
			}
		}
		if ctx.Err() != nil || time.Now().After(statsDeadline) || s.dead("stats") {
			if err1 != nil || err2 != nil {
				s.note("statistics unreadable: %v %v", err1, err2)
			}
			break
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	if res.statsKnown {
		res.statsCounted, res.statsReal = perRule, int64(real)
		res.statsOff = max(abs(perRule-int64(real)), abs(perChannel-int64(real))) + abs(sent-int64(relayed))
		res.deliveryOff = sent != int64(relayed)
		if perChannel != perRule {
			s.note("statistics per channel (generated_stats) count %d", perChannel)
		}
		if res.deliveryOff {
			s.note("statistics of deliveries (delivery_stats) count %d emails sent; the relay accepted %d", sent, relayed)
		}
		if int(real) != res.expected+countIn(sn.byKey, maybe) && int(real) != res.expected {
			s.note("NOTIFY holds %d email notifications for %d expected", real, res.expected)
		}
	}

	// What the processes said: exits, and a few lines worth knowing.
	s.mu.Lock()
	notes := append([]string(nil), s.notes...)
	s.mu.Unlock()
	notes = append(notes, s.exits()...)
	notes = append(notes, logSignals(s)...)
	res.notes = notes
	return res
}

func isLate(u string) bool { return u == lateUser }

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func countIn(got map[string]int, set map[string]bool) int {
	n := 0
	for k := range set {
		if got[k] > 0 {
			n++
		}
	}
	return n
}

// logSignals counts, per role, the log lines that tell how a fault was
// lived through.
func logSignals(s *system) []string {
	var out []string
	for _, r := range s.roles {
		if r.log == "" {
			continue
		}
		var parts []string
		// The deployment has no login provider and no account services on
		// purpose; the API says so once at start.
		expected := []string{"FMN_OIDC_ISSUER is empty", "FMN_FASJSON_URL and FMN_DISTGIT_URL are empty"}
		for _, w := range []struct{ label, s string }{
			{"errors", "level=ERROR"},
			{"warnings", "level=WARN"},
		} {
			n := grepCount(r.log, w.s)
			if w.s == "level=WARN" {
				for _, e := range expected {
					n -= grepCount(r.log, e)
				}
			}
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, w.label))
			}
		}
		if len(parts) > 0 {
			first := grepFirst(r.log, "level=ERROR", expected...)
			if first == "" {
				first = grepFirst(r.log, "level=WARN", expected...)
			}
			out = append(out, fmt.Sprintf("log %s: %s; first: %s", r.name, strings.Join(parts, ", "), trimLog(first)))
		}
	}
	return out
}

// trimLog drops the time and level of a slog text line.
func trimLog(l string) string {
	for _, p := range []string{"time=", "level="} {
		if strings.HasPrefix(l, p) {
			if i := strings.IndexByte(l, ' '); i > 0 {
				l = l[i+1:]
			}
		}
	}
	if len(l) > 220 {
		l = l[:220] + "…"
	}
	return l
}
