// Package delivery holds a user's delivery settings per destination: paused
// or not, and whether notifications go out at once or as a digest (DESIGN
// "Delivery settings, digests and default rules").
//
// Settings are event-sourced like rules: a change is an event on the
// user's subject of the RULES stream, projected into PostgreSQL; senders
// follow the projection through a Source and apply the settings when they
// deliver, so a pause or a digest also applies to notifications already
// queued on NOTIFY.
package delivery

import (
	"context"
	"fmt"
	"strings"
)

// Bounds of a digest (contract).
const (
	MinDigestAge   = 60     // seconds
	MaxDigestAge   = 604800 // seconds: one week
	MinDigestCount = 2
	MaxDigestCount = 1000
)

// ProtocolLive is the browser's live feed (rules.ProtocolSSE): it can be
// paused, but has no digest.
const ProtocolLive = "sse"

// Digest holds a destination's notifications and sends them as one when
// the oldest is MaxAge seconds old or MaxCount are held (nil: age only).
type Digest struct {
	MaxAge   int  `json:"max_age"`
	MaxCount *int `json:"max_count"`
}

// Setting is one destination's delivery setting, in the API's JSON shape.
type Setting struct {
	Protocol string  `json:"protocol"`
	Address  string  `json:"address"`
	Paused   bool    `json:"paused"`
	Digest   *Digest `json:"digest"`
}

// IsDefault reports whether s is the default: not paused, no digest.
func (s Setting) IsDefault() bool { return !s.Paused && s.Digest == nil }

// Key names a destination: protocol and address.
type Key struct {
	Protocol string
	Address  string
}

// Key is the destination s is about.
func (s Setting) Key() Key { return Key{Protocol: s.Protocol, Address: s.Address} }

// Validate checks the digest's bounds. Whether the destination is one of
// the user's is for the caller (the API) to check.
func (s Setting) Validate() error {
	if strings.TrimSpace(s.Protocol) == "" || strings.TrimSpace(s.Address) == "" {
		return fmt.Errorf("a delivery setting needs a protocol and an address")
	}
	if d := s.Digest; d != nil {
		if s.Protocol == ProtocolLive {
			return fmt.Errorf("the live feed (sse) has no digest: its notifications show at once, or not at all while it is paused")
		}
		if d.MaxAge < MinDigestAge || d.MaxAge > MaxDigestAge {
			return fmt.Errorf("digest max_age must be between %d and %d seconds, not %d", MinDigestAge, MaxDigestAge, d.MaxAge)
		}
		if d.MaxCount != nil && (*d.MaxCount < MinDigestCount || *d.MaxCount > MaxDigestCount) {
			return fmt.Errorf("digest max_count must be between %d and %d (or null), not %d", MinDigestCount, MaxDigestCount, *d.MaxCount)
		}
	}
	return nil
}

// Source tells a sender the current setting of a user's destination. A
// destination without a stored setting has the default (the zero Setting
// with Protocol and Address filled in). Lookup is called for every
// notification, so it must answer from memory; an implementation follows
// the projection and reloads when it changes.
type Source interface {
	Lookup(ctx context.Context, user, protocol, address string) (Setting, error)
}

// Pauser pauses and resumes a user's destination on their behalf (the IRC
// and Matrix bots' stop and start). It appends the change as an event, like
// the API does.
type Pauser interface {
	SetPaused(ctx context.Context, user, protocol, address string, paused bool) error
}
