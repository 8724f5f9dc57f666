package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fmn-project/fmn/bridge"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/redis/rueidis"
)

func cmdBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "amqp" {
		fmt.Fprintln(stderr, "usage: fmn bridge amqp [flags]   (the only bridge is amqp)")
		return errUsage
	}
	var bindings string
	cfg, _, err := flags("bridge amqp", args[1:], stderr,
		"  FMN_AMQP_URL=amqps://user:pass@rabbitmq.example.org/%2Fpubsub fmn bridge amqp\n  fmn bridge amqp --amqp-queue fmn-prod --bindings 'org.fedoraproject.prod.#'\n",
		func(fs *flag.FlagSet) {
			fs.StringVar(&bindings, "bindings", "#", "comma-separated binding keys of the queue")
		})
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	env := &Env{Cfg: cfg, Log: log}
	defer env.Close()
	if err := env.ConnectNATS(ctx, EnsureStreams); err != nil {
		return err
	}
	bcfg := bridge.Config{URL: cfg.AMQPURL, Exchange: cfg.AMQPExchange, Queue: cfg.AMQPQueue,
		BindingKeys: splitCSV(bindings), DeadLetterSubject: ""}.WithDefaults()
	if err := bcfg.Validate(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bridging %s exchange %s (queue %s) into NATS\n", bcfg.String(), bcfg.Exchange, bcfg.Queue)
	return bridge.Run(ctx, bcfg, env.JS, log)
}

func cmdPublish(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var quiet bool
	cfg, fs, err := flags("publish", args, stderr,
		"  fmn publish message.json\n  fmn publish messages.jsonl more.jsonl\n  datagrepper-export | fmn publish -\n  FMN_NATS_URL=nats://127.0.0.1:4244 fmn publish testdata/bodhi-comment.json\n",
		func(fs *flag.FlagSet) { fs.BoolVar(&quiet, "q", false, "print nothing but errors") })
	if err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintln(stderr, "fmn publish: name at least one FILE, or - for standard input")
		return errUsage
	}
	if cfg.NATSURL == "" {
		return errors.New("FMN_NATS_URL: must be set (fmn dev prints the URL of its embedded server)")
	}
	log := newLogger(stderr, cfg.LogLevel)
	env := &Env{Cfg: cfg, Log: log}
	defer env.Close()
	if err := env.ConnectNATS(ctx, LookupStreams); err != nil {
		return err
	}
	var total bus.PublishStats
	var errs []error
	for _, name := range files {
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			defer f.Close()
			r = f
		}
		st, err := bus.Publish(ctx, env.JS, r, bus.PublishOptions{
			Report: func(e error) { fmt.Fprintf(stderr, "%s: %v\n", name, e) },
		})
		total.Read += st.Read
		total.Published += st.Published
		total.Duplicates += st.Duplicates
		total.Rejected += st.Rejected
		total.Failed += st.Failed
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if !quiet {
		fmt.Fprintf(stdout, "published %d, duplicates %d, rejected %d, failed %d (of %d read)\n",
			total.Published, total.Duplicates, total.Rejected, total.Failed, total.Read)
	}
	return errors.Join(errs...)
}

// cmdReplay dispatches the operators' replay commands (app/replaycmd.go).
func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, replayUsage)
		return errUsage
	}
	switch args[0] {
	case "bus":
		return cmdReplayBus(ctx, args[1:], stdin, stdout, stderr)
	case "notify":
		return cmdReplayNotify(ctx, args[1:], stdin, stdout, stderr)
	case "rules":
		return cmdReplayRules(ctx, args[1:], stdout, stderr)
	case "stats":
		return cmdReplayStats(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, replayUsage)
	return errUsage
}

// rebuildRules drops the rule tables and rebuilds them from the stream.
func rebuildRules(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	log := newLogger(stderr, cfg.LogLevel)
	env := &Env{Cfg: cfg, Log: log}
	defer env.Close()
	if err := env.ConnectNATS(ctx, LookupStreams); err != nil {
		return err
	}
	if err := env.ConnectDB(ctx, false); err != nil {
		return err
	}
	if err := Migrate(ctx, env.DB); err != nil {
		return err
	}
	ropt, err := rueidis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("FMN_REDIS_URL: not a Redis URL")
	}
	client, err := rueidis.NewClient(ropt)
	if err != nil {
		return fmt.Errorf("FMN_REDIS_URL: cannot reach Redis: %v", err)
	}
	defer client.Close()
	p := rulelog.NewProjector(env.JS, env.DB, rulelog.ProjectorConfig{
		Stream: cfg.Streams.Rules, Redis: client, RedisPrefix: cfg.RedisPrefix, Logger: log,
	})
	start := time.Now()
	last, err := p.Rebuild(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rule projection rebuilt up to sequence %d in %s\n", last, time.Since(start).Round(time.Millisecond))
	return nil
}

func splitCSV(s string) []string { return splitList(s) }
