package email_test

import (
	"encoding/base64"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
	"github.com/fmn-project/fmn/senders/senderstest"
)

// TestConformance runs the suite every sender passes, against the go-smtp
// server with STARTTLS and AUTH.
func TestConformance(t *testing.T) {
	t.Parallel()
	const wrong = "Wr0ng-Pa55word-conformance"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	senderstest.RunConformance(t, func(t *testing.T) *senderstest.Peer {
		r := fmntest.StartSMTPWith(t, relayUser, relayPass, fmntest.SMTPOptions{})
		const rcpt, unknown = "alice@example.org", "nobody@example.org"
		r.RejectRcpt(unknown, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox " + unknown + " does not exist"})
		return &senderstest.Peer{
			NewSender: func(t *testing.T, logger *slog.Logger) senders.Sender {
				return newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", ""), logger)
			},
			NewSenderWithWrongSecret: func(t *testing.T, logger *slog.Logger) senders.Sender {
				return newSender(t, config(t, r.Addr(), "smtp", relayUser+":"+wrong+"@", ""), logger)
			},
			Secrets: []string{
				relayPass, b64(relayPass), b64("\x00" + relayUser + "\x00" + relayPass),
				wrong, b64(wrong), b64("\x00" + relayUser + "\x00" + wrong),
			},
			Recipient:        rcpt,
			UnknownRecipient: unknown,
			Notification: func(id, address, text string) *notification.Notification {
				n := sample(id, address)
				n.Email.Body = text
				return n
			},
			Received: func(t *testing.T) []string {
				var out []string
				for _, m := range r.Mails() {
					if slices.Contains(m.To, rcpt) {
						body := strings.ReplaceAll(parse(t, m.Data).body, "\r\n", "\n")
						out = append(out, strings.TrimSuffix(body, "\n"))
					}
				}
				return out
			},
			Break: func(t *testing.T) func() {
				r.RejectRcpt(rcpt, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"})
				return func() { r.RejectRcpt(rcpt, nil) }
			},
		}
	})
}
