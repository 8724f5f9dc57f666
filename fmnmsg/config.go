package fmnmsg

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/fmn-project/fmn/internal/redact"
	"github.com/fmn-project/fmn/streams"
)

// Config configures the publisher. Zero fields take the defaults in their
// comments; use WithDefaults then Validate.
type Config struct {
	// URL of the broker, amqp:// or amqps:// (FMN_AMQP_URL, required). Its
	// password never appears in logs or errors.
	URL string
	// Exchange is the topic exchange to publish to (FMN_AMQP_EXCHANGE,
	// default "amq.topic", fedora-messaging's publish_exchange). An amq.*
	// exchange must exist; any other is declared as a durable topic
	// exchange.
	Exchange string
	// TopicPrefix goes before every topic, as fedora-messaging's
	// topic_prefix (FMN_AMQP_TOPIC_PREFIX; empty: none).
	TopicPrefix string
	// Stream is the RULES stream (default streams.Defaults().Rules), whose
	// name is also part of every message id.
	Stream string
	// Durable is the consumer on Stream that keeps the position (default
	// "amqp-publisher").
	Durable string
	// Batch is how many events are fetched at once (default 64).
	Batch int
	// AckWait is how long an event may stay unacknowledged before NATS
	// delivers it again (default 30s); the publisher keeps the events it
	// holds in progress while the broker is down.
	AckWait time.Duration
	// ConfirmTimeout bounds the wait for the broker's confirm (default 10s).
	ConfirmTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between attempts
	// while the broker is unreachable (defaults 250ms and 15s).
	ReconnectMin, ReconnectMax time.Duration
}

// DefaultDurable is the publisher's consumer on RULES.
const DefaultDurable = "amqp-publisher"

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Exchange == "" {
		c.Exchange = "amq.topic"
	}
	if c.Stream == "" {
		c.Stream = streams.Defaults().Rules
	}
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.ConfirmTimeout == 0 {
		c.ConfirmTimeout = 10 * time.Second
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = 250 * time.Millisecond
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 15 * time.Second
	}
	return c
}

// Validate reports every problem of the configuration, naming the
// setting. It never shows the URL's password.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("FMN_AMQP_URL: must be set to publish FMN's rule messages"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, errors.New("FMN_AMQP_URL: not a valid URL"))
	} else if (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Hostname() == "" {
		errs = append(errs, fmt.Errorf("FMN_AMQP_URL: want amqp:// or amqps:// with a host, got %s", redact.URL(c.URL)))
	}
	if c.Exchange == "" {
		errs = append(errs, errors.New("FMN_AMQP_EXCHANGE: must not be empty"))
	}
	if len(c.TopicPrefix) > 128 {
		errs = append(errs, fmt.Errorf("FMN_AMQP_TOPIC_PREFIX: at most 128 bytes, got %d", len(c.TopicPrefix)))
	}
	if c.Stream == "" || c.Durable == "" {
		errs = append(errs, errors.New("amqp publisher: stream and durable must not be empty"))
	}
	if c.Batch < 1 || c.Batch > 10000 {
		errs = append(errs, fmt.Errorf("amqp publisher batch: must be 1 to 10000, got %d", c.Batch))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("amqp publisher ack wait: at least 1s, got %s", c.AckWait))
	}
	if c.ConfirmTimeout <= 0 {
		errs = append(errs, fmt.Errorf("amqp publisher confirm timeout: must be positive, got %s", c.ConfirmTimeout))
	}
	if c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin {
		errs = append(errs, fmt.Errorf("amqp publisher reconnect backoff: need 0 < min ≤ max, got %s and %s", c.ReconnectMin, c.ReconnectMax))
	}
	return errors.Join(errs...)
}
