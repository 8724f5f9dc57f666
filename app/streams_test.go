package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/app"
)

// The banner names the command that runs (issue 15, item 8: `fmn serve`
// said "fmn dev is running").
func TestServeBanner(t *testing.T) {
	t.Parallel()
	o := setupOps(t, false)
	ctx, cancel := context.WithCancel(o.ctx)
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- app.RunSystem(ctx, o.cfg, []string{"projector"}, app.Options{
			Log: quietLog(t), Out: &out, Command: "serve", Started: func(*app.System) { cancel() },
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(first, "fmn serve is running roles [projector] (version ") {
		t.Errorf("banner %q", first)
	}
}
