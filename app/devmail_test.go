package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// `fmn dev` without FMN_SMTP_URL mails its local sink, which saves each
// email as a file; without FMN_IRC_URL and FMN_MATRIX_URL those senders
// wait, and the process runs.
func TestDevMailSink(t *testing.T) {
	t.Parallel()
	o := setupOps(t, false)
	cfg := o.cfg
	cfg.DataDir = t.TempDir()
	ctx, cancel := context.WithCancel(o.ctx)
	started := make(chan *app.System, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.RunSystem(ctx, cfg, []string{"projector", "consumer", "sender-email", "sender-matrix", "sender-irc"},
			app.Options{Dev: true, Log: quietLog(t), Started: func(s *app.System) { started <- s }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	var sys *app.System
	select {
	case sys = <-started:
	case err := <-done:
		t.Fatalf("system did not start: %v", err)
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("system did not start within 20s")
	}
	if sys.MailDir != filepath.Join(cfg.DataDir, "mail") {
		t.Fatalf("mail directory %q", sys.MailDir)
	}
	r := rules.Rule{Name: "mine", TrackingRule: relatedEvents, GenerationRules: []rules.GenerationRule{{
		Destinations: []rules.Destination{{Protocol: "email", Address: "alice@example.org"}}}}}
	if _, err := o.cmds.Create(o.ctx, "alice", r, rulelog.Meta{Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	publish := func() {
		m := nats.NewMsg("bus.org.fedoraproject.prod.bodhi.update.comment")
		m.Header.Set("Nats-Msg-Id", uuid.NewString())
		m.Header.Set("fedora_messaging_schema", "base.message")
		m.Header.Set("fedora_messaging_severity", "20")
		m.Header.Set("fedora_messaging_user_alice", "true")
		m.Data, _ = json.Marshal(map[string]any{"agent_name": "carol", "summary": "hello alice"})
		if _, err := o.nats.JS.PublishMsg(o.ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// The matcher follows the projection within a second: publish until a
	// mail is saved.
	fmntest.Eventually(t, 20*time.Second, "an email saved by the dev sink", func() bool {
		files, _ := filepath.Glob(filepath.Join(sys.MailDir, "*.eml"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "alice@example.org") {
				return true
			}
		}
		publish()
		time.Sleep(200 * time.Millisecond)
		return false
	})
}
