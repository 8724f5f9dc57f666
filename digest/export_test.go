package digest

// StopBeforePurge makes f's flushes stop with err after a digest is sent
// and marked, before it is purged: where a killed process would stop.
func StopBeforePurge(f *Flusher, err error) { f.beforePurge = func() error { return err } }
