// Package cli is fmn's command line: the commands that start roles (dev,
// serve, bridge) and the operators' and admins' commands (publish,
// inspect, rules, import, replay, dlq, stats, migrate, version). Each command binds
// only the settings it uses (config.Bind with its groups), so that
// `fmn CMD -h` lists those, with examples. The roles themselves are booted
// by package app; cmd/fmn is a thin shell around Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/fmn-project/fmn/app"

	"github.com/fmn-project/fmn/config"
)

const usage = `fmn routes a message bus to people's email, IRC and Matrix.

Usage:
  fmn dev                       run everything in one process (embedded NATS, local services)
  fmn serve --roles R1,R2,...   run the given roles against external services
  fmn bridge amqp               copy the AMQP bus (FMN_AMQP_URL) into the BUS stream
  fmn publish FILE... | -       publish fedora-messaging messages (JSON or JSON Lines)
  fmn inspect FILE... | -       show what fmn reads from messages: schema, extractor, every field
  fmn replay bus|notify|rules|stats  replay history: what rules did, why not, resend
  fmn dlq list|show|retry|drop  work the dead letters
  fmn stats [VIEW]              statistics for admins (tables, or --json)
  fmn rules add|list|show|delete  manage rules from the command line
  fmn import fmn3 --from URL    import the rules of a running FMN v3 (its PostgreSQL), keeping their ids
  fmn migrate                   apply the database schema
  fmn version                   print the version

Roles: ` + "api, consumer, projector, stats, sender-email, sender-matrix, sender-irc, amqp-publisher" + `

Every command takes the settings as flags or FMN_* environment variables;
run "fmn COMMAND -h" to list them.
`

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "dev":
		err = cmdDev(ctx, rest, stdout, stderr)
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr)
	case "bridge":
		err = cmdBridge(ctx, rest, stdout, stderr)
	case "publish":
		err = cmdPublish(ctx, rest, stdin, stdout, stderr)
	case "inspect":
		err = cmdInspect(ctx, rest, stdin, stdout, stderr)
	case "replay":
		err = cmdReplay(ctx, rest, stdin, stdout, stderr)
	case "dlq":
		err = cmdDLQ(ctx, rest, stdin, stdout, stderr)
	case "stats":
		err = cmdStats(ctx, rest, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, rest, stdout, stderr)
	case "rules":
		err = cmdRules(ctx, rest, stdin, stdout, stderr)
	case "import":
		err = cmdImport(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "fmn", app.VersionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "fmn: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "fmn "+cmd+":", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// flags parses a command's settings (only those of the groups in
// settings, with the environment as fallback for the ones no flag gives)
// and whatever extra registers. examples are appended to -h.
func flags(name string, settings config.Group, args []string, stderr io.Writer, examples string, extra func(fs *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	cfg := config.Defaults()
	fs := flag.NewFlagSet("fmn "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var st *config.Settings
	if settings != 0 {
		st = config.Bind(fs, &cfg, settings)
	}
	if extra != nil {
		extra(fs)
	}
	unused := config.AcceptOthers(fs, settings)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of fmn %s:\n", name)
		// What the command uses: its settings and its own flags.
		shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		shown.SetOutput(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if !unused[f.Name] {
				shown.Var(f.Value, f.Name, f.Usage)
				shown.Lookup(f.Name).DefValue = f.DefValue
			}
		})
		shown.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(stderr, "\nExamples:\n%s", examples)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, fs, err
		}
		return cfg, fs, errUsage
	}
	if st != nil {
		if err := st.Load(fs, os.Getenv); err != nil {
			return cfg, fs, fmt.Errorf("bad configuration:\n%w", err)
		}
	}
	return cfg, fs, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
