package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/config"
)

func cmdPublish(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var quiet bool
	cfg, fs, err := flags("publish", config.Connection, args, stderr,
		"  fmn publish message.json\n  fmn publish messages.jsonl more.jsonl\n  datagrepper-export | fmn publish -\n  FMN_NATS_URL=nats://127.0.0.1:4244 fmn publish testdata/sample-message.json\n",
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
	env := &app.Env{Cfg: cfg, Log: log}
	defer env.Close()
	if err := env.ConnectNATS(ctx, app.LookupStreams); err != nil {
		return err
	}
	var total bus.PublishStats
	var errs []error
	for _, name := range files {
		r := stdin
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
