package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// SyncPositions keeps the bot's /sync position (the next_batch of the last
// batch it handled) across restarts, so that what people sent while fmn
// was down is answered when it is back. One position per bot account.
type SyncPositions interface {
	// Load returns the saved position of account, the zero Position when
	// there is none.
	Load(ctx context.Context, account string) (Position, error)
	// Save replaces the position of account.
	Save(ctx context.Context, account string, pos Position) error
}

// Position is where the bot is in its /sync stream.
type Position struct {
	// Since is the next_batch of the last batch handled.
	Since string `json:"since"`
	// At is when that batch arrived (the bot's clock). Reading back a
	// limited timeline stops at messages older than that: a homeserver
	// may not stop exactly at Since (Dendrite 0.15 returns messages from
	// before it), and those were handled already.
	At time.Time `json:"at"`
}

// DefaultSyncBucket is the key-value bucket of KVSyncPositions.
const DefaultSyncBucket = "fmn_matrix_sync"

// KVSyncPositionsConfig configures KVSyncPositions; zero fields take the
// defaults.
type KVSyncPositionsConfig struct {
	// Bucket is the key-value bucket (default fmn_matrix_sync), created
	// when missing (never reconfigured).
	Bucket string
	// Replicas of the bucket (default 1; 3 on a cluster).
	Replicas int
}

// KVSyncPositions is SyncPositions in a JetStream key-value bucket: one
// key per bot account (its Matrix user id, encoded by SyncKey), holding
// the position as JSON. The bucket is opened (or created) on first use and again
// after a failure.
type KVSyncPositions struct {
	cfg KVSyncPositionsConfig
	kv  *streams.LazyKeyValue
}

// NewKVSyncPositions returns SyncPositions in cfg's bucket; it does not
// connect.
func NewKVSyncPositions(js jetstream.JetStream, cfg KVSyncPositionsConfig) *KVSyncPositions {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultSyncBucket
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	return &KVSyncPositions{cfg: cfg, kv: streams.NewLazyKeyValue(js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "the Matrix bot's /sync position, by bot account: messages sent while fmn was down are answered",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})}
}

func (p *KVSyncPositions) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := p.kv.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("Matrix sync position bucket %s: %w", p.cfg.Bucket, err) //nolint:staticcheck // ST1005: a name
	}
	return kv, nil
}

// Load returns account's saved position, the zero Position when there is
// none. A value that is not a position (damaged, from another version)
// is an error.
func (p *KVSyncPositions) Load(ctx context.Context, account string) (Position, error) {
	kv, err := p.bucket(ctx)
	if err != nil {
		return Position{}, err
	}
	e, err := kv.Get(ctx, SyncKey(account))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return Position{}, nil
	case err != nil:
		return Position{}, fmt.Errorf("reading the /sync position of %s: %w", account, err)
	}
	var pos Position
	if err := json.Unmarshal(e.Value(), &pos); err != nil {
		return Position{}, fmt.Errorf("the saved /sync position of %s is not one: %w", account, err)
	}
	return pos, nil
}

// Save stores account's position.
func (p *KVSyncPositions) Save(ctx context.Context, account string, pos Position) error {
	kv, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, SyncKey(account), b); err != nil {
		return fmt.Errorf("saving the /sync position of %s: %w", account, err)
	}
	return nil
}

// SyncKey is the key of account in the bucket. A Matrix user id holds
// characters a key may not ('@', ':', and anything a server name or a
// historical user id allows): wire.EncodeKey writes them =XX, so the key is
// valid and distinct per account ("@fmn:fedora.im" is
// "=40fmn=3Afedora=2Eim").
func SyncKey(account string) string { return wire.EncodeKey(account) }
