package app

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
)

// startSenderEmail runs the sender-email role: N workers per process
// mailing NOTIFY's email notifications through FMN_SMTP_URL (`fmn dev`
// without it: a local sink that saves each email as a file).
func startSenderEmail(_ context.Context, p *process) error {
	log := p.log.With("role", "sender-email")
	ecfg := *p.senders.email
	if p.senders.devMail {
		dir := filepath.Join(p.cfg.DataDir, "mail")
		dm, err := startDevMail(dir, p.log.With("role", "dev-mail"))
		if err != nil {
			return fmt.Errorf("dev mail sink: %w", err)
		}
		p.env.OnClose(func() { _ = dm.Close() })
		host, port, _ := net.SplitHostPort(dm.addr)
		ecfg.Host = host
		ecfg.Port, _ = strconv.Atoi(port)
		p.sys.MailDir = dir
	}
	so := p.senderOpts
	if so.Workers == 0 {
		so.Workers = p.cfg.SenderEmailWorkers
	}
	// Every worker keeps its SMTP session between messages.
	ecfg.MaxIdleConns = max(ecfg.MaxIdleConns, so.Workers)
	s, err := email.New(ecfg, log)
	if err != nil {
		return err
	}
	p.stops = append(p.stops, func() { s.Close() })
	so = p.senderMetrics.channel(email.Channel, so)
	p.ops.consumer(p.cfg.Streams.Notify, senders.ConsumerName(email.Channel), false)
	p.ops.breaker("smtp-relay", so.Breaker)
	env, streams := p.env, p.cfg.Streams
	p.run("sender-email", func(ctx context.Context) error {
		return senders.Run(ctx, env.JS, streams, s, so, log)
	})
	return nil
}
