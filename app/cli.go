// Package app wires fmn's roles and commands. cmd/fmn is a thin shell
// around Main so tests can boot the whole system in-process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

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
  fmn migrate                   apply the database schema
  fmn version                   print the version

Roles: ` + "api, consumer, projector, stats, sender-email, sender-matrix, sender-irc" + `

Every command takes the settings as flags or FMN_* environment variables;
run "fmn COMMAND -h" to list them.
`

// AllRoles are the roles `fmn dev` runs.
var AllRoles = []string{"projector", "consumer", "stats", "sender-email", "sender-matrix", "sender-irc", "api"}

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
	case "version", "--version":
		fmt.Fprintln(stdout, "fmn", versionString())
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

// flags parses the common settings plus whatever extra registers, with the
// environment as fallback. examples are appended to -h.
func flags(name string, args []string, stderr io.Writer, examples string, extra func(fs *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	cfg := config.Defaults()
	fs := flag.NewFlagSet("fmn "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	st := config.Bind(fs, &cfg)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of fmn %s:\n", name)
		fs.PrintDefaults()
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
	if err := st.Load(fs, os.Getenv); err != nil {
		return cfg, fs, fmt.Errorf("bad configuration:\n%w", err)
	}
	return cfg, fs, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func parseRoles(s string) ([]string, error) {
	var roles []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("--roles: unknown role %q (roles: %s)", r, strings.Join(AllRoles, ", "))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return nil, fmt.Errorf("--roles: name at least one of %s", strings.Join(AllRoles, ", "))
	}
	return roles, nil
}

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := flags("dev", args, stderr, "  fmn dev\n  FMN_SMTP_URL=smtp://127.0.0.1:2525 fmn dev\n", nil)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	return RunSystem(ctx, cfg, AllRoles, Options{Dev: true, Log: log, Out: stdout, Command: "dev"})
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rolesFlag string
	cfg, _, err := flags("serve", args, stderr,
		"  fmn serve --roles api\n  fmn serve --roles consumer,projector,stats\n  fmn serve --roles sender-email\n",
		func(fs *flag.FlagSet) {
			fs.StringVar(&rolesFlag, "roles", "", "comma-separated roles: "+strings.Join(AllRoles, ", "))
		})
	if err != nil {
		return err
	}
	roles, err := parseRoles(rolesFlag)
	if err != nil {
		return err
	}
	if cfg.MetricsAddr == "" && !slices.Contains(roles, "api") {
		// Without the API nothing else would listen: serve /metrics and
		// /healthz/* on the default address.
		cfg.MetricsAddr = config.DefaultMetricsAddr
	}
	log := newLogger(stderr, cfg.LogLevel)
	return RunSystem(ctx, cfg, roles, Options{Log: log, Out: stdout, Command: "serve"})
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := flags("migrate", args, stderr, "  FMN_DATABASE_URL=postgres://fmn@db/fmn fmn migrate\n", nil)
	if err != nil {
		return err
	}
	env := &Env{Cfg: cfg, Log: newLogger(stderr, cfg.LogLevel)}
	defer env.Close()
	if err := env.ConnectDB(ctx, true); err != nil {
		return err
	}
	if err := Migrate(ctx, env.DB); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "schema applied")
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
