package bridge

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/wire"
)

// EnvURL is the environment variable of the broker URL.
const EnvURL = "FMN_AMQP_URL"

// DefaultURL is the development broker.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// Config configures the AMQP → JetStream bridge. Zero fields take the
// defaults in their comments; use WithDefaults then Validate.
type Config struct {
	// URL of the broker, amqp:// or amqps:// (FMN_AMQP_URL; default
	// amqp://guest:guest@127.0.0.1:5672/). Its password never appears in
	// logs or errors.
	URL string
	// Exchange is the topic exchange to bind to (default "amq.topic", the
	// one fedora-messaging publishes to). An amq.* exchange must exist; any
	// other is declared as a durable topic exchange.
	Exchange string
	// Queue is the durable queue the bridge consumes (default "fmn"). Run
	// several bridges on one queue to share the load.
	Queue string
	// BindingKeys bind Queue to Exchange (default ["#"], everything).
	BindingKeys []string
	// Prefetch is how many deliveries may be unacknowledged at once, which
	// is also the window of publishes awaiting their PubAck (default 256,
	// at most 65535).
	Prefetch int
	// PublishTimeout bounds the wait for a PubAck (default 10s). A publish
	// without one is nacked back to the queue.
	PublishTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between reconnection
	// attempts (defaults 250ms and 15s).
	ReconnectMin, ReconnectMax time.Duration
	// Limits are the bus message limits; a delivery beyond them is
	// dead-lettered (default bus.DefaultLimits()).
	Limits bus.Limits
	// DeadLetterSubject receives deliveries that are not valid bus messages
	// (default dlq.bus).
	DeadLetterSubject string
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Exchange == "" {
		c.Exchange = "amq.topic"
	}
	if c.Queue == "" {
		c.Queue = "fmn"
	}
	if len(c.BindingKeys) == 0 {
		c.BindingKeys = []string{"#"}
	}
	if c.Prefetch == 0 {
		c.Prefetch = 256
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = 250 * time.Millisecond
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 15 * time.Second
	}
	c.Limits = c.Limits.WithDefaults()
	if c.DeadLetterSubject == "" {
		c.DeadLetterSubject = wire.DLQBus
	}
	return c
}

// Validate reports every problem of the configuration, naming the setting.
// It never shows the URL's password.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("%s: not a valid URL", EnvURL))
	} else {
		if u.Scheme != "amqp" && u.Scheme != "amqps" {
			errs = append(errs, fmt.Errorf("%s: scheme must be amqp or amqps, got %q", EnvURL, u.Scheme))
		}
		if u.Hostname() == "" {
			errs = append(errs, fmt.Errorf("%s: no host in %s", EnvURL, redact.URL(c.URL)))
		}
	}
	if c.Exchange == "" {
		errs = append(errs, errors.New("bridge exchange: must not be empty"))
	}
	if c.Queue == "" {
		errs = append(errs, errors.New("bridge queue: must not be empty"))
	}
	if len(c.BindingKeys) == 0 {
		errs = append(errs, errors.New("bridge binding keys: at least one is needed"))
	}
	for _, k := range c.BindingKeys {
		if k == "" || len(k) > 255 {
			errs = append(errs, fmt.Errorf("bridge binding key %q: must be 1 to 255 bytes", k))
		}
	}
	if c.Prefetch < 1 || c.Prefetch > 65535 {
		errs = append(errs, fmt.Errorf("bridge prefetch: must be 1 to 65535, got %d", c.Prefetch))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("bridge publish timeout: must be positive, got %s", c.PublishTimeout))
	}
	if c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin {
		errs = append(errs, fmt.Errorf("bridge reconnect backoff: need 0 < min ≤ max, got %s and %s", c.ReconnectMin, c.ReconnectMax))
	}
	if c.DeadLetterSubject == "" || strings.ContainsAny(c.DeadLetterSubject, " \t*>") {
		errs = append(errs, fmt.Errorf("bridge dead-letter subject %q: not a valid subject", c.DeadLetterSubject))
	}
	return errors.Join(errs...)
}

// String describes the configuration with the password redacted.
func (c Config) String() string {
	return fmt.Sprintf("amqp bridge %s exchange=%s queue=%s keys=%v prefetch=%d",
		redact.URL(c.URL), c.Exchange, c.Queue, c.BindingKeys, c.Prefetch)
}
