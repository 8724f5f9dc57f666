package app

import (
	"log/slog"
	"time"

	"github.com/fmn-project/fmn/senders"
)

// withOutcomeEvents returns sender options (a copy of so, which may be
// nil) whose OnOutcome also publishes every delivery outcome on EVENTS,
// where the statistics count them. An OnOutcome already set is still
// called. At shutdown the events in flight get a few seconds to be stored.
func withOutcomeEvents(env *Env, so *senders.Options, log *slog.Logger) (*senders.Options, error) {
	o := senders.Options{}
	if so != nil {
		o = *so
	}
	pub, err := senders.NewOutcomePublisher(env.NC, log, o.OnOutcome)
	if err != nil {
		return nil, err
	}
	o.OnOutcome = pub.Record
	env.closers = append(env.closers, func() {
		select {
		case <-pub.Done():
		case <-time.After(5 * time.Second):
			log.Warn("delivery outcome events still unacknowledged at shutdown")
		}
	})
	return &o, nil
}
