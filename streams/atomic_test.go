package streams_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An R3 RULES stream made by an older fmn (no atomic publish) on a
// three-node cluster: the next server start turns atomic publish on, and
// only on RULES; a batch then goes in.
func TestEnsureTurnsOnAtomicPublishOnACluster(t *testing.T) {
	t.Parallel()
	c := fmntest.StartNATSCluster(t, 3)
	nc, js := c.Connect(t)
	ctx, cancel := context.WithTimeout(fmntest.Context(t), fmntest.Scaled(time.Minute))
	defer cancel()
	r3 := streams.Defaults()
	r3.Replicas = 3
	for _, sc := range r3.StreamConfigs() {
		sc.AllowAtomicPublish = false // as fmn made them before
		if _, err := streams.EnsureStream(ctx, js, sc, false, fmntest.Logger(t, slog.LevelWarn)); err != nil {
			t.Fatal(err)
		}
	}
	if info(t, js, r3.Rules).AllowAtomicPublish {
		t.Fatal("the old RULES stream allows atomic publish already")
	}

	rec, log := newLogRecorder(t)
	if err := streams.Ensure(ctx, js, r3, log); err != nil {
		t.Fatal(err)
	}
	if k := rec.count("stream configuration updated", "stream=RULES", "AllowAtomicPublish"); k != 1 {
		t.Errorf("RULES updated %d times naming AllowAtomicPublish, want once: %q", k, rec.lines)
	}
	if k := rec.count("stream configuration updated"); k != 1 {
		t.Errorf("%d streams updated, want 1 (RULES): %q", k, rec.lines)
	}
	for _, name := range r3.Names() {
		got := c.StreamInfo(t, js, name).Config
		if want := name == r3.Rules; got.AllowAtomicPublish != want || got.Replicas != 3 {
			t.Errorf("stream %s: atomic publish %v, replicas %d; want %v, 3", name, got.AllowAtomicPublish, got.Replicas, want)
		}
	}
	// Another start changes nothing.
	rec2, log2 := newLogRecorder(t)
	if err := streams.Ensure(ctx, js, r3, log2); err != nil {
		t.Fatal(err)
	}
	if k := rec2.count("stream configuration updated"); k != 0 {
		t.Errorf("a second start updated %d streams: %q", k, rec2.lines)
	}

	// A batch of two on a user's subject, the first expecting the subject
	// empty, on the replicated stream.
	subj := wire.RulesUserSubject("zoe")
	for i := 1; i <= 2; i++ {
		m := nats.NewMsg(subj)
		m.Data = []byte(`{"type":"user.created"}`)
		m.Header.Set("Nats-Batch-Id", "b1")
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
		m.Header.Set(jetstream.MsgIDHeader, "zoe-"+strconv.Itoa(i))
		if i == 1 {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		} else {
			m.Header.Set("Nats-Batch-Commit", "1")
		}
		resp, err := nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if len(resp.Data) != 0 {
				t.Fatalf("first message of the batch: %s, want an empty answer", resp.Data)
			}
			continue
		}
		var ack struct {
			Error *jetstream.APIError `json:"error"`
			Seq   uint64              `json:"seq"`
			Count int                 `json:"count"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Error != nil || ack.Count != 2 {
			t.Fatalf("commit: %s (%v)", resp.Data, err)
		}
	}
	if got := c.StreamInfo(t, js, r3.Rules).State.Msgs; got != 2 {
		t.Errorf("RULES holds %d messages after the batch, want 2", got)
	}
}

// Ensure turns atomic publish on where fmn needs it and never off: an
// operator's setting on another stream stays.
func TestEnsureKeepsAnOperatorsAtomicPublish(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ctx := fmntest.Context(t)
	st, err := n.JS.Stream(ctx, n.Streams.Bus)
	if err != nil {
		t.Fatal(err)
	}
	edited := st.CachedInfo().Config
	edited.AllowAtomicPublish = true
	if _, err := n.JS.UpdateStream(ctx, edited); err != nil {
		t.Fatal(err)
	}
	if err := streams.Ensure(ctx, n.JS, n.Streams, fmntest.Logger(t, slog.LevelWarn)); err != nil {
		t.Fatal(err)
	}
	if !info(t, n.JS, n.Streams.Bus).AllowAtomicPublish || !info(t, n.JS, n.Streams.Rules).AllowAtomicPublish {
		t.Error("atomic publish turned off by Ensure")
	}
}
