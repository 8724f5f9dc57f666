package rulelog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/queries"
)

// ErrDeliveryNotLoaded is Lookup's answer before the first load: a sender
// retries the notification later rather than guess.
var ErrDeliveryNotLoaded = errors.New("delivery settings not loaded yet")

// DeliverySource is the delivery.Source of the senders: every user's
// non-default settings in memory, reloaded whole (the table holds only
// users who changed something) when the rules projection's version moves.
// Run keeps it current; Lookup never touches the network.
type DeliverySource struct {
	reader *Reader
	log    *slog.Logger
	state  atomic.Pointer[deliveryState]
	// noted is the highest sequence a progress note announced.
	noted atomic.Uint64
	kick  chan struct{}
	loads atomic.Int64
}

type deliveryState struct {
	version uint64
	byUser  map[string]map[delivery.Key]delivery.Setting
}

// NewDeliverySource follows the projection that reader reads.
func NewDeliverySource(reader *Reader, log *slog.Logger) *DeliverySource {
	if log == nil {
		log = slog.Default()
	}
	return &DeliverySource{reader: reader, log: log, kick: make(chan struct{}, 1)}
}

// Lookup answers the setting of user's destination from memory: the
// stored one, or the defaults. Before the first Load it fails with
// ErrDeliveryNotLoaded.
func (s *DeliverySource) Lookup(_ context.Context, user, protocol, address string) (delivery.Setting, error) {
	st := s.state.Load()
	def := delivery.Setting{Protocol: protocol, Address: address}
	if st == nil {
		return def, ErrDeliveryNotLoaded
	}
	if set, ok := st.byUser[user][delivery.Key{Protocol: protocol, Address: address}]; ok {
		return set, nil
	}
	return def, nil
}

// Version is the projection version the settings in memory reflect.
func (s *DeliverySource) Version() uint64 {
	if st := s.state.Load(); st != nil {
		return st.version
	}
	return 0
}

// Loads counts the loads of the table (for tests and metrics).
func (s *DeliverySource) Loads() int64 { return s.loads.Load() }

// Noted is told of the projector's progress notes (FollowProgress): a note
// ahead of the settings in memory makes Run reload at once.
func (s *DeliverySource) Noted(seq uint64) {
	if seq > s.noted.Load() {
		s.noted.Store(seq)
		kickChan(s.kick)
	}
}

// Load reads the whole table and the projection's version in one
// snapshot.
func (s *DeliverySource) Load(ctx context.Context) error {
	tx, err := s.reader.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("load delivery settings: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := queries.New(tx)
	version, err := projected(ctx, q)
	if err != nil {
		return err
	}
	rows, err := q.DeliverySettingsList(ctx)
	if err != nil {
		return dbErr("list delivery settings", err)
	}
	st := &deliveryState{version: version, byUser: make(map[string]map[delivery.Key]delivery.Setting, len(rows))}
	for _, row := range rows {
		ds, err := deliveryFromRow(row)
		if err != nil {
			return err
		}
		m := make(map[delivery.Key]delivery.Setting, len(ds.Settings))
		for _, set := range ds.Settings {
			m[set.Key()] = set
		}
		st.byUser[row.Username] = m
	}
	s.state.Store(st)
	s.loads.Add(1)
	return nil
}

// Run reloads the settings whenever the projection's version moves past
// the one in memory, until ctx ends. It checks on every wake (Redis'
// invalidation of the version key: NotifyVersion; may be nil), every
// progress note (Noted), and every poll: the version is read through the
// client-side cache of Reader.Version, and from PostgreSQL every fourth
// poll or when Redis does not answer, so that a change reaches senders
// within about four polls even without Redis.
func (s *DeliverySource) Run(ctx context.Context, wake <-chan struct{}, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	failing := false
	for tick := 0; ; tick++ {
		err := s.sync(ctx, tick%4 == 0)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			s.log.Warn("reloading delivery settings fails; senders use the settings they have, retrying every poll", "poll", poll, "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("reloading delivery settings works again", "version", s.Version())
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-s.kick:
		case <-t.C:
		}
	}
}

// sync loads the table if the projection is ahead of the memory.
func (s *DeliverySource) sync(ctx context.Context, authoritative bool) error {
	have := s.state.Load()
	if have == nil || s.noted.Load() > have.version {
		return s.Load(ctx)
	}
	if !authoritative {
		// The cached version may trail PostgreSQL: only one ahead counts.
		if v, err := s.reader.Version(ctx); err == nil {
			if v > have.version {
				return s.Load(ctx)
			}
			return nil
		}
	}
	v, err := s.reader.Projected(ctx)
	if err != nil {
		return err
	}
	if v != have.version {
		return s.Load(ctx)
	}
	return nil
}

func kickChan(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var _ delivery.Source = (*DeliverySource)(nil)
