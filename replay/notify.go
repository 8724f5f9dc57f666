package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// NotifyOptions select stored notifications.
type NotifyOptions struct {
	// Stream is the NOTIFY stream's name (default streams.Defaults().Notify).
	Stream string
	// Channel is required: notifications are re-delivered per channel.
	Channel string
	Selection
	// User and Address, when set, keep only that user's, or that
	// address's, notifications.
	User, Address string
	// WithResends keeps notifications that were resends themselves (left
	// out by default, so that a range is not re-delivered twice).
	WithResends bool
	Progress    *Progress
}

// StoredNotification is a notification as NOTIFY holds it.
type StoredNotification struct {
	Seq    uint64
	Stored time.Time
	// ResendRun names the run that published it, when it was a resend.
	ResendRun    string
	Notification *notification.Notification
}

// Source is the notification's place in NOTIFY, for HeaderResendOf.
func (s StoredNotification) Source(stream string) string {
	return fmt.Sprintf("%s:%d", stream, s.Seq)
}

// Notifications calls fn for every stored notification of the selection,
// oldest first. Undecodable messages are counted in the returned number of
// skipped ones.
func Notifications(ctx context.Context, js jetstream.JetStream, o NotifyOptions, fn func(StoredNotification) error) (skipped int, err error) {
	if o.Channel == "" {
		return 0, fmt.Errorf("name a channel")
	}
	if o.Stream == "" {
		o.Stream = streams.Defaults().Notify
	}
	sel := o.Selection
	sel.Subjects = []string{wire.NotifySubject(o.Channel)}
	if o.Channel == "sse" {
		sel.Subjects = []string{wire.NotifySSEAll} // notify.sse.<user>
	}
	err = streams.Scan(ctx, js, o.Stream, sel, streams.ScanOptions{Progress: o.Progress}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		sn := StoredNotification{Seq: md.Sequence.Stream, Stored: md.Timestamp, ResendRun: m.Headers().Get(wire.HeaderResendRun)}
		if sn.ResendRun != "" && !o.WithResends {
			return nil
		}
		var n notification.Notification
		if err := json.Unmarshal(m.Data(), &n); err != nil {
			skipped++
			return nil
		}
		if (o.User != "" && n.User != o.User) || (o.Address != "" && n.Address != o.Address) {
			return nil
		}
		if n.Protocol == "" {
			n.Protocol = o.Channel
		}
		sn.Notification = &n
		return fn(sn)
	})
	return skipped, err
}
