package rulelog

import (
	"context"
	"time"

	"github.com/fmn-project/fmn/rules"
)

// DecodeGenerationRules is decodeGenerationRules, for the tests.
var DecodeGenerationRules = decodeGenerationRules

// SetBatchHook sets the hook that sees the outcome of each message of an
// atomic batch (see Commands.batchHook): a test stops a batch before its
// commit, as a crash would, or loses the commit's answer.
func SetBatchHook(c *Commands, hook func(seq int, err error) error) { c.batchHook = hook }

// RecordUser is recordUser, for the tests: with the message id of an
// earlier call, it is that call retried.
func RecordUser(ctx context.Context, c *Commands, user string, defaults []rules.Rule, m Meta, msgID string) (uint64, error) {
	return c.recordUser(ctx, user, defaults, m, msgID)
}

// ErrConflictInternal is errConflict (a racing twin), for the tests.
var ErrConflictInternal = errConflict

// SetStoreClock sets the clock a Store reads generated_last_week's window
// from.
func SetStoreClock(s *Store, now func() time.Time) { s.now = now }
