package wire

import (
	"fmt"
	"strings"
)

// Subjects of the streams (contract). A prefix ends with its dot; an All
// pattern is the subject filter of everything under it.
const (
	BusPrefix = "bus."
	BusAll    = "bus.>"

	RulesAll     = "rules.>"
	RulesUserPfx = "rules.user."
	// RulesDefaultRules holds the admins' list of default rules for new
	// users: its last event is the list in force.
	RulesDefaultRules = "rules.admin.default-rules"

	NotifyPrefix = "notify."
	NotifyAll    = "notify.>"
	// The live feed (channel sse) carries its user in the subject,
	// notify.sse.<encoded user>, so that the API reads back one user's feed
	// with a subject filter and follows everyone's with notify.sse.>.
	NotifySSEPrefix = "notify.sse."
	NotifySSEAll    = "notify.sse.>"

	DLQAll       = "dlq.>"
	DLQBus       = "dlq.bus"
	DLQNotifyPfx = "dlq.notify."

	// EventsAll and EventsDeliveryPfx: operational events (EVENTS), such as
	// the outcome of each delivery attempt on events.delivery.<channel>.
	EventsAll         = "events.>"
	EventsDeliveryPfx = "events.delivery."
	EventsDeliveryAll = "events.delivery.>"

	// DigestPrefix and DigestAll: notifications held for a digest (DIGEST),
	// one subject per destination,
	// digest.<channel>.<encoded user>.<encoded address>.
	DigestPrefix = "digest."
	DigestAll    = "digest.>"
)

// RulesProgressSubject is the core NATS subject on which the rules projector
// announces, after each commit, the last sequence it applied (decimal). It
// lies outside every stream's subjects: these notes are not worth keeping.
const RulesProgressSubject = "fmn.projection.rules"

// BusSubject is the subject of a bus message with the given topic.
func BusSubject(topic string) string { return BusPrefix + topic }

// NotifySubject is the subject of notifications for a channel.
func NotifySubject(channel string) string { return NotifyPrefix + channel }

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

// DigestSubject is the subject on which the notifications held for user's
// destination (channel, address) wait for their digest.
func DigestSubject(channel, user, address string) string {
	return DigestPrefix + channel + "." + EncodeToken(user) + "." + EncodeToken(address)
}

// DigestChannelAll is the subject filter of every held notification of a
// channel.
func DigestChannelAll(channel string) string { return DigestPrefix + channel + ".>" }

// ParseDigestSubject reverses DigestSubject.
func ParseDigestSubject(subject string) (channel, user, address string, err error) {
	parts := strings.Split(strings.TrimPrefix(subject, DigestPrefix), ".")
	if !strings.HasPrefix(subject, DigestPrefix) || len(parts) != 3 || parts[0] == "" {
		return "", "", "", fmt.Errorf("%q is not a digest subject (%s<channel>.<user>.<address>)", subject, DigestPrefix)
	}
	if user, err = DecodeToken(parts[1]); err == nil {
		address, err = DecodeToken(parts[2])
	}
	if err != nil {
		return "", "", "", fmt.Errorf("digest subject %q: %w", subject, err)
	}
	return parts[0], user, address, nil
}

// RulesUserSubject is the event subject of one user's rules. Characters
// that a NATS subject token cannot hold are percent-encoded, so every
// username maps to exactly one subject and back.
func RulesUserSubject(user string) string { return RulesUserPfx + EncodeToken(user) }

// EncodeToken percent-encodes a string into one safe subject token.
func EncodeToken(s string) string { return escapeBytes(s, '%') }

// EncodeKey encodes a string into one key of a JetStream key-value bucket,
// as EncodeToken does but with '=' for the escape: a key may not hold '%'.
// Every string maps to exactly one key.
func EncodeKey(s string) string { return escapeBytes(s, '=') }

// escapeBytes keeps ASCII letters, digits, '-' and '_', and writes every
// other byte as esc and two hex digits; the empty string is esc + "00".
func escapeBytes(s string, esc byte) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(esc)
		fmt.Fprintf(&b, "%02X", c)
	}
	if b.Len() == 0 {
		return string(esc) + "00"
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
