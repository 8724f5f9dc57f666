package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Backoff is a capped exponential backoff with jitter. The zero value is
// DefaultBackoff.
type Backoff struct {
	// Min is the first delay, Max the largest (each delay is drawn between
	// half of and the full current step).
	Min, Max time.Duration
	// Attempt bounds each attempt: a JetStream API request whose answer
	// was lost (a node stalled, a meta leader changed) is given up after
	// it and tried again, rather than waiting for the whole deadline.
	Attempt time.Duration
}

// DefaultBackoff starts at 200ms, doubles up to 10s, and gives each
// attempt 5s.
var DefaultBackoff = Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second, Attempt: 5 * time.Second}

func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = DefaultBackoff.Min
	}
	if b.Max < b.Min {
		b.Max = max(DefaultBackoff.Max, b.Min)
	}
	if b.Attempt <= 0 {
		b.Attempt = DefaultBackoff.Attempt
	}
	return b
}

// Delay is the wait after the n-th failure (n from 1): Min·2^(n-1) capped
// at Max, of which a random half is taken off so that processes started
// together do not retry in step.
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	step := b.Min
	for i := 1; i < n && step < b.Max; i++ {
		step *= 2
	}
	step = min(step, b.Max)
	return step/2 + rand.N(step/2+1)
}

// Retry runs fn until it succeeds, fails with an error that is not
// transient (see IsTransient), or ctx ends; it returns nil or the last
// error. Each attempt gets a context bounded by Backoff.Attempt. Each
// failure is logged with what (e.g. "stream BUS"), the attempt, the error
// and the wait before the next attempt.
func Retry(ctx context.Context, log *slog.Logger, what string, fn func(ctx context.Context) error) error {
	return RetryWith(ctx, DefaultBackoff, log, what, fn)
}

// RetryWith is Retry with the given backoff.
func RetryWith(ctx context.Context, b Backoff, log *slog.Logger, what string, fn func(ctx context.Context) error) error {
	b = b.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, b.Attempt)
		err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("NATS setup succeeded after retries", "what", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up after %d attempts: %w)", what, err, attempt, context.Cause(ctx))
		}
		if !IsTransient(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait := b.Delay(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			wait = max(time.Until(dl), 0)
		}
		log.Warn("NATS setup failed; retrying", "what", what, "attempt", attempt, "err", err, "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (gave up after %d attempts: %w)", what, err, attempt, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Sleep waits for d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// IsTransient reports whether a NATS or JetStream error may go away by
// itself, so that the operation is worth trying again: timeouts and lost
// answers, no responders (JetStream starting, a leader being elected), a
// connection that is reconnecting, missing heartbeats, and JetStream API
// errors that say the cluster is busy, electing or short of peers for the
// moment. Configuration errors, things that do not exist and a closed
// connection are not transient, nor is any error that does not come from
// NATS.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, errConcurrent),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrStaleConnection),
		errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, jetstream.ErrConsumerLeadershipChanged),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		// JetStream "not enabled" is what a server whose JetStream is still
		// starting answers, and what a lone node says before its cluster
		// has formed.
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return transientAPIError(apiErr)
	}
	var jsErr jetstream.JetStreamError
	if errors.As(err, &jsErr) && jsErr.APIError() != nil {
		return transientAPIError(jsErr.APIError())
	}
	return false
}

// errConcurrent: other processes created and deleted a stream while it was
// being set up.
var errConcurrent = errors.New("the stream was created and deleted by others meanwhile")

// IsGone reports the errors after which a running consumer cannot go on
// by trying again: its durable consumer or its stream was deleted, or the
// connection was closed for good. Running loops (as opposed to setup,
// see IsTransient) log any other error and try again after a while.
func IsGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrConsumerDoesNotExist) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrConnectionClosed)
}

// JetStream API error codes (nats-server's errors.json) that are not
// among nats.go's constants.
const (
	codeClusterNoPeers          jetstream.ErrorCode = 10005 // no suitable peers for placement (yet)
	codeClusterNotActive        jetstream.ErrorCode = 10006
	codeClusterRequired         jetstream.ErrorCode = 10010
	codeClusterUnsupported      jetstream.ErrorCode = 10036
	codeStreamInvalidConfig     jetstream.ErrorCode = 10052
	codeReplicasNotSupported    jetstream.ErrorCode = 10074
	codeMemberChangeInFlight    jetstream.ErrorCode = 10202
	codeConsumerNameExist       jetstream.ErrorCode = 10013
	codeConsumerExists          jetstream.ErrorCode = 10148
	codeConsumerAlreadyExists   jetstream.ErrorCode = 10105
	codeStreamReplicasNotUpdate jetstream.ErrorCode = 10061
)

func transientAPIError(e *jetstream.APIError) bool {
	switch e.ErrorCode {
	case codeClusterNoPeers, codeMemberChangeInFlight,
		// Another process created the consumer at the same moment.
		codeConsumerNameExist, codeConsumerExists, codeConsumerAlreadyExists:
		return true
	case codeClusterNotActive, codeClusterRequired, codeClusterUnsupported, codeStreamInvalidConfig,
		codeReplicasNotSupported, codeStreamReplicasNotUpdate:
		return false
	}
	// 503 (temporarily unavailable, insufficient resources) and 500
	// (not leader, not assigned, raft): the cluster is settling.
	return e.Code >= 500
}

// EnsureConsumer creates the durable consumer cfg on stream, or updates it
// to cfg, retrying transient failures (see Retry) until ctx ends. Any
// number of processes may call it at once for the same consumer.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	var cons jetstream.Consumer
	name := cfg.Durable
	if name == "" {
		name = cfg.Name
	}
	err := Retry(ctx, log, "consumer "+name+" on stream "+stream, func(ctx context.Context) error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
		return err
	})
	return cons, err
}
