package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmn3"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/jackc/pgx/v5/pgxpool"
)

const importUsage = `usage:
  fmn import fmn3 --from POSTGRES_URL [--dry-run]
                                import the rules of a running FMN v3 (its PostgreSQL database)
Run "fmn import fmn3 -h" for its settings.
`

// cmdImport brings another system's rules into fmn.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "fmn3" {
		fmt.Fprint(stderr, importUsage)
		return errUsage
	}
	var (
		from   string
		dryRun bool
	)
	cfg, fs, err := flags("import fmn3", config.Connection|config.Postgres, args[1:], stderr,
		"  fmn import fmn3 --dry-run --from postgres://fmn@db.example.org/fmn   # what it would do, every rule it refuses and why\n"+
			"  FMN_NATS_URL=nats://127.0.0.1:4244 fmn import fmn3 --from postgres://fmn@db.example.org/fmn\n"+
			"Run it before users change rules in fmn (the RULES stream empty), with fmn's projector running (fmn dev,\n"+
			"or fmn serve --roles projector); it keeps FMN's rule ids, and running it again adds nothing.\n",
		func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "the FMN v3 database to read (PostgreSQL URL; it is only read) (FMN_IMPORT_FROM)")
			fs.BoolVar(&dryRun, "dry-run", false, "say what would be imported and which rules fmn refuses, and change nothing")
		})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, importUsage)
		return errUsage
	}
	if from == "" {
		from = os.Getenv("FMN_IMPORT_FROM")
	}
	if from == "" {
		return fmn3.ErrNoDatabase
	}
	if cfg.NATSURL == "" {
		return errors.New("FMN_NATS_URL: must be set (fmn dev prints the URL of its embedded server)")
	}
	src, err := pgxpool.New(ctx, from)
	if err != nil {
		return fmt.Errorf("--from: %s", redact.Text(err.Error()))
	}
	defer src.Close()
	env := &app.Env{Cfg: cfg, Log: newLogger(stderr, cfg.LogLevel)}
	defer env.Close()
	if err := env.ConnectNATS(ctx, app.LookupStreams); err != nil {
		return err
	}
	if err := env.ConnectDB(ctx, false); err != nil {
		return err
	}
	start := time.Now()
	snap, err := fmn3.Read(ctx, src)
	if err != nil {
		return fmt.Errorf("--from %s: %s", redact.URL(from), redact.Text(err.Error()))
	}
	fmt.Fprintf(stdout, "read %d rules of %d users from FMN v3 in %s\n", len(snap.Rules), snap.Users, time.Since(start).Round(time.Millisecond))
	rep, err := fmn3.Import(ctx, fmn3.Config{
		JS: env.JS, Stream: cfg.Streams.Rules, DB: env.DB, DryRun: dryRun, Out: stdout,
	}, snap)
	if err != nil {
		return err
	}
	rep.Print(stdout)
	if rep.Blocked != "" {
		return errors.New("the import would fail (see above)")
	}
	if !dryRun {
		fmt.Fprintf(stdout, "done in %s\n", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
