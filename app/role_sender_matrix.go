package app

import (
	"context"

	"github.com/fmn-project/fmn/senders/matrix"
)

// startSenderMatrix runs the sender-matrix role: the bot writing to each
// recipient's direct room, and answering commands there, in the one
// process that holds the lease.
func startSenderMatrix(ctx context.Context, p *process) error {
	log := p.log.With("role", "sender-matrix")
	if p.senders.matrix == nil {
		log.Info("FMN_MATRIX_URL is not set: Matrix notifications wait in NOTIFY")
		return nil
	}
	mcfg := *p.senders.matrix
	lc, so := p.leasedSender("matrix", matrix.LeaseKey)
	env, streams := p.env, p.cfg.Streams
	answer, err := p.chatBot(ctx, log)
	if err != nil {
		return err
	}
	p.run("sender-matrix", func(ctx context.Context) error {
		return matrix.Run(ctx, env.JS, streams, mcfg, lc, so, answer, log)
	})
	return nil
}
