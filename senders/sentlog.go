package senders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go/jetstream"
)

// SentLog remembers which stored notifications were sent, so that a
// redelivery after a lost acknowledgement (the ack timed out, the process
// died between the send and the ack) is acknowledged without sending the
// notification a second time.
//
// Run marks a notification after the peer accepted it and before it acks
// it, and asks only about redeliveries. A notification is identified by
// its channel and NOTIFY stream sequence, checked against its id: a
// deliberate resend (fmn replay notify, dlq retry) is a new stored message
// and is sent.
type SentLog interface {
	MarkSent(ctx context.Context, channel string, seq uint64, id string) error
	WasSent(ctx context.Context, channel string, seq uint64, id string) (bool, error)
}

// DefaultSentBucket is the key-value bucket of KVSentLog.
const DefaultSentBucket = "fmn_sent"

// KVSentLogConfig configures a KVSentLog; zero fields take the defaults.
type KVSentLogConfig struct {
	// Bucket is the key-value bucket (default fmn_sent), created when
	// missing (never reconfigured).
	Bucket string
	// TTL is how long a mark is kept (default 24h): a redelivery later
	// than that is sent again.
	TTL time.Duration
	// Replicas of the bucket (default 1; 3 on a cluster).
	Replicas int
}

// KVSentLog is a SentLog in a JetStream key-value bucket: one key
// <channel>.<seq> per sent notification, holding its id, expiring after
// the TTL. The bucket is opened (or created) on first use and again after
// a failure, so a NATS outage at start costs no more than the marks of that
// time.
type KVSentLog struct {
	cfg KVSentLogConfig
	kv  *streams.LazyKeyValue
}

// NewKVSentLog returns a SentLog in cfg's bucket; it does not connect.
func NewKVSentLog(js jetstream.JetStream, cfg KVSentLogConfig) *KVSentLog {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultSentBucket
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	return &KVSentLog{cfg: cfg, kv: streams.NewLazyKeyValue(js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "notifications sent, by channel and NOTIFY sequence: a redelivery after a lost ack is not sent again",
		History:     1,
		TTL:         cfg.TTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})}
}

func (l *KVSentLog) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := l.kv.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("sent-notification bucket %s: %w", l.cfg.Bucket, err)
	}
	return kv, nil
}

func sentKey(channel string, seq uint64) string {
	return channel + "." + strconv.FormatUint(seq, 10)
}

// MarkSent records that the notification was sent.
func (l *KVSentLog) MarkSent(ctx context.Context, channel string, seq uint64, id string) error {
	kv, err := l.bucket(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.PutString(ctx, sentKey(channel, seq), id); err != nil {
		return fmt.Errorf("marking notification %s (seq %d) sent: %w", id, seq, err)
	}
	return nil
}

// WasSent reports whether the notification was marked sent.
func (l *KVSentLog) WasSent(ctx context.Context, channel string, seq uint64, id string) (bool, error) {
	got, err := l.SentID(ctx, channel, seq)
	if err != nil {
		return false, fmt.Errorf("notification %s: %w", id, err)
	}
	return got != "" && got == id, nil
}

// SentID returns the id marked sent at (channel, seq), "" when none is.
func (l *KVSentLog) SentID(ctx context.Context, channel string, seq uint64) (string, error) {
	kv, err := l.bucket(ctx)
	if err != nil {
		return "", err
	}
	e, err := kv.Get(ctx, sentKey(channel, seq))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("looking up what was sent at %s: %w", sentKey(channel, seq), err)
	}
	return string(e.Value()), nil
}
