package rulelog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Atomic batch publish (nats-server 2.12 and later, on a stream with
// AllowAtomicPublish): the messages of a batch carry the batch's id and
// their place in it, the last one also the commit. The server stages them,
// answering each with an empty reply, and stores them all when the commit
// arrives, checking every message's headers then (Nats-Msg-Id duplicates,
// expected sequences) and storing none if one fails. A batch whose commit
// never comes (its publisher died) is dropped after the server's batch
// timeout (10 s by default); nothing of it is ever stored.
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// JetStream API error codes of atomic batches (nats-server's errors.json).
const (
	codeAtomicDisabled       jetstream.ErrorCode = 10174 // the stream does not allow atomic publish
	codeAtomicIncomplete     jetstream.ErrorCode = 10176 // a gap, a timed-out or abandoned batch, a leader change
	codeAtomicTooLarge       jetstream.ErrorCode = 10199 // more messages than the server's batch max_msgs
	codeAtomicDuplicate      jetstream.ErrorCode = 10201 // a message id of the batch is stored already
	codeAtomicTooManyBatches jetstream.ErrorCode = 10210 // too many batches open on the stream or server
	codeDuplicateInProcess   jetstream.ErrorCode = 10158 // a message id of the batch is being stored
)

// MaxDefaultRules bounds the admins' list of default rules. A new user's
// record and their default rules are one atomic batch of at most
// MaxDefaultRules+1 messages, well within what nats-server allows in a
// batch by default (1,000: jetstream { limits { batch { max_msgs } } }).
const MaxDefaultRules = 50

// batchAckWait bounds the wait for the server's answer to each message of a
// batch when the caller's context has no deadline, as the jetstream
// client's default timeout does for a publish.
const batchAckWait = 5 * time.Second

// batchAck is the server's answer to the commit of a batch (or an error
// for any message of it).
type batchAck struct {
	Error    *jetstream.APIError `json:"error,omitempty"`
	Stream   string              `json:"stream"`
	Sequence uint64              `json:"seq"`
	Batch    string              `json:"batch"`
	Count    int                 `json:"count"`
}

// publishBatch publishes msgs as one atomic batch with a new batch id and
// returns the sequence of the last one. Each message waits for the
// server's answer before the next goes, so an error shows at the message
// that caused it and the server holds the batch staged up to there. Any
// error leaves the batch uncommitted or refused: nothing of it is stored,
// except after an error on the commit itself, whose outcome is unknown
// when the answer was lost (the caller looks at the stream then).
func (c *Commands) publishBatch(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	nc := c.js.Conn()
	id := newMsgID()
	for i, m := range msgs {
		commit := i == len(msgs)-1
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if commit {
			m.Header.Set(headerBatchCommit, "1")
		} else {
			m.Header.Del(headerBatchCommit)
		}
		seq, err := requestBatchMsg(ctx, nc, m, commit)
		if c.batchHook != nil {
			err = c.batchHook(i+1, err)
		}
		if err != nil {
			return 0, err
		}
		if commit {
			return seq, nil
		}
	}
	return 0, errors.New("empty batch")
}

// requestBatchMsg sends one message of a batch and reads the server's
// answer: the commit's sequence, nothing for a staged message, or the
// error.
func requestBatchMsg(ctx context.Context, nc *nats.Conn, m *nats.Msg, commit bool) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, batchAckWait)
		defer cancel()
	}
	resp, err := nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, jetstream.ErrNoStreamResponse
	}
	if err != nil {
		return 0, err
	}
	if !commit && len(resp.Data) == 0 {
		return 0, nil // staged
	}
	var ack batchAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if !commit {
		// A server without atomic batches stores each message on its own:
		// streams.Ensure refuses to start on one, so this one was changed
		// behind fmn's back.
		return 0, fmt.Errorf("message %s of an atomic batch stored on its own at sequence %d: the NATS server or the stream does not support atomic publish",
			m.Header.Get(headerBatchSeq), ack.Sequence)
	}
	if ack.Stream == "" || ack.Sequence == 0 {
		return 0, jetstream.ErrInvalidJSAck
	}
	return ack.Sequence, nil
}

// batchErrorCode is the JetStream API error code of err, 0 if none.
func batchErrorCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}
