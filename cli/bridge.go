package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
)

func cmdBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "amqp" {
		fmt.Fprintln(stderr, "usage: fmn bridge amqp [flags]   (the only bridge is amqp)")
		return errUsage
	}
	var bindings string
	// The bridge runs on the embedded server too, and creates the streams
	// as every server does.
	settings := config.AMQP | config.Bridge | config.NATS | config.Embedded | config.StreamNames | config.StreamSetup | config.Log
	cfg, _, err := flags("bridge amqp", settings, args[1:], stderr,
		"  FMN_AMQP_URL=amqps://user:pass@rabbitmq.example.org/%2Fpubsub fmn bridge amqp\n  fmn bridge amqp --amqp-queue fmn-prod --bindings 'org.fedoraproject.prod.#'\n",
		func(fs *flag.FlagSet) {
			fs.StringVar(&bindings, "bindings", "#", "comma-separated binding keys of the queue")
		})
	if err != nil {
		return err
	}
	return app.RunBridge(ctx, cfg, splitList(bindings), stdout, newLogger(stderr, cfg.LogLevel))
}
