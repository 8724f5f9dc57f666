package app

import (
	"context"

	"github.com/fmn-project/fmn/senders/irc"
)

// startSenderIRC runs the sender-irc role: one IRC connection, held by
// the one process that holds the lease, which the bot answers on.
func startSenderIRC(ctx context.Context, p *process) error {
	log := p.log.With("role", "sender-irc")
	if p.senders.irc == nil {
		log.Info("FMN_IRC_URL is not set: IRC notifications wait in NOTIFY")
		return nil
	}
	icfg := *p.senders.irc
	lc, so := p.leasedSender("irc", irc.LeaseKey)
	env, streams := p.env, p.cfg.Streams
	answer, err := p.chatBot(ctx, log)
	if err != nil {
		return err
	}
	p.run("sender-irc", func(ctx context.Context) error {
		return irc.Run(ctx, env.JS, streams, icfg, lc, so, answer, log)
	})
	return nil
}
