package streams

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// OpenKeyValue opens the key-value bucket cfg.Bucket, creating it with cfg
// when it does not exist. Any number of processes may call it at once: one
// that loses the race to create the bucket opens the winner's. An existing
// bucket is opened as it is (cfg does not change it).
func OpenKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	return kv, err
}

// LazyKeyValue is a bucket opened (or created) by OpenKeyValue on first
// use, and again after a failure: a NATS outage when a process starts costs
// only the uses of that time. Safe for concurrent use.
type LazyKeyValue struct {
	js  jetstream.JetStream
	cfg jetstream.KeyValueConfig

	mu sync.Mutex
	kv jetstream.KeyValue
}

// NewLazyKeyValue returns the bucket cfg describes; it does not connect.
func NewLazyKeyValue(js jetstream.JetStream, cfg jetstream.KeyValueConfig) *LazyKeyValue {
	return &LazyKeyValue{js: js, cfg: cfg}
}

// Get returns the bucket, opening it when it is not open yet.
func (l *LazyKeyValue) Get(ctx context.Context) (jetstream.KeyValue, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kv != nil {
		return l.kv, nil
	}
	kv, err := OpenKeyValue(ctx, l.js, l.cfg)
	if err != nil {
		return nil, err
	}
	l.kv = kv
	return kv, nil
}
