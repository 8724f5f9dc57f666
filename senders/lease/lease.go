// Package lease lets one process out of many do something alone — hold the
// deployment's IRC connection, for one — and another take over within
// seconds when it dies.
//
// A lease is a key in a JetStream key-value bucket whose entries expire
// (the bucket's MaxAge is the lease's TTL). Taking it is a create that
// succeeds only when the key is absent; renewing it is an update that
// succeeds only when the key still has the revision the holder wrote last.
// Both are compare-and-set on the server, so two processes can never both
// take or keep it. A holder that cannot renew considers the lease lost a
// safety margin before it would expire on the server, so it stops before
// anyone else can start.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the bucket of fmn's leases.
const DefaultBucket = "fmn_leases"

// Config describes a lease. The zero value of each field means its default.
type Config struct {
	// Bucket is the key-value bucket (default fmn_leases), created when
	// missing. Every lease in it has the same TTL: the bucket's.
	Bucket string
	// Key names the lease, e.g. "sender-irc" (required).
	Key string
	// TTL is how long a lease lasts without renewal (default 10s). When
	// the bucket exists with another TTL, the bucket's wins.
	TTL time.Duration
	// Renew is how often the holder renews (default TTL/3).
	Renew time.Duration
	// Poll is how often a process waiting for the lease checks whether it
	// has expired (default 1s). A released lease is noticed at once.
	Poll time.Duration
	// Holder names this process in the lease (default host:pid:random).
	Holder string
	// Replicas of the bucket's stream (default 1; 3 on a cluster).
	Replicas int
	// Status, when set, is kept up to date by Acquire and Run (for health
	// checks and metrics).
	Status *Status
}

// State is where a process stands with its lease.
type State string

// States of a lease as one process sees it.
const (
	// Acquiring: trying to reach the bucket or take the lease.
	Acquiring State = "acquiring"
	// Standby: another process holds the lease; this one waits.
	Standby State = "standby"
	// Held: this process holds the lease.
	Held State = "held"
)

// Status is what one process knows of a lease. The zero value is ready to
// use; its methods are safe for concurrent use.
type Status struct {
	mu     sync.Mutex
	state  State
	holder string
	since  time.Time
	err    error
}

// StatusInfo is a snapshot of a Status.
type StatusInfo struct {
	State State
	// Holder holds the lease (this process when Held; "" when unknown).
	Holder string
	// Since is when State began.
	Since time.Time
	// Err is the last failure to reach the bucket or take the lease while
	// Acquiring (nil once it succeeds).
	Err error
}

// Get returns a snapshot; a Status never set is Acquiring.
func (s *Status) Get() StatusInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	if st == "" {
		st = Acquiring
	}
	return StatusInfo{State: st, Holder: s.holder, Since: s.since, Err: s.err}
}

func (s *Status) set(st State, holder string, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != st {
		s.since = time.Now()
	}
	s.state, s.holder, s.err = st, holder, err
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.TTL == 0 {
		c.TTL = 10 * time.Second
	}
	if c.Renew == 0 {
		c.Renew = c.TTL / 3
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.Holder = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

// Validate reports what cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Key == "" {
		errs = append(errs, errors.New("lease: key is missing"))
	}
	if c.TTL < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("lease %s: TTL must be at least 100ms, got %s", c.Key, c.TTL))
	}
	if c.Renew <= 0 || c.Renew > c.TTL/2 {
		errs = append(errs, fmt.Errorf("lease %s: renew interval must be positive and at most half the TTL (%s), got %s", c.Key, c.TTL, c.Renew))
	}
	if c.Poll <= 0 {
		errs = append(errs, fmt.Errorf("lease %s: poll interval must be positive, got %s", c.Key, c.Poll))
	}
	if c.Replicas < 1 {
		errs = append(errs, fmt.Errorf("lease %s: replicas must be at least 1, got %d", c.Key, c.Replicas))
	}
	return errors.Join(errs...)
}

// ErrLost is wrapped by the error of a lost lease (Lease.Err), and is the
// cause of the context Run gives its function when the lease is lost.
var ErrLost = errors.New("lease lost")

// value is what a lease's key holds.
type value struct {
	Holder   string    `json:"holder"`
	Acquired time.Time `json:"acquired"`
}

// Lease is a held lease. It renews itself until Release or until it is
// lost.
type Lease struct {
	cfg   Config
	kv    jetstream.KeyValue
	log   *slog.Logger
	value []byte

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}

	mu       sync.Mutex
	revision uint64
	until    time.Time // when this process stops trusting the lease
	lostErr  error
}

// Bucket opens the lease bucket, creating it when missing, and returns it
// with the TTL in force.
func Bucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, time.Duration, error) {
	cfg = cfg.WithDefaults()
	kv, err := streams.OpenKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "leases: one holder at a time, gone after the TTL unless renewed",
		History:     1,
		TTL:         cfg.TTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("lease bucket %s: %w", cfg.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("lease bucket %s: %w", cfg.Bucket, err)
	}
	return kv, st.TTL(), nil
}

// Acquire blocks until this process holds the lease, or ctx ends. The
// lease then renews itself in the background; watch Lost.
func Acquire(ctx context.Context, js jetstream.JetStream, cfg Config, logger *slog.Logger) (*Lease, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("lease", cfg.Key, "holder", cfg.Holder)
	var kv jetstream.KeyValue
	for {
		var ttl time.Duration
		var err error
		kv, ttl, err = Bucket(ctx, js, cfg)
		if err == nil {
			if ttl != cfg.TTL && ttl > 0 {
				log.Warn("the lease bucket has another TTL; using it", "bucket_ttl", ttl, "configured_ttl", cfg.TTL)
				cfg.TTL = ttl
				cfg.Renew = min(cfg.Renew, ttl/3)
			}
			break
		}
		log.Warn("cannot open the lease bucket, will retry", "err", err)
		cfg.Status.set(Acquiring, "", err)
		if !sleep(ctx, cfg.Poll) {
			return nil, context.Cause(ctx)
		}
	}

	// A watch wakes the wait when the holder releases; expiry makes no
	// event, so polling covers that.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var updates <-chan jetstream.KeyValueEntry
	if w, err := kv.Watch(wctx, cfg.Key, jetstream.UpdatesOnly(), jetstream.MetaOnly()); err == nil {
		defer func() { _ = w.Stop() }()
		updates = w.Updates()
	}

	val, _ := json.Marshal(value{Holder: cfg.Holder, Acquired: time.Now().UTC()})
	waiting := false
	for {
		sent := time.Now()
		rev, err := kv.Create(ctx, cfg.Key, val)
		if err == nil {
			l := &Lease{
				cfg: cfg, kv: kv, log: log, value: val,
				lost: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{}),
				revision: rev, until: sent.Add(cfg.TTL - margin(cfg)),
			}
			log.Info("lease acquired", "revision", rev)
			cfg.Status.set(Held, cfg.Holder, nil)
			go l.renew()
			return l, nil
		}
		switch {
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case errors.Is(err, jetstream.ErrKeyExists):
			if !waiting {
				waiting = true
				holder, _ := Holder(ctx, kv, cfg.Key)
				log.Info("lease held by another process, waiting", "by", holder)
				cfg.Status.set(Standby, holder, nil)
			}
		default:
			waiting = false
			log.Warn("cannot take the lease, will retry", "err", err)
			cfg.Status.set(Acquiring, "", err)
		}
		t := time.NewTimer(cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		case _, ok := <-updates:
			t.Stop()
			if !ok {
				updates = nil
			}
		}
	}
}

// Holder reads who holds the lease key in kv ("" when nobody does).
func Holder(ctx context.Context, kv jetstream.KeyValue, key string) (string, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var v value
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return "", fmt.Errorf("lease %s: unreadable value: %w", key, err)
	}
	return v.Holder, nil
}

// margin is how long before the server-side expiry the holder gives up:
// time to stop what it does before another process may start.
func margin(cfg Config) time.Duration { return cfg.TTL / 5 }

// Lost is closed when the lease is lost: taken over after it expired, or
// not renewed in time. It is not closed by Release.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err says why the lease was lost, nil while it is held.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Holder is this process's name in the lease.
func (l *Lease) Holder() string { return l.cfg.Holder }

// TTL is the lease's TTL in force.
func (l *Lease) TTL() time.Duration { return l.cfg.TTL }

// Release stops renewing and deletes the key when this process still holds
// it, so that a waiting process takes over at once.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.stopped
	select {
	case <-l.lost:
		return nil
	default:
	}
	l.mu.Lock()
	rev := l.revision
	l.mu.Unlock()
	l.setLost(errors.New("released"), false)
	l.cfg.Status.set(Acquiring, "", nil)
	if err := l.kv.Delete(ctx, l.cfg.Key, jetstream.LastRevision(rev)); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return nil // expired and taken meanwhile: nothing to give back
		}
		return fmt.Errorf("releasing lease %s: %w", l.cfg.Key, err)
	}
	l.log.Info("lease released")
	return nil
}

// setLost records the loss once; report closes Lost.
func (l *Lease) setLost(err error, report bool) {
	l.lostOnce.Do(func() {
		l.mu.Lock()
		l.lostErr = err
		l.mu.Unlock()
		if report {
			close(l.lost)
		}
	})
}

// renew updates the key every Renew; a failed renewal is retried sooner
// until the lease's own deadline passes.
func (l *Lease) renew() {
	defer close(l.stopped)
	cfg := l.cfg
	next := cfg.Renew
	for {
		l.mu.Lock()
		until := l.until
		l.mu.Unlock()
		wait := min(next, time.Until(until))
		t := time.NewTimer(max(wait, 0))
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if !time.Now().Before(until) {
			l.lose(fmt.Errorf("not renewed within %s", cfg.TTL-margin(cfg)))
			return
		}
		l.mu.Lock()
		rev := l.revision
		l.mu.Unlock()
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), until)
		newRev, err := l.kv.Update(ctx, cfg.Key, l.value, rev)
		cancel()
		switch {
		case err == nil:
			l.mu.Lock()
			l.revision = newRev
			l.until = sent.Add(cfg.TTL - margin(cfg))
			l.mu.Unlock()
			next = cfg.Renew
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound):
			// Expired on the server, and maybe taken by another process.
			l.lose(fmt.Errorf("the key changed under this holder: %w", err))
			return
		default:
			l.log.Warn("lease renewal failed, retrying", "err", err, "deadline", time.Until(until).Round(time.Millisecond))
			next = max(cfg.Renew/4, 10*time.Millisecond)
		}
	}
}

func (l *Lease) lose(err error) {
	l.log.Error("lease lost", "err", err)
	l.cfg.Status.set(Acquiring, "", err)
	l.setLost(fmt.Errorf("%w: %s: %w", ErrLost, l.cfg.Key, err), true)
}

// Run holds the lease while fn runs: it acquires, calls fn with a context
// that ends when the lease is lost, and when that happens waits for fn to
// return and tries to acquire again. It returns when ctx ends (nil), or
// when fn returns while the lease is still held (fn's error), releasing the
// lease in both cases.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, logger *slog.Logger, fn func(ctx context.Context) error) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for {
		l, err := Acquire(ctx, js, cfg, logger)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fctx, cancel := context.WithCancelCause(ctx)
		go func() {
			select {
			case <-l.Lost():
				cancel(l.Err())
			case <-fctx.Done():
			}
		}()
		err = fn(fctx)
		lost := false
		select {
		case <-l.Lost():
			lost = true
		default:
		}
		cancel(nil)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := l.Release(rctx); rerr != nil {
			logger.Warn("releasing the lease failed; it expires by itself", "lease", l.cfg.Key, "err", rerr)
		}
		rcancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case lost:
			logger.Warn("lease lost; standing by", "lease", l.cfg.Key, "err", err)
			continue
		default:
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
