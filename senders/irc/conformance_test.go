package irc_test

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"testing"

	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/senderstest"
)

// TestConformance runs the suite every sender passes, against InspIRCd
// with Anope services (SASL PLAIN over TLS). fmn reaches the server
// through a gate that Break shuts, cutting the connection.
func TestConformance(t *testing.T) {
	t.Parallel()
	const wrong = "Wr0ng-Pa55word-conformance"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	senderstest.RunConformance(t, func(t *testing.T) *senderstest.Peer {
		d := startIRCd(t, ircdOptions{})
		g := startGate(t, d.tls)
		alice := d.connectClient(t, "alice")
		url := func(pass string) string {
			return fmt.Sprintf("ircs://%s:%s@127.0.0.1:%d?ca_file=%s&rate=50&burst=20&connect_wait=2s", botNick, pass, g.port, d.caFile)
		}
		return &senderstest.Peer{
			NewSender: func(t *testing.T, logger *slog.Logger) senders.Sender {
				return newSender(t, config(t, url(botPass)), logger)
			},
			NewSenderWithWrongSecret: func(t *testing.T, logger *slog.Logger) senders.Sender {
				return newSender(t, config(t, url(wrong)), logger)
			},
			Secrets: []string{
				botPass, b64(botPass), b64(botNick + "\x00" + botNick + "\x00" + botPass), b64("\x00" + botNick + "\x00" + botPass),
				wrong, b64(wrong), b64(botNick + "\x00" + botNick + "\x00" + wrong), b64("\x00" + botNick + "\x00" + wrong),
			},
			Recipient:        "alice",
			UnknownRecipient: "ghost",
			Notification:     sample,
			Received:         func(t *testing.T) []string { return texts(alice.received()) },
			Break: func(t *testing.T) func() {
				g.shut()
				return g.open
			},
		}
	})
}
