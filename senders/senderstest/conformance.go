package senderstest

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/wire"
)

// Peer is one sender implementation and the real peer it delivers to, as
// RunConformance needs them. Every field is required.
//
// To plug in a channel, write a TestConformance in the sender's package
// that starts its peer (an SMTP server, an IRC server with services, a
// homeserver) and calls RunConformance with a setup that returns a Peer;
// see senders/email/conformance_test.go and senders/matrix. For IRC:
// NewSender connects with the right SASL password, NewSenderWithWrongSecret
// with a wrong one; Recipient is a nick that is connected (the test's
// reading client), UnknownRecipient a nick nobody uses; Received is the
// PRIVMSG texts that client got from the bot; Break stops the ircd (or
// makes a proxy refuse connections) until repair is called.
type Peer struct {
	// NewSender returns a sender with working credentials, closed when the
	// test ends. Each call is a new sender, as after a restart.
	NewSender func(t *testing.T, logger *slog.Logger) senders.Sender
	// NewSenderWithWrongSecret returns a sender whose password or token
	// the peer refuses.
	NewSenderWithWrongSecret func(t *testing.T, logger *slog.Logger) senders.Sender
	// Secrets are the right and the wrong secret, in every form they
	// travel in (base64 for SASL, say): none may appear in an error, a
	// dead-letter reason or a log line.
	Secrets []string
	// Recipient is an address the peer delivers to; UnknownRecipient one
	// it refuses for good (no such mailbox, nick, user).
	Recipient, UnknownRecipient string
	// Notification returns a notification of the sender's channel with
	// the given id and address whose delivered text is text (the body of
	// an email, the line of a chat message).
	Notification func(id, address, text string) *notification.Notification
	// Received is every text Recipient got so far, oldest first.
	Received func(t *testing.T) []string
	// Break makes the peer fail transiently (down, 5xx, 4xx) until repair
	// is called.
	Break func(t *testing.T) (repair func())
}

// ConformanceTimeout bounds each wait of RunConformance.
const ConformanceTimeout = 30 * time.Second

// Texts the conformance suite sends: ASCII, then Latin-1 and beyond, then
// characters that a careless encoder mangles.
var conformanceTexts = []string{
	"[bodhi] alice commented on FEDORA-2024-1 https://bodhi.example.org/updates/FEDORA-2024-1",
	"[koji] Build zoë-1.0-1.fc40 ✓ complete — “works” https://koji.example.org/b/1",
	"[pagure] <b>not html</b> & 100% =?utf-8?q?not-encoded?= \\n stays",
}

// RunConformance checks the contract every sender keeps with senders.Run,
// against a real peer: it delivers the exact text, it classifies a failure
// that no retry fixes as permanent (dead-lettered at once, with a reason
// naming the recipient), a transient failure is retried until it passes
// and nothing arrives twice, and no secret reaches an error, a reason or a
// log line. setup is called once per subtest; subtests run in parallel.
func RunConformance(t *testing.T, setup func(t *testing.T) *Peer) {
	t.Run("DeliversExactText", func(t *testing.T) {
		t.Parallel()
		p := setup(t)
		logger, logs := Logger()
		n := fmntest.StartNATS(t)
		s := p.NewSender(t, logger)
		channel := s.Channel()
		out := Start(t, n, s, FastOptions(5), logger)
		for i, text := range conformanceTexts {
			Publish(t, n, channel, p.Notification(fmt.Sprintf("exact-%d-%s", i, fmntest.RandomID()), p.Recipient, text))
		}
		waitReceived(t, p, conformanceTexts)
		Settled(t, n, channel)
		if got := out.Count(wire.Sent); got != len(conformanceTexts) || len(out.All()) != got {
			t.Errorf("outcomes %+v, want %d sent", out.All(), len(conformanceTexts))
		}
		if dl := DeadLetters(t, n, channel); len(dl) != 0 {
			t.Errorf("%d dead letters", len(dl))
		}
		noSecrets(t, p, "log", logs.String())
	})

	t.Run("PermanentFailureIsDeadLettered", func(t *testing.T) {
		t.Parallel()
		p := setup(t)
		logger, logs := Logger()
		s := p.NewSender(t, logger)
		channel := s.Channel()

		err := s.Send(fmntest.Context(t), p.Notification("direct-"+fmntest.RandomID(), p.UnknownRecipient, conformanceTexts[0]))
		if !senders.IsPermanent(err) {
			t.Errorf("Send to %s = %v, want a permanent error", p.UnknownRecipient, err)
		}

		n := fmntest.StartNATS(t)
		out := Start(t, n, s, FastOptions(5), logger)
		Publish(t, n, channel, p.Notification("unknown-"+fmntest.RandomID(), p.UnknownRecipient, conformanceTexts[0]))
		Publish(t, n, channel, p.Notification("known-"+fmntest.RandomID(), p.Recipient, conformanceTexts[1]))
		dl := WaitDeadLetters(t, n, channel, 1)[0]
		waitReceived(t, p, conformanceTexts[1:2])
		Settled(t, n, channel)
		reason := dl.Header.Get(wire.HeaderReason)
		if !strings.HasPrefix(reason, "permanent failure: ") || !strings.Contains(reason, p.UnknownRecipient) {
			t.Errorf("dead letter reason %q does not say it failed for good for %s", reason, p.UnknownRecipient)
		}
		if got := dl.Header.Get(wire.HeaderDeliveries); got != "1" {
			t.Errorf("a permanent failure was tried %s times", got)
		}
		// Outcomes are reported once settled; the settlement can be seen
		// first.
		deadline := time.Now().Add(fmntest.Scaled(5 * time.Second))
		for (out.Count(wire.Dead) != 1 || out.Count(wire.Sent) != 1) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if out.Count(wire.Dead) != 1 || out.Count(wire.Sent) != 1 || out.Count(wire.Retry) != 0 {
			t.Errorf("outcomes %+v", out.All())
		}
		noSecrets(t, p, "log", logs.String())
	})

	t.Run("TransientFailureIsRetried", func(t *testing.T) {
		t.Parallel()
		p := setup(t)
		logger, logs := Logger()
		n := fmntest.StartNATS(t)
		s := p.NewSender(t, logger)
		channel := s.Channel()
		repair := p.Break(t)
		out := Start(t, n, s, FastOptions(1000), logger)
		Publish(t, n, channel, p.Notification("later-"+fmntest.RandomID(), p.Recipient, conformanceTexts[1]))
		fmntest.Eventually(t, ConformanceTimeout, "two failed attempts", func() bool { return out.Count(wire.Retry) >= 2 })
		repair()
		waitReceived(t, p, conformanceTexts[1:2])
		Settled(t, n, channel)
		if dl := DeadLetters(t, n, channel); len(dl) != 0 {
			t.Errorf("a transient failure was dead-lettered: %s", dl[0].Header.Get(wire.HeaderReason))
		}
		for _, o := range out.All() {
			if o.Result == wire.Retry && o.Reason == "" {
				t.Errorf("retry without a reason: %+v", o)
			}
		}
		if out.Count(wire.Sent) != 1 {
			t.Errorf("outcomes %+v", out.All())
		}
		noSecrets(t, p, "log", logs.String())
	})

	t.Run("NeverLeaksSecret", func(t *testing.T) {
		t.Parallel()
		p := setup(t)
		logger, logs := Logger()
		s := p.NewSenderWithWrongSecret(t, logger)
		channel := s.Channel()

		err := s.Send(fmntest.Context(t), p.Notification("direct-"+fmntest.RandomID(), p.Recipient, conformanceTexts[0]))
		if err == nil {
			t.Fatal("Send with a wrong secret succeeded")
		}
		if senders.IsPermanent(err) {
			t.Errorf("a refused secret is the configuration's fault, not the notification's: want transient, got %v", err)
		}
		noSecrets(t, p, "Send error", fmt.Sprintf("%v | %+v | %#v | %s", err, err, err, err))

		n := fmntest.StartNATS(t)
		out := Start(t, n, s, FastOptions(2), logger)
		Publish(t, n, channel, p.Notification("queued-"+fmntest.RandomID(), p.Recipient, conformanceTexts[0]))
		dl := WaitDeadLetters(t, n, channel, 1)[0]
		Settled(t, n, channel)
		noSecrets(t, p, "dead letter reason", dl.Header.Get(wire.HeaderReason))
		for _, o := range out.All() {
			noSecrets(t, p, "outcome reason", o.Reason)
		}
		noSecrets(t, p, "log", logs.String())
		if got := p.Received(t); len(got) != 0 {
			t.Errorf("delivered with a wrong secret: %q", got)
		}
	})
}

// waitReceived waits until the recipient got exactly want, in order, and
// checks that nothing more arrives with the next look.
func waitReceived(t *testing.T, p *Peer, want []string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(ConformanceTimeout)
	for {
		got = p.Received(t)
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received\n %q\nwant exactly\n %q", got, want)
	}
}

func noSecrets(t *testing.T, p *Peer, where, text string) {
	t.Helper()
	for _, s := range p.Secrets {
		NoSecret(t, s, where, text)
	}
}
