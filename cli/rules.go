package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"

	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

const rulesUsage = `usage:
  fmn rules add USER FILE|-     create a rule (FMN v3 JSON) for USER
  fmn rules list USER           list USER's rules
  fmn rules show ID             print one rule as JSON
  fmn rules delete USER ID      delete one of USER's rules
Rules go through the RULES event log like the API's changes, so a running
fmn (fmn dev) picks them up at once.
`

// cmdRules is an operator's way to manage rules without the web API (and
// the README's way to try fmn out).
func cmdRules(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return errUsage
	}
	sub := args[0]
	cfg, fs, err := flags("rules "+sub, config.Connection|config.Postgres, args[1:], stderr,
		"  FMN_NATS_URL=nats://127.0.0.1:4244 fmn rules add alice testdata/sample-rule.json\n  FMN_NATS_URL=nats://127.0.0.1:4244 fmn rules list alice\n", nil)
	if err != nil {
		return err
	}
	pos := fs.Args()
	need := map[string]int{"add": 2, "list": 1, "show": 1, "delete": 2}
	n, ok := need[sub]
	if !ok || len(pos) != n {
		fmt.Fprint(stderr, rulesUsage)
		return errUsage
	}
	if cfg.NATSURL == "" {
		return errors.New("FMN_NATS_URL: must be set (fmn dev prints the URL of its embedded server)")
	}
	env := &app.Env{Cfg: cfg, Log: newLogger(stderr, cfg.LogLevel)}
	defer env.Close()
	if err := env.ConnectNATS(ctx, app.LookupStreams); err != nil {
		return err
	}
	if err := env.ConnectDB(ctx, false); err != nil {
		return err
	}
	cmds, err := rulelog.NewCommands(ctx, env.JS, env.DB, rulelog.CommandsConfig{Stream: cfg.Streams.Rules, Logger: env.Log})
	if err != nil {
		return err
	}
	defer cmds.Close()
	meta := rulelog.Meta{Actor: "fmn-cli"}
	switch sub {
	case "add":
		var data []byte
		if pos[1] == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(pos[1])
		}
		if err != nil {
			return err
		}
		var r rules.Rule
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("%s: not a rule: %w", pos[1], err)
		}
		sr, err := cmds.Create(ctx, pos[0], r, meta)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created rule %d for %s\n", sr.ID, pos[0])
	case "list":
		list, err := cmds.Store().UserRules(ctx, pos[0])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTRACKING\tDISABLED\tLAST WEEK")
		for _, r := range list {
			name := r.Name
			if name == "" {
				name = "(unnamed rule)" // a name is optional, as in FMN
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%d\n", r.ID, name, r.TrackingRule.Name, r.Disabled, r.GeneratedLastWeek)
		}
		return tw.Flush()
	case "show":
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			return fmt.Errorf("rule id %q is not a number", pos[0])
		}
		r, err := cmds.Store().Rule(ctx, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "delete":
		id, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil {
			return fmt.Errorf("rule id %q is not a number", pos[1])
		}
		if err := cmds.Delete(ctx, pos[0], id, nil, meta); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted rule %d\n", id)
	}
	return nil
}
