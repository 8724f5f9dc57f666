package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/fmn-project/fmn/bridge"
	"github.com/fmn-project/fmn/config"
)

// RunBridge runs the AMQP bridge (`fmn bridge amqp`, a role of its own
// command): the durable queue bound to FMN_AMQP_EXCHANGE with bindings,
// copied into BUS. Its configuration is checked before NATS is connected.
func RunBridge(ctx context.Context, cfg config.Config, bindings []string, out io.Writer, log *slog.Logger) error {
	bcfg := bridge.Config{URL: cfg.AMQPURL, Exchange: cfg.AMQPExchange, Queue: cfg.AMQPQueue,
		BindingKeys: bindings}.WithDefaults()
	if err := bcfg.Validate(); err != nil {
		return err
	}
	env := &Env{Cfg: cfg, Log: log}
	defer env.Close()
	if err := env.ConnectNATS(ctx, EnsureStreams); err != nil {
		return err
	}
	fmt.Fprintf(out, "bridging %s exchange %s (queue %s) into NATS\n", bcfg.String(), bcfg.Exchange, bcfg.Queue)
	return bridge.Run(ctx, bcfg, env.JS, log)
}
