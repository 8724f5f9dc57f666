// Package streams owns fmn's JetStream topology: the streams (names,
// subjects from package wire, limits), their creation by servers (Ensure)
// and lookup by commands (Lookup), and retries of NATS setup (Retry).
package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fmn-project/fmn/wire"
)

// Config names the streams and sets their storage. The zero value is not
// useful; start from Defaults().
type Config struct {
	Bus, Rules, Notify, DLQ string
	// Events holds operational events such as delivery outcomes, which
	// feed the statistics (default "EVENTS").
	Events string
	// Digest holds the notifications waiting for a digest, until the
	// digest is sent (default "DIGEST"). It has no age limit: a held
	// notification leaves it only in its digest.
	Digest string
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
	// AllowDownscale lets Ensure lower the replicas of existing streams to
	// Replicas (FMN_STREAM_ALLOW_DOWNSCALE). Without it a stream keeps
	// more replicas than configured, and a warning says so.
	AllowDownscale bool
}

// Defaults returns the development configuration.
func Defaults() Config {
	return Config{
		Bus: "BUS", Rules: "RULES", Notify: "NOTIFY", DLQ: "DLQ", Events: "EVENTS",
		Digest:    "DIGEST",
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
	for _, n := range c.Names() {
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
			Subjects: []string{wire.BusAll}, Retention: jetstream.LimitsPolicy,
			// Direct gets let the API's preview read messages by sequence
			// from any replica, about twice as fast as through the leader.
			AllowDirect: true,
			MaxAge:      c.BusMaxAge, Duplicates: c.Duplicates,
			Storage: c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.Rules, Description: "rule events: the source of truth",
			Subjects: []string{wire.RulesAll}, Retention: jetstream.LimitsPolicy,
			Duplicates: c.Duplicates,
			// A new user's user.created and default rules are one atomic
			// batch (rulelog's EnsureUser): all of them are stored, or none.
			AllowAtomicPublish: true,
			Storage:            c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.Notify, Description: "notifications, one per destination",
			Subjects: []string{wire.NotifyAll}, Retention: jetstream.LimitsPolicy,
			MaxAge: c.NotifyMaxAge, Duplicates: c.Duplicates,
			Storage: c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.DLQ, Description: "dead letters, reason in " + wire.HeaderReason,
			Subjects: []string{wire.DLQAll}, Retention: jetstream.LimitsPolicy,
			MaxAge: c.DLQMaxAge, Duplicates: 2 * time.Minute,
			Storage: c.Storage, Replicas: c.Replicas,
		},
		{
			Name: c.Events, Description: "operational events: delivery outcomes",
			Subjects: []string{wire.EventsAll}, Retention: jetstream.LimitsPolicy,
			MaxAge: c.EventsMaxAge, Duplicates: 2 * time.Minute,
			Storage: c.Storage, Replicas: c.Replicas,
		},
		{
			// The notification id is the Nats-Msg-Id: a sender that dies
			// between holding a notification and acking it holds it once.
			Name: c.Digest, Description: "notifications held for a digest, one subject per destination",
			Subjects: []string{wire.DigestAll}, Retention: jetstream.LimitsPolicy,
			Duplicates: c.Duplicates,
			Storage:    c.Storage, Replicas: c.Replicas,
		},
	}
}

// Ensure creates the streams, or brings existing ones to the
// configuration; only servers call it (commands call Lookup). It is safe to
// call from any number of processes at once: a stream another process
// created meanwhile is reconciled like any existing one. Transient failures
// (a cluster electing its leaders, a lost answer) are retried with backoff
// until ctx ends; see EnsureStream for what is changed on an existing
// stream. log receives a line per retry and per change (nil: slog.Default).
func Ensure(ctx context.Context, js jetstream.JetStream, c Config, log *slog.Logger) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, sc := range c.StreamConfigs() {
		if _, err := EnsureStream(ctx, js, sc, c.AllowDownscale, log); err != nil {
			return err
		}
	}
	return nil
}

// EnsureStream creates stream want, or reconciles the existing stream of
// that name with it, retrying transient failures until ctx ends. On an
// existing stream only the fields want sets are changed (description,
// subjects, retention, ages, duplicate window, direct gets, replicas, and
// atomic publish, which is turned on when want asks for it and never
// turned off): whatever an operator set beyond them stays. Two rules
// protect a running deployment:
//
//   - replicas are never lowered unless allowDownscale: a stream with more
//     replicas than want keeps them, and a warning says so;
//   - the storage type cannot change in place: a different one is an error.
//
// A stream with the wanted configuration already is not updated at all, so
// that processes starting together do not take turns rewriting it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, allowDownscale bool, log *slog.Logger) (jetstream.Stream, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("stream", want.Name)
	var st jetstream.Stream
	err := Retry(ctx, log, "stream "+want.Name, func(ctx context.Context) error {
		var err error
		st, err = ensureStreamOnce(ctx, js, want, allowDownscale, log)
		return err
	})
	return st, err
}

func ensureStreamOnce(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, allowDownscale bool, log *slog.Logger) (jetstream.Stream, error) {
	// A few rounds: between a lookup and a create or update, another
	// process may create or delete the stream.
	for range 3 {
		st, err := js.Stream(ctx, want.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = js.CreateStream(ctx, want)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				// Created by another process, with another configuration:
				// reconcile it.
				continue
			}
			if err != nil {
				return nil, err
			}
			if err := checkApplied(st, want); err != nil {
				return nil, err
			}
			log.Info("stream created", "replicas", want.Replicas, "storage", want.Storage.String())
			return st, nil
		}
		if err != nil {
			return nil, err
		}
		have := st.CachedInfo().Config
		next, err := reconcile(have, want, allowDownscale, log)
		if err != nil {
			return nil, err
		}
		if reflect.DeepEqual(next, have) {
			return st, nil
		}
		st, err = js.UpdateStream(ctx, next)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue // deleted meanwhile: create it
		}
		if err != nil {
			return nil, err
		}
		if err := checkApplied(st, want); err != nil {
			return nil, err
		}
		log.Info("stream configuration updated", "changed", changedFields(have, next))
		return st, nil
	}
	return nil, errConcurrent
}

// reconcile is have with the fields want manages set as want asks,
// within the rules of EnsureStream.
func reconcile(have, want jetstream.StreamConfig, allowDownscale bool, log *slog.Logger) (jetstream.StreamConfig, error) {
	if have.Storage != want.Storage {
		return have, &ConfigError{fmt.Sprintf("stream %s is stored in %s, the configuration asks for %s (FMN_STREAM_STORAGE); "+
			"JetStream cannot change a stream's storage in place: keep %s, or move the stream's data to a new stream",
			have.Name, strings.ToLower(have.Storage.String()), strings.ToLower(want.Storage.String()), strings.ToLower(have.Storage.String()))}
	}
	next := have
	next.Description = want.Description
	next.Subjects = slices.Clone(want.Subjects)
	next.Retention = want.Retention
	next.MaxAge = want.MaxAge
	if want.Duplicates > 0 {
		// Zero asks for the server's default, which have holds already.
		next.Duplicates = want.Duplicates
	}
	next.AllowDirect = want.AllowDirect
	if want.AllowAtomicPublish {
		// Only ever turned on: on RULES fmn relies on it; on another stream
		// an operator may have turned it on for their own use.
		next.AllowAtomicPublish = true
	}
	switch {
	case want.Replicas > have.Replicas:
		next.Replicas = want.Replicas
	case want.Replicas < have.Replicas && allowDownscale:
		log.Warn("lowering the stream's replicas, as FMN_STREAM_ALLOW_DOWNSCALE allows",
			"replicas", have.Replicas, "configured_replicas", want.Replicas)
		next.Replicas = want.Replicas
	case want.Replicas < have.Replicas:
		log.Warn("the stream has more replicas than configured; keeping them (set FMN_STREAM_ALLOW_DOWNSCALE=true to lower them)",
			"replicas", have.Replicas, "configured_replicas", want.Replicas)
	}
	return next, nil
}

// checkApplied reports a stream that the server created or updated
// without what want needs: a server older than nats-server 2.12 does not
// know atomic publish and drops the setting silently. Retrying does not
// help.
func checkApplied(st jetstream.Stream, want jetstream.StreamConfig) error {
	if want.AllowAtomicPublish && !st.CachedInfo().Config.AllowAtomicPublish {
		return &ConfigError{fmt.Sprintf("stream %s does not allow atomic publish after fmn asked for it: "+
			"fmn needs nats-server 2.12 or later (atomic batch publish), this NATS server does not support it", want.Name)}
	}
	return nil
}

// changedFields names the fields of a and b that differ, for the log.
func changedFields(a, b jetstream.StreamConfig) []string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, va.Type().Field(i).Name)
		}
	}
	return out
}

// ConfigError is a stream configuration JetStream cannot apply; retrying
// does not help.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// Lookup checks that fmn's streams exist, without creating or changing
// anything: what commands (dlq, replay, stats, rules, publish) do instead
// of Ensure, so that a command run with other settings (or none) never
// reconfigures a deployment. Transient failures are retried until ctx
// ends. A missing stream is an error that says who creates it.
func Lookup(ctx context.Context, js jetstream.JetStream, c Config, log *slog.Logger) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	var missing []string
	for _, name := range c.Names() {
		err := Retry(ctx, log, "stream "+name, func(ctx context.Context) error {
			_, err := js.Stream(ctx, name)
			return err
		})
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("stream %s not found on this NATS: an fmn server (fmn serve, fmn dev) creates the streams when it starts; "+
			"check FMN_NATS_URL and FMN_STREAM_* against the servers' settings", strings.Join(missing, ", "))
	}
	return nil
}

// Names are the names of the streams, in the order of StreamConfigs.
func (c Config) Names() []string {
	return []string{c.Bus, c.Rules, c.Notify, c.DLQ, c.Events, c.Digest}
}
