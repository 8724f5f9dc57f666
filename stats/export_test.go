package stats

// SetCrash makes p stop a feed at once, as if the process died (no ack, no
// nak), when fn answers true for a stage of a batch: "fetched" (before it
// is applied) or "applied" (committed, not yet acknowledged).
func SetCrash(p *Projector, fn func(feed, stage string) bool) { p.crash = fn }
