package irc

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/streams"
)

// LeaseKey is the lease the IRC senders of a deployment share: only its
// holder connects to IRC.
const LeaseKey = "sender-irc"

// Run delivers notify.irc while this process holds the lease lc (key
// LeaseKey unless set): it waits for the lease, connects, and runs
// senders.Run. When the lease is lost it drops the connection at once —
// before another process can have taken the lease and connected —, stops
// consuming, and waits for the lease again; whatever it had fetched and not
// acknowledged is redelivered to the new holder. With answer set, the bot
// runs on the same connection (NewWithBot), so only the lease holder
// answers. Run returns nil when ctx ends, or the error that stopped the
// sender while it held the lease.
func Run(ctx context.Context, js jetstream.JetStream, sc streams.Config, cfg Config, lc lease.Config, opts senders.Options, answer bot.Answerer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if lc.Key == "" {
		lc.Key = LeaseKey
	}
	return lease.Run(ctx, js, lc, logger, func(ctx context.Context) error {
		s, err := NewWithBot(cfg, answer, logger)
		if err != nil {
			return err
		}
		defer s.Close()
		// On shutdown in-flight sends may finish (senders.Run drains
		// them); on a lost lease they must not.
		stop := context.AfterFunc(ctx, func() {
			if errors.Is(context.Cause(ctx), lease.ErrLost) {
				s.Close()
			}
		})
		defer stop()
		return senders.Run(ctx, js, sc, s, opts, logger)
	})
}
