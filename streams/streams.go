// Package streams owns fmn's JetStream topology: the stream names and
// subjects of the design's contract, and their idempotent creation.
package streams

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Subjects (contract).
const (
	BusPrefix      = "bus."
	BusAll         = "bus.>"
	RulesAll       = "rules.>"
	RulesUserPfx   = "rules.user."
	NotifyPrefix   = "notify."
	NotifyAll      = "notify.>"
	DLQAll         = "dlq.>"
	DLQBus         = "dlq.bus"
	DLQNotifyPfx   = "dlq.notify."
	HeaderMsgID    = "Nats-Msg-Id"
	HeaderReason   = "Fmn-Dead-Reason"
	HeaderEvent    = "Fmn-Event"
	HeaderSource   = "Fmn-Source-Subject"
	HeaderSourceSq = "Fmn-Source-Sequence"
	// HeaderResendRun names the operator's run that published a
	// notification again (fmn replay … --resend, fmn replay notify, fmn dlq
	// retry), HeaderResendBy who ran it and HeaderResendOf what was resent
	// ("<stream>:<sequence>"). The statistics do not count a resent
	// notification as generated twice.
	HeaderResendRun = "Fmn-Resend-Run"
	HeaderResendBy  = "Fmn-Resend-By"
	HeaderResendOf  = "Fmn-Resend-Of"
	// EventsAll and EventsDeliveryPfx: operational events (EVENTS), such as
	// the outcome of each delivery attempt on events.delivery.<channel>.
	EventsAll         = "events.>"
	EventsDeliveryPfx = "events.delivery."
)

// Config names the streams and sets their storage. The zero value is not
// useful; start from Defaults().
type Config struct {
	Bus, Rules, Notify, DLQ string
	// Events holds operational events such as delivery outcomes, which
	// feed the statistics (default "EVENTS").
	Events string
	// Replicas is 1 for development; 3 on a production cluster.
	Replicas int
	// Storage is file (default) or memory.
	Storage jetstream.StorageType
	// BusMaxAge and NotifyMaxAge default to 7 days; DLQMaxAge to 30 days;
	// EventsMaxAge to 90 days (statistics are rebuilt from what it holds).
	BusMaxAge, NotifyMaxAge, DLQMaxAge, EventsMaxAge time.Duration
	// Duplicates is the dedup window of BUS and NOTIFY (default 10 min,
	// longer than any redelivery of a crashed consumer).
	Duplicates time.Duration
}

// Defaults returns the development configuration.
func Defaults() Config {
	return Config{
		Bus: "BUS", Rules: "RULES", Notify: "NOTIFY", DLQ: "DLQ", Events: "EVENTS",
		Replicas:  1,
		Storage:   jetstream.FileStorage,
		BusMaxAge: 7 * 24 * time.Hour, NotifyMaxAge: 7 * 24 * time.Hour,
		DLQMaxAge:    30 * 24 * time.Hour,
		EventsMaxAge: 90 * 24 * time.Hour,
		Duplicates:   10 * time.Minute,
	}
}

// Validate reports a configuration that JetStream would refuse.
func (c Config) Validate() error {
	var errs []error
	for _, n := range []string{c.Bus, c.Rules, c.Notify, c.DLQ, c.Events} {
		if n == "" || strings.ContainsAny(n, " .*>/\\\t") {
			errs = append(errs, fmt.Errorf("stream name %q is not valid", n))
		}
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("stream replicas must be 1 to 5, got %d", c.Replicas))
	}
	if c.Duplicates < 2*time.Minute {
		errs = append(errs, fmt.Errorf("duplicate window must be at least 2m, got %s", c.Duplicates))
	}
	return errors.Join(errs...)
}

// StreamConfigs returns the stream configurations.
func (c Config) StreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name: c.Bus, Description: "bus messages (fedora-messaging form)",
			Subjects: []string{BusAll}, Retention: jetstream.LimitsPolicy,
			// Direct gets let the API's preview read messages by sequence
			// from any replica, about twice as fast as through the leader.
			AllowDirect: true,
			MaxAge:      c.BusMaxAge, Duplicates: c.Duplicates,
			Storage: c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.Rules, Description: "rule events: the source of truth",
			Subjects: []string{RulesAll}, Retention: jetstream.LimitsPolicy,
			Duplicates: c.Duplicates,
			Storage:    c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.Notify, Description: "notifications, one per destination",
			Subjects: []string{NotifyAll}, Retention: jetstream.LimitsPolicy,
			MaxAge: c.NotifyMaxAge, Duplicates: c.Duplicates,
			Storage: c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.DLQ, Description: "dead letters, reason in Fmn-Dead-Reason",
			Subjects: []string{DLQAll}, Retention: jetstream.LimitsPolicy,
			MaxAge: c.DLQMaxAge, Duplicates: 2 * time.Minute,
			Storage: c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.Events, Description: "operational events: delivery outcomes",
			Subjects: []string{EventsAll}, Retention: jetstream.LimitsPolicy,
			MaxAge: c.EventsMaxAge, Duplicates: 2 * time.Minute,
			Storage: c.Storage, Replicas: c.Replicas,
		},
	}
}

// Ensure creates the streams or updates them to the configuration. It is
// safe to call from every process at start.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, sc := range c.StreamConfigs() {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// BusSubject is the subject of a bus message with the given topic.
func BusSubject(topic string) string { return BusPrefix + topic }

// NotifySubject is the subject of notifications for a channel.
func NotifySubject(channel string) string { return NotifyPrefix + channel }

// The live feed (channel sse) carries its user in the subject,
// notify.sse.<encoded user>, so that the API reads back one user's feed
// with a subject filter and follows everyone's with notify.sse.>.
const (
	NotifySSEPrefix = "notify.sse."
	NotifySSEAll    = "notify.sse.>"
)

// NotifySSESubject is the subject of user's live feed.
func NotifySSESubject(user string) string { return NotifySSEPrefix + EncodeToken(user) }

// NotifySubjectFor is the subject of a notification for user over
// channel: NotifySubject, except for the live feed, whose subject names
// the user.
func NotifySubjectFor(channel, user string) string {
	if channel == "sse" {
		return NotifySSESubject(user)
	}
	return NotifySubject(channel)
}

// EventsDeliverySubject is the subject of a channel's delivery outcomes.
func EventsDeliverySubject(channel string) string { return EventsDeliveryPfx + channel }

// DLQNotifySubject is the dead-letter subject of a channel.
func DLQNotifySubject(channel string) string { return DLQNotifyPfx + channel }

// RulesUserSubject is the event subject of one user's rules. Characters
// that a NATS subject token cannot hold are percent-encoded, so every
// username maps to exactly one subject and back.
func RulesUserSubject(user string) string { return RulesUserPfx + EncodeToken(user) }

// EncodeToken percent-encodes a string into one safe subject token.
func EncodeToken(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	if b.Len() == 0 {
		return "%00"
	}
	return b.String()
}

// DecodeToken reverses EncodeToken.
func DecodeToken(t string) (string, error) {
	if t == "%00" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] != '%' {
			b.WriteByte(t[i])
			continue
		}
		if i+2 >= len(t) {
			return "", fmt.Errorf("bad escape in subject token %q", t)
		}
		var v byte
		if _, err := fmt.Sscanf(t[i+1:i+3], "%02X", &v); err != nil {
			return "", fmt.Errorf("bad escape in subject token %q", t)
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}
