package digest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/digest"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/email"
	"github.com/fmn-project/fmn/senders/lease"
	"github.com/fmn-project/fmn/senders/senderstest"
	"github.com/fmn-project/fmn/streams"
)

// The sender process of TestHeldSurviveSIGKILL is this test binary run
// again: TestSenderHelperProcess does nothing unless fmntest.StartProcess started it,
// and then runs an email sender with digests until it is killed.
const (
	envNATS = "FMN_DIGEST_NATS_URL"
	envSMTP = "FMN_DIGEST_SMTP_URL"
	// crashAge is the test's digest max_age: shorter than the API allows,
	// so that the test takes seconds.
	crashAge = 6
)

// TestSenderHelperProcess is the sender process of TestHeldSurviveSIGKILL,
// not a test of its own.
func TestSenderHelperProcess(t *testing.T) {
	fmntest.RunProcess(t, runSenderHelper)
}

// runSenderHelper wires an email sender as `fmn serve --roles
// sender-email` does: senders.Run told the settings, holding for digests,
// its flusher alongside under the digest lease.
func runSenderHelper() error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	nc, err := nats.Connect(os.Getenv(envNATS))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg, err := email.NewConfig(os.Getenv(envSMTP), "notifications@fmn.example.org")
	if err != nil {
		return err
	}
	s, err := email.New(cfg, log)
	if err != nil {
		return err
	}
	src := &settings{}
	src.set(delivery.Setting{Protocol: "email", Address: "bob@example.org", Digest: every(crashAge, 100)})
	sc := streams.Defaults()
	opts := senderstest.FastOptions(5)
	opts.Settings = src
	opts.Hold = digest.Holder(js, sc)
	opts.Alongside = digest.Alongside(js, sc, src, senders.NewKVSentLog(js, senders.KVSentLogConfig{}), site(),
		digest.Options{Every: 200 * time.Millisecond}, lease.Config{TTL: 3 * time.Second}, log)
	fmt.Printf("pid %d: sending\n", os.Getpid())
	return senders.Run(ctx, js, sc, s, opts, log)
}

// startHelper starts a sender process (TestSenderHelperProcess) on n and r.
func startHelper(t *testing.T, n *fmntest.NATS, r *fmntest.SMTPServer, name string) *fmntest.Process {
	t.Helper()
	return fmntest.StartProcess(t, name, "TestSenderHelperProcess", envNATS+"="+n.URL,
		envSMTP+"="+"smtp://"+relayUser+":"+relayPass+"@"+r.Addr()+"?ca_file="+r.CAFile(t))
}

// TestHeldSurviveSIGKILL: a sender process holding notifications for a
// digest is killed (SIGKILL) before the digest is due and stays down past
// its deadline; the process started next sends the digest at once, once,
// with every held notification.
func TestHeldSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts sender processes")
	}
	n := fmntest.StartNATS(t)
	r := fmntest.StartSMTP(t, relayUser, relayPass)
	a := startHelper(t, n, r, "first")
	const count = 5
	for i := range count {
		senderstest.Publish(t, n, email.Channel, held(fmt.Sprint(i), "bob@example.org"))
	}
	fmntest.Eventually(t, 30*time.Second, "notifications held", func() bool { return heldCount(t, n) == count })
	heldAt := time.Now()
	a.Kill(t)
	if len(r.Mails()) != 0 {
		t.Fatalf("%d mails before the digest was due", len(r.Mails()))
	}
	// Down past the deadline.
	time.Sleep(time.Until(heldAt.Add(crashAge*time.Second + time.Second)))
	restarted := time.Now()
	startHelper(t, n, r, "second")
	fmntest.Eventually(t, 30*time.Second, "digest sent", func() bool { return len(r.Mails()) > 0 })
	t.Logf("digest sent %s after the restart (the dead holder's lease expires within 3s)", time.Since(restarted).Round(time.Millisecond))
	fmntest.Eventually(t, 10*time.Second, "digest purged", func() bool { return heldCount(t, n) == 0 })
	time.Sleep(time.Second) // a second digest would come now
	ms := mails(t, r, "bob@example.org")
	if len(ms) != 1 || len(r.Mails()) != 1 {
		t.Fatalf("%d mails, want one digest", len(r.Mails()))
	}
	if ms[0].subject != fmt.Sprintf("[fmn] %d notifications", count) {
		t.Errorf("subject %q", ms[0].subject)
	}
	for i := range count {
		if !strings.Contains(ms[0].body, fmt.Sprintf("ID: msg-%d\n", i)) {
			t.Errorf("digest lacks notification %d:\n%s", i, ms[0].body)
		}
	}
	senderstest.Settled(t, n, email.Channel)
}
