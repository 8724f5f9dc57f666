package streams

import (
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go"
)

// LogOptions route what nats.go reports about a connection to log, as
// structured lines, instead of its default of printing asynchronous errors
// (slow consumers, permission violations) to standard error: pass them to
// nats.Connect wherever a connection is made.
func LogOptions(log *slog.Logger) []nats.Option {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "nats")
	return []nats.Option{
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"err", err}
			if nc != nil {
				attrs = append(attrs, "server", nc.ConnectedUrlRedacted())
			}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
				if msgs, bytes, perr := sub.Pending(); perr == nil {
					attrs = append(attrs, "pending_msgs", msgs, "pending_bytes", bytes)
				}
				if n, derr := sub.Dropped(); derr == nil {
					attrs = append(attrs, "dropped", n)
				}
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				log.Warn("NATS slow consumer: messages dropped", attrs...)
				return
			}
			log.Warn("NATS asynchronous error", attrs...)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug("NATS reconnect attempt failed", "err", err)
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			// Closed on purpose at shutdown, or after the reconnect
			// attempts ran out; the last error tells which.
			if err := nc.LastError(); err != nil {
				log.Info("NATS connection closed", "last_err", err)
				return
			}
			log.Debug("NATS connection closed")
		}),
		nats.LameDuckModeHandler(func(nc *nats.Conn) {
			log.Warn("NATS server entering lame duck mode; the client will move to another", "server", nc.ConnectedUrlRedacted())
		}),
		nats.DiscoveredServersHandler(func(nc *nats.Conn) {
			log.Debug("NATS servers discovered", "servers", nc.DiscoveredServers())
		}),
	}
}
