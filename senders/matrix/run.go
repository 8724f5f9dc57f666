package matrix

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/streams"
)

// LeaseKey is the lease the Matrix senders of a deployment share: only its
// holder talks to the homeserver as the bot.
const LeaseKey = "sender-matrix"

// Run delivers notify.matrix while this process holds the lease lc (key
// LeaseKey unless set): it waits for the lease, then runs senders.Run with
// a new Sender, which finds the direct rooms again in m.direct. Any number
// of processes may call it; one sends, the others stand by and take over
// within the lease's TTL when it dies. A send still in flight when the
// lease is lost may finish: its transaction id makes the new holder's
// retry of the same notification a no-op. Run returns nil when ctx ends,
// or the error that stopped the sender while it held the lease. With
// answer set, the lease holder also runs the bot (Sender.Listen), which
// keeps its /sync position in the key-value bucket fmn_matrix_sync
// (DefaultSyncBucket), so that a new lease holder answers what was sent
// while none listened.
func Run(ctx context.Context, js jetstream.JetStream, sc streams.Config, cfg Config, lc lease.Config, opts senders.Options, answer bot.Answerer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if lc.Key == "" {
		lc.Key = LeaseKey
	}
	positions := NewKVSyncPositions(js, KVSyncPositionsConfig{Replicas: sc.Replicas})
	return lease.Run(ctx, js, lc, logger, func(ctx context.Context) error {
		s, err := New(cfg, logger)
		if err != nil {
			return err
		}
		defer s.Close()
		if answer != nil {
			lctx, stop := context.WithCancel(ctx)
			listening := make(chan struct{})
			go func() { defer close(listening); s.Listen(lctx, answer, positions) }()
			defer func() { stop(); <-listening }()
		}
		return senders.Run(ctx, js, sc, s, opts, logger)
	})
}
