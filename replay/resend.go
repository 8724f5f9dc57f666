package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Resend publishes notifications on NOTIFY again as one deliberate,
// traceable run. Every message gets the Nats-Msg-Id
// resend:<run>:<notification id> — new, so NOTIFY's deduplication does not
// swallow it, and the same within the run, so a retried run publishes
// nothing twice — and the headers wire.HeaderResendRun (the run),
// HeaderResendBy (who) and HeaderResendOf (what was resent). The
// notification itself is unchanged: its id, and so the email Message-ID,
// stay those of the original, which lets a recipient recognise the resend.
type Resend struct {
	// RunID names the run (NewRunID).
	RunID string
	// By says who ran it (an operator's login).
	By string
	// Stream is the NOTIFY stream's name (default streams.Defaults().Notify).
	Stream string
}

// Resendable is a notification to publish again, and where it came from
// ("BUS:<seq>" for a replayed bus message, "NOTIFY:<seq>" for a stored
// notification).
type Resendable struct {
	N      *notification.Notification
	Source string
}

// ResendReport counts what a run published.
type ResendReport struct {
	RunID     string
	Published int
	// Duplicates were already published by this run (a retried run).
	Duplicates int
}

// NewRunID returns a run id: the time, then random hex, such as
// 20261123T101500Z-3f9a2c.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ResendMsgID is the Nats-Msg-Id of a notification resent in a run.
func ResendMsgID(runID, notificationID string) string {
	return "resend:" + runID + ":" + notificationID
}

// Publish publishes the notifications and waits for every acknowledgement.
// Progress, when set, counts the acknowledged ones.
func (r Resend) Publish(ctx context.Context, js jetstream.JetStream, list []Resendable, pr *Progress) (ResendReport, error) {
	rep := ResendReport{RunID: r.RunID}
	if r.RunID == "" {
		return rep, fmt.Errorf("resend without a run id")
	}
	stream := r.Stream
	if stream == "" {
		stream = streams.Defaults().Notify
	}
	pr.SetTotal(uint64(len(list)))
	const window = 512
	futures := make([]jetstream.PubAckFuture, 0, window)
	wait := func() error {
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				if ack.Duplicate {
					rep.Duplicates++
				} else {
					rep.Published++
				}
				pr.Add(1)
			case err := <-f.Err():
				return fmt.Errorf("resend %s: %w", f.Msg().Header.Get(wire.HeaderMsgID), err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		return nil
	}
	for _, x := range list {
		data, err := json.Marshal(x.N)
		if err != nil {
			return rep, err
		}
		m := nats.NewMsg(wire.NotifySubjectFor(x.N.Protocol, x.N.User))
		m.Header.Set(wire.HeaderResendRun, r.RunID)
		if r.By != "" {
			m.Header.Set(wire.HeaderResendBy, r.By)
		}
		if x.Source != "" {
			m.Header.Set(wire.HeaderResendOf, x.Source)
		}
		m.Data = data
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(ResendMsgID(r.RunID, x.N.ID)), jetstream.WithExpectStream(stream))
		if err != nil {
			return rep, fmt.Errorf("resend %s: %w", x.N.ID, err)
		}
		futures = append(futures, f)
		if len(futures) == window {
			if err := wait(); err != nil {
				return rep, err
			}
		}
	}
	return rep, wait()
}
