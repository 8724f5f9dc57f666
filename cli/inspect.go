package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fmn-project/fmn/bus"
)

const inspectExamples = `  fmn inspect message.json
  fmn inspect --json messages.jsonl
  datagrepper-export | fmn inspect -
`

// cmdInspect prints, for each message of the files (the fedora-messaging
// file form that fmn publish reads), what fmn reads from it: the schema, the
// extractor and every derived field. It needs no service.
func cmdInspect(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fmn inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object a message (JSON Lines)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fmn inspect [--json] FILE... | -\n\nPrints what fmn reads from each message: schema, extractor, every derived field.\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nExamples:\n%s", inspectExamples)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintln(stderr, "fmn inspect: name at least one FILE, or - for standard input")
		return errUsage
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	var bad int
	var errs []error
	first := true
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
		rd := bus.NewReader(r, bus.Limits{})
		for {
			m, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var rec *bus.RecordError
			if errors.As(err, &rec) {
				bad++
				fmt.Fprintf(stderr, "%s: %v\n", name, err)
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				break
			}
			p, err := parseFileMessage(m)
			if err != nil {
				bad++
				fmt.Fprintf(stderr, "%s: message %s: %v (it would go to the dead letters)\n", name, m.String(), err)
				continue
			}
			f := p.Fields(nil)
			if *asJSON {
				if err := enc.Encode(f); err != nil {
					return err
				}
				continue
			}
			if !first {
				fmt.Fprintln(stdout)
			}
			first = false
			fmt.Fprintf(stdout, "%s  %s\n", f.ID, f.Topic)
			f.WriteText(stdout, "  ")
		}
	}
	if bad > 0 {
		errs = append(errs, fmt.Errorf("%d messages could not be read or parsed", bad))
	}
	return errors.Join(errs...)
}

// parseFileMessage parses a message of the file form as the consumer would
// once it is on BUS.
func parseFileMessage(m *bus.Message) (*bus.Parsed, error) {
	nm, err := m.NATSMsg()
	if err != nil {
		return nil, err
	}
	return bus.ParseNATS(nm.Subject, nm.Header, nm.Data)
}
