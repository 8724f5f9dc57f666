package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/fmn-project/fmn/senders"
)

// withOutcomeEvents returns sender options (a copy of so, which may be
// nil) whose StoreOutcome stores every delivery outcome on EVENTS, where
// the statistics count them, before the notification is settled. At
// shutdown the events in flight get a few seconds to be stored.
func withOutcomeEvents(env *Env, so *senders.Options, log *slog.Logger) (*senders.Options, error) {
	o := senders.Options{}
	if so != nil {
		o = *so
	}
	pub, err := senders.NewOutcomePublisher(env.NC, log, nil)
	if err != nil {
		return nil, err
	}
	if prev := o.StoreOutcome; prev != nil {
		o.StoreOutcome = func(ctx context.Context, oc senders.Outcome) error {
			return errors.Join(prev(ctx, oc), pub.Store(ctx, oc))
		}
	} else {
		o.StoreOutcome = pub.Store
	}
	env.OnClose(func() {
		select {
		case <-pub.Done():
		case <-time.After(5 * time.Second):
			log.Warn("delivery outcome events still unacknowledged at shutdown")
		}
	})
	return &o, nil
}
