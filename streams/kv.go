package streams

import (
	"context"
	"errors"

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
