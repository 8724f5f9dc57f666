package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/app"

	"github.com/fmn-project/fmn/config"
)

// What the operators' and admins' commands (replay, dlq, stats) share:
// their connections, times given on the command line, confirmations, and
// a progress line on a terminal.

// errNotConfirmed ends a command whose confirmation did not come.
var errNotConfirmed = errors.New("not confirmed: nothing was changed")

// operatorEnv connects what an operator's command needs. It wants
// FMN_NATS_URL: starting an embedded server on fmn dev's data directory
// would read (and lock) another process's storage.
func operatorEnv(ctx context.Context, cfg config.Config, stderr io.Writer, db bool) (*app.Env, error) {
	if cfg.NATSURL == "" {
		return nil, errors.New("FMN_NATS_URL: must be set (fmn dev prints the URL of its embedded server)")
	}
	env := &app.Env{Cfg: cfg, Log: newLogger(stderr, cfg.LogLevel)}
	if err := env.ConnectNATS(ctx, app.LookupStreams); err != nil {
		env.Close()
		return nil, err
	}
	if db {
		if err := env.ConnectDB(ctx, false); err != nil {
			env.Close()
			return nil, err
		}
		if err := app.Migrate(ctx, env.DB); err != nil {
			env.Close()
			return nil, err
		}
	}
	return env, nil
}

// operatorName says who runs a command, for the headers of what it
// publishes: FMN_OPERATOR, else the login name.
func operatorName() string {
	if v := os.Getenv("FMN_OPERATOR"); v != "" {
		return v
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// timeFlag is a point in time given as RFC 3339 ("2026-11-23T10:00:00Z"),
// a date or a date and time in UTC ("2026-11-23", "2026-11-23T10:00"), or
// a duration before now ("90m", "36h", "7d").
type timeFlag struct {
	t   time.Time
	now func() time.Time
}

func (f *timeFlag) String() string {
	if f == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(v string) error {
	t, err := parseWhen(v, f.now)
	if err != nil {
		return err
	}
	f.t = t
	return nil
}

func parseWhen(v string, now func() time.Time) (time.Time, error) {
	if now == nil {
		now = time.Now
	}
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now().Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("not a time: %q (use 2026-11-23T10:00:00Z, 2026-11-23, or a duration before now such as 36h or 7d)", v)
}

// listFlag collects repeated or comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// confirm asks on stderr and reads the answer from stdin; only "yes" (or
// "y") confirms. Without a terminal to ask (no input), nothing is
// confirmed: scripts say --yes.
func confirm(stdin io.Reader, stderr io.Writer, question string) bool {
	fmt.Fprintf(stderr, "%s [yes/no] ", question)
	if stdin == nil {
		fmt.Fprintln(stderr)
		return false
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(stderr)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "yes", "y":
		return true
	}
	return false
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress redraws one line on w every 200ms — count, rate and time
// left — while a long operation runs, when w is a terminal; in scripts
// (w not a terminal) it shows nothing. stop clears the line.
func startProgress(w io.Writer, label string, done, total func() uint64) (stop func()) {
	return startProgressIf(isTerminal(w), w, label, done, total)
}

func startProgressIf(show bool, w io.Writer, label string, done, total func() uint64) (stop func()) {
	if !show {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r\033[K"+progressLine(label, done(), total(), time.Since(start)))
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(quit); wg.Wait() }) }
}

// progressLine renders "label: 12,345 / 1,000,000  98,765/s  1m40s left".
func progressLine(label string, done, total uint64, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(label + ": " + thousands(done))
	if total > 0 {
		b.WriteString(" / " + thousands(total))
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	fmt.Fprintf(&b, "  %s/s", thousands(uint64(rate)))
	if total > done && rate > 0 {
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  %s left", left.Round(time.Second))
	}
	return b.String()
}

// thousands renders n with comma separators.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
