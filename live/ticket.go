package live

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/rueidis"
)

// ErrBadTicket: the ticket is unknown, expired or used already.
var ErrBadTicket = errors.New("ticket is not valid: it expired or was used already")

// Tickets are short-lived, single-use passes to one user's stream. A
// browser's EventSource cannot send an Authorization header, and a token
// in a URL ends up in histories and proxy logs; a ticket in the URL is
// worth nothing once used or after TTL. Redis holds only the ticket's
// SHA-256, so whoever reads Redis cannot use a live ticket, and every API
// process can redeem a ticket another one issued.
type Tickets struct {
	Redis  rueidis.Client
	Prefix string
	// TTL is how long an unused ticket is valid (default 30s).
	TTL time.Duration
}

func (t *Tickets) ttl() time.Duration {
	if t.TTL <= 0 {
		return 30 * time.Second
	}
	return t.TTL
}

func (t *Tickets) key(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return t.Prefix + "sse-ticket:" + hex.EncodeToString(sum[:])
}

// Issue returns a new ticket for user and how long it is valid.
func (t *Tickets) Issue(ctx context.Context, user string) (string, time.Duration, error) {
	ticket := rand.Text() // 130 random bits
	ttl := t.ttl()
	cmd := t.Redis.B().Set().Key(t.key(ticket)).Value(user).Nx().Px(ttl).Build()
	if err := t.Redis.Do(ctx, cmd).Error(); err != nil {
		return "", 0, err
	}
	return ticket, ttl, nil
}

// Redeem uses up ticket and returns the user it was issued to, or
// ErrBadTicket. Redis deletes it in the same command (GETDEL), so of two
// concurrent uses one fails.
func (t *Tickets) Redeem(ctx context.Context, ticket string) (string, error) {
	if ticket == "" || len(ticket) > 64 {
		return "", ErrBadTicket
	}
	user, err := t.Redis.Do(ctx, t.Redis.B().Getdel().Key(t.key(ticket)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", ErrBadTicket
	}
	if err != nil {
		return "", err
	}
	return user, nil
}
