package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// A role is one part of fmn that a process runs (`fmn serve --roles`):
// its name, what it needs of the process besides NATS, and how it starts.
// start sets the role up and returns; what runs until the process stops
// goes to process.run.
type role struct {
	name  string
	needs needs
	start func(ctx context.Context, p *process) error
}

// needs are what roles need of their process besides NATS and its
// streams, which every role needs. RunSystem connects each once, for
// every role that needs it.
type needs uint8

const (
	// needDB is PostgreSQL, with the schema applied.
	needDB needs = 1 << iota
	// needRedis is the Redis client: the rules version notes and the
	// shared service cache.
	needRedis
	// needDirectory is FASJSON and dist-git through the service cache
	// (System.Directory; nil when neither is configured).
	needDirectory
	// needSenders is what the senders of a process share: delivery
	// outcomes stored on EVENTS, the sent log, their metrics, the
	// capture of MAX_DELIVERIES advisories, and the users' delivery
	// settings (needDeliverySettings).
	needSenders
	// needDeliverySettings is the users' delivery settings, followed from
	// the rules projection (PostgreSQL and Redis): the senders apply them,
	// and the api's live feed its own pause. One follower per process.
	needDeliverySettings
)

// roles are fmn's roles, in the order a process starts them.
var roles = []role{
	{name: "projector", needs: needDB | needRedis, start: startProjector},
	{name: "consumer", needs: needDB | needRedis | needDirectory, start: startConsumer},
	{name: "stats", needs: needDB, start: startStats},
	{name: "sender-email", needs: needDB | needRedis | needSenders | needDeliverySettings, start: startSenderEmail},
	{name: "sender-matrix", needs: needDB | needRedis | needDirectory | needSenders | needDeliverySettings, start: startSenderMatrix},
	{name: "sender-irc", needs: needDB | needRedis | needDirectory | needSenders | needDeliverySettings, start: startSenderIRC},
	{name: "api", needs: needDB | needRedis | needDirectory | needDeliverySettings, start: startAPI},
	{name: roleAMQPPublisher, start: startAMQPPublisher},
}

// AllRoles are fmn's roles (`fmn dev` runs DevRoles).
var AllRoles = func() []string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.name
	}
	return names
}()

// ParseRoles reads --roles: comma-separated role names.
func ParseRoles(s string) ([]string, error) {
	var names []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("--roles: unknown role %q (roles: %s)", r, strings.Join(AllRoles, ", "))
		}
		if !slices.Contains(names, r) {
			names = append(names, r)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("--roles: name at least one of %s", strings.Join(AllRoles, ", "))
	}
	return names, nil
}

// selectRoles returns the table's roles named in names, in the table's
// order, and what they need together.
func selectRoles(names []string) ([]role, needs, error) {
	var out []role
	var all needs
	for _, n := range names {
		if !slices.Contains(AllRoles, n) {
			return nil, 0, fmt.Errorf("unknown role %q (roles: %s)", n, strings.Join(AllRoles, ", "))
		}
	}
	for _, r := range roles {
		if slices.Contains(names, r.name) {
			out = append(out, r)
			all |= r.needs
		}
	}
	return out, all, nil
}
