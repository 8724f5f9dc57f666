package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fmn-project/fmn/config"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/replay"
)

const dlqUsage = `usage:
  fmn dlq list [flags]             list dead letters with the reason of each
  fmn dlq show [flags] SEQ         one dead letter: headers and body
  fmn dlq retry [flags] SEQ...     publish again to where it died (notify.<channel> or bus.<topic>), then delete
  fmn dlq retry --all [--channel C] [--yes]
  fmn dlq drop [flags] SEQ...      delete dead letters
  fmn dlq drop --all [--channel C] [--yes]
Run "fmn dlq COMMAND -h" for the flags and examples.
`

// cmdDLQ works the DLQ stream.
func cmdDLQ(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return errUsage
	}
	sub := args[0]
	since, until := timeFlag{}, timeFlag{}
	var channel string
	var asJSON, all, yes bool
	examples := map[string]string{
		"list": "  fmn dlq list\n  fmn dlq list --channel email --since 1d\n  fmn dlq list --channel bus --json\n",
		"show": "  fmn dlq show 17\n  fmn dlq show --json 17\n",
		"retry": "  fmn dlq retry 17 18          # after fixing what made them fail\n" +
			"  fmn dlq retry --all --channel email --since 2h   # asks first\n",
		"drop": "  fmn dlq drop 17\n  fmn dlq drop --all --channel bus --yes\n",
	}
	ex, ok := examples[sub]
	if !ok {
		fmt.Fprint(stderr, dlqUsage)
		return errUsage
	}
	cfg, fs, err := flags("dlq "+sub, config.Connection, args[1:], stderr, ex, func(fs *flag.FlagSet) {
		if sub == "show" {
			fs.BoolVar(&asJSON, "json", false, "JSON output")
			return
		}
		fs.StringVar(&channel, "channel", "", "only this channel's dead letters (email, irc, matrix), or bus")
		fs.Var(&since, "since", "dead-lettered at or after: RFC 3339, a date, or a duration before now (2h, 7d)")
		fs.Var(&until, "until", "dead-lettered before, same forms")
		switch sub {
		case "list":
			fs.BoolVar(&asJSON, "json", false, "one JSON object per dead letter")
		default:
			fs.BoolVar(&all, "all", false, "every dead letter of the selection instead of SEQ...")
			fs.BoolVar(&yes, "yes", false, "with --all: do not ask")
		}
	})
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, a := range fs.Args() {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			fmt.Fprintf(stderr, "fmn dlq %s: %q is not a dead letter's sequence\n", sub, a)
			return errUsage
		}
		seqs = append(seqs, n)
	}
	switch {
	case sub == "list" && len(seqs) > 0, sub == "show" && len(seqs) != 1,
		(sub == "retry" || sub == "drop") && all == (len(seqs) > 0):
		fmt.Fprint(stderr, dlqUsage)
		return errUsage
	}
	env, err := operatorEnv(ctx, cfg, stderr, false)
	if err != nil {
		return err
	}
	defer env.Close()
	q := replay.DLQ{JS: env.JS, Streams: cfg.Streams, By: operatorName()}
	sel := replay.Selection{Since: since.t, Until: until.t, Subjects: []string{replay.DLQSubject(channel)}}

	switch sub {
	case "list":
		return dlqList(ctx, q, sel, asJSON, stdout)
	case "show":
		d, err := q.Get(ctx, seqs[0])
		if err != nil {
			return err
		}
		return dlqShow(d, asJSON, stdout)
	}
	if all {
		if err := q.List(ctx, sel, func(d replay.DeadLetter) error {
			seqs = append(seqs, d.Seq)
			return nil
		}); err != nil {
			return err
		}
		if len(seqs) == 0 {
			fmt.Fprintln(stderr, "no dead letters in the selection")
			return nil
		}
		verb := map[string]string{"retry": "Publish again and delete", "drop": "Delete"}[sub]
		if !yes && !confirm(stdin, stderr, fmt.Sprintf("%s %d dead letters?", verb, len(seqs))) {
			fmt.Fprintln(stderr, sub+" cancelled")
			return errNotConfirmed
		}
	}
	var done atomic.Uint64
	stop := startProgress(stderr, "dlq "+sub, done.Load, func() uint64 { return uint64(len(seqs)) })
	defer stop()
	runID := "dlq-" + replay.NewRunID(time.Now())
	var errs []error
	for _, seq := range seqs {
		if sub == "drop" {
			if err := q.Drop(ctx, seq); err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintf(stdout, "dropped dead letter %d\n", seq)
			}
		} else {
			r, err := q.Retry(ctx, seq, runID)
			if err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintf(stdout, "retried dead letter %d: %s:%d (%s)\n", seq, r.Stream, r.NewSeq, r.Subject)
			}
		}
		done.Add(1)
	}
	return errors.Join(errs...)
}

func dlqList(ctx context.Context, q replay.DLQ, sel replay.Selection, asJSON bool, stdout io.Writer) error {
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "SEQ\tDEAD SINCE\tSUBJECT\tTRIES\tRECIPIENT\tID\tREASON")
	}
	n := 0
	err := q.List(ctx, sel, func(d replay.DeadLetter) error {
		n++
		if asJSON {
			return enc.Encode(dlqJSON(d))
		}
		recipient, id := "-", d.SourceMsgID
		if note := decodeNotification(d); note != nil {
			recipient = note.User + " " + note.Address
			id = note.ID
		}
		if id == "" {
			id = d.Header.Get("Nats-Msg-Id")
		}
		tries := "-"
		if d.Deliveries > 0 {
			tries = strconv.Itoa(d.Deliveries)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Seq, d.Stored.UTC().Format(time.RFC3339), d.Subject, tries, recipient, id, clip(d.Reason, 100))
		return nil
	})
	if !asJSON {
		if n == 0 {
			fmt.Fprintln(tw, "(no dead letters)")
		}
		_ = tw.Flush()
	}
	return err
}

func decodeNotification(d replay.DeadLetter) *notification.Notification {
	if d.Channel() == "" {
		return nil
	}
	var n notification.Notification
	if json.Unmarshal(d.Data, &n) != nil || n.ID == "" {
		return nil
	}
	return &n
}

type deadLetterJSON struct {
	replay.DeadLetter
	Channel      string                     `json:"channel,omitempty"`
	Notification *notification.Notification `json:"notification,omitempty"`
	Body         json.RawMessage            `json:"body,omitempty"`
	BodyText     string                     `json:"body_text,omitempty"`
}

func dlqJSON(d replay.DeadLetter) deadLetterJSON {
	j := deadLetterJSON{DeadLetter: d, Channel: d.Channel(), Notification: decodeNotification(d)}
	if j.Notification == nil {
		if json.Valid(d.Data) {
			j.Body = d.Data
		} else {
			j.BodyText = string(d.Data)
		}
	}
	return j
}

func dlqShow(d replay.DeadLetter, asJSON bool, w io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(dlqJSON(d))
	}
	fmt.Fprintf(w, "dead letter %d, stored %s on %s\n", d.Seq, d.Stored.UTC().Format(time.RFC3339), d.Subject)
	fmt.Fprintf(w, "reason:   %s\n", d.Reason)
	fmt.Fprintf(w, "source:   %s (sequence %d)\n", d.Source, d.SourceSeq)
	if d.Deliveries > 0 {
		fmt.Fprintf(w, "attempts: %d\n", d.Deliveries)
	}
	fmt.Fprintln(w, "headers:")
	for _, k := range slices.Sorted(maps.Keys(d.Header)) {
		for _, v := range d.Header[k] {
			fmt.Fprintf(w, "  %s: %s\n", k, v)
		}
	}
	fmt.Fprintln(w, "body:")
	var buf bytes.Buffer
	if json.Indent(&buf, d.Data, "  ", "  ") == nil {
		fmt.Fprintf(w, "  %s\n", buf.String())
	} else {
		fmt.Fprintf(w, "  %q\n", d.Data)
	}
	return nil
}
