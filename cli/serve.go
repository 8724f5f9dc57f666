package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
)

// The commands that run roles take every setting but the bridge's queue.
const serverSettings = config.All &^ config.Bridge

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := flags("dev", serverSettings, args, stderr, "  fmn dev\n  FMN_SMTP_URL=smtp://127.0.0.1:2525 fmn dev\n  FMN_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ fmn dev   # also publishes FMN's rule messages\n", nil)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	return app.RunSystem(ctx, cfg, app.DevRoles(cfg), app.Options{Dev: true, Log: log, Out: stdout, Command: "dev"})
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rolesFlag string
	cfg, _, err := flags("serve", serverSettings, args, stderr,
		"  fmn serve --roles api\n  fmn serve --roles consumer,projector,stats\n  fmn serve --roles sender-email\n  FMN_AMQP_URL=amqps://user:pass@rabbitmq.example.org/%2Fpubsub fmn serve --roles amqp-publisher\n",
		func(fs *flag.FlagSet) {
			fs.StringVar(&rolesFlag, "roles", "", "comma-separated roles: "+strings.Join(app.AllRoles, ", "))
		})
	if err != nil {
		return err
	}
	roles, err := app.ParseRoles(rolesFlag)
	if err != nil {
		return err
	}
	if cfg.MetricsAddr == "" && !slices.Contains(roles, "api") {
		// Without the API nothing else would listen: serve /metrics and
		// /healthz/* on the default address.
		cfg.MetricsAddr = config.DefaultMetricsAddr
	}
	log := newLogger(stderr, cfg.LogLevel)
	return app.RunSystem(ctx, cfg, roles, app.Options{Log: log, Out: stdout, Command: "serve"})
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := flags("migrate", config.Postgres|config.Log, args, stderr, "  FMN_DATABASE_URL=postgres://fmn@db/fmn fmn migrate\n", nil)
	if err != nil {
		return err
	}
	env := &app.Env{Cfg: cfg, Log: newLogger(stderr, cfg.LogLevel)}
	defer env.Close()
	if err := env.ConnectDB(ctx, true); err != nil {
		return err
	}
	if err := app.Migrate(ctx, env.DB); err != nil {
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
