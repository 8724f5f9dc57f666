package cli_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Issue 15, item 5: commands look the streams up and never change them,
// whatever their own settings say. The deployment's streams here differ
// from the defaults (max ages, duplicate window, a size cap an operator
// set); an operator runs commands without those settings.
func TestCommandsLeaveStreamsAlone(t *testing.T) {
	t.Parallel()
	o := setupOps(t, false)
	server := o.nats.Streams
	server.BusMaxAge = 36 * time.Hour
	server.NotifyMaxAge = 3 * 24 * time.Hour
	server.DLQMaxAge = 90 * 24 * time.Hour
	server.Duplicates = 20 * time.Minute
	if err := streams.Ensure(o.ctx, o.nats.JS, server, fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatal(err)
	}
	st, err := o.nats.JS.Stream(o.ctx, server.Bus)
	if err != nil {
		t.Fatal(err)
	}
	capped := st.CachedInfo().Config
	capped.MaxBytes = 1 << 30
	if _, err := o.nats.JS.UpdateStream(o.ctx, capped); err != nil {
		t.Fatal(err)
	}
	configs := func() map[string]jetstream.StreamConfig {
		out := map[string]jetstream.StreamConfig{}
		for _, name := range server.Names() {
			st, err := o.nats.JS.Stream(o.ctx, name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			out[name] = st.CachedInfo().Config
		}
		return out
	}
	before := configs()

	msg := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(msg, []byte(`{"id": "3f0c8d2e-6d0a-4c55-9a55-0d7f1a7e8b01", "topic": "org.fedoraproject.prod.bodhi.update.comment", "headers": {}, "body": {"agent": "bob"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ words, args []string }{
		{[]string{"dlq", "list"}, nil},
		{[]string{"publish"}, []string{msg}},
		{[]string{"rules", "list"}, []string{"alice"}},
		{[]string{"replay", "bus"}, []string{"--since", "1h"}},
		{[]string{"replay", "rules"}, []string{"--user", "alice"}},
	} {
		words := append(append(slices.Clone(c.words), o.flags...), c.args...)
		code, out, errs := runCLI(t, "", words...)
		if code != 0 {
			t.Errorf("fmn %s: exit %d\n%s\n%s", strings.Join(words, " "), code, out, errs)
		}
	}
	after := configs()
	for name, was := range before {
		if !reflect.DeepEqual(after[name], was) {
			t.Errorf("stream %s changed by commands:\n  was %+v\n  now %+v", name, was, after[name])
		}
	}
}

// A command against a NATS whose streams do not exist creates none, and
// says who does.
func TestCommandWithoutStreams(t *testing.T) {
	t.Parallel()
	srv, err := streams.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	code, _, errs := runCLI(t, "", "dlq", "list", "--nats-url", srv.URL())
	if code != 1 || !strings.Contains(errs, "not found") || !strings.Contains(errs, "fmn serve") {
		t.Errorf("dlq list without streams: exit %d, %s", code, errs)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	names := js.StreamNames(fmntest.Context(t))
	for name := range names.Name() {
		t.Errorf("stream %s created by a command", name)
	}
}
