package replay_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/replay"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestDLQ(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*fmntest.NATS, replay.DLQ) {
		n := startNATS(t)
		return n, replay.DLQ{JS: n.JS, Streams: n.Streams, By: "ops"}
	}
	// deadNotification stores a notification in NOTIFY and its dead letter
	// as the senders do; it returns the dead letter's sequence.
	deadNotification := func(t *testing.T, n *fmntest.NATS, id string) uint64 {
		ctx := fmntest.Context(t)
		data, _ := json.Marshal(notification.Notification{ID: id, Protocol: "email", Address: "alice@example.org", User: "alice"})
		ack, err := n.JS.Publish(ctx, wire.NotifySubject("email"), data, jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		dl := nats.NewMsg(wire.DLQNotifySubject("email"))
		dl.Data = data
		dl.Header.Set(wire.HeaderReason, "gave up after 3 attempts: 451 mailbox busy")
		dl.Header.Set(wire.HeaderSource, wire.NotifySubject("email"))
		dl.Header.Set(wire.HeaderSourceSq, strconv.FormatUint(ack.Sequence, 10))
		dl.Header.Set("Fmn-Deliveries", "3")
		dl.Header.Set("Fmn-Source-Msg-Id", id)
		dack, err := n.JS.PublishMsg(ctx, dl, jetstream.WithMsgID("NOTIFY:"+strconv.FormatUint(ack.Sequence, 10)))
		if err != nil {
			t.Fatal(err)
		}
		return dack.Sequence
	}

	t.Run("ListShowsReasons", func(t *testing.T) {
		t.Parallel()
		n, q := setup(t)
		deadNotification(t, n, "n1")
		deadNotification(t, n, "n2")
		var got []replay.DeadLetter
		if err := q.List(fmntest.Context(t), replay.Selection{Subjects: []string{replay.DLQSubject("email")}}, func(d replay.DeadLetter) error {
			got = append(got, d)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Reason != "gave up after 3 attempts: 451 mailbox busy" || got[0].Deliveries != 3 ||
			got[0].Channel() != "email" || got[1].SourceMsgID != "n2" || got[0].Source != "notify.email" {
			t.Errorf("dead letters %+v", got)
		}
	})

	t.Run("RetryRepublishesAndDeletes", func(t *testing.T) {
		t.Parallel()
		n, q := setup(t)
		ctx := fmntest.Context(t)
		seq := deadNotification(t, n, "n1")
		r, err := q.Retry(ctx, seq, "run-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Stream != n.Streams.Notify || r.NewSeq != 2 || r.Subject != "notify.email" || r.Duplicate {
			t.Errorf("retried %+v", r)
		}
		st, _ := n.JS.Stream(ctx, n.Streams.Notify)
		m, err := st.GetMsg(ctx, r.NewSeq)
		if err != nil {
			t.Fatal(err)
		}
		var got notification.Notification
		if err := json.Unmarshal(m.Data, &got); err != nil || got.ID != "n1" {
			t.Errorf("republished %s (%v)", m.Data, err)
		}
		h := m.Header
		if h.Get(wire.HeaderMsgID) != replay.RetryMsgID(n.Streams.DLQ, seq) || h.Get(wire.HeaderResendRun) != "run-1" ||
			h.Get(wire.HeaderResendOf) != "DLQ:"+strconv.FormatUint(seq, 10) || h.Get(wire.HeaderReason) != "" || h.Get("Fmn-Deliveries") != "" {
			t.Errorf("headers %v", h)
		}
		if _, err := q.Get(ctx, seq); err == nil || !strings.Contains(err.Error(), "no dead letter") {
			t.Errorf("dead letter still there: %v", err)
		}
	})

	t.Run("BusRetryKeepsTheIDAndRespectsTheDuplicateWindow", func(t *testing.T) {
		t.Parallel()
		n, q := setup(t)
		ctx := fmntest.Context(t)
		orig := busMsg{ID: "bad-1", Topic: "org.fedoraproject.prod.bodhi.x", App: "bodhi"}.nats()
		orig.Data = []byte("{not json")
		ack, err := n.JS.PublishMsg(ctx, orig)
		if err != nil {
			t.Fatal(err)
		}
		dl := nats.NewMsg(wire.DLQBus)
		dl.Data = orig.Data
		for k, v := range orig.Header {
			if !strings.HasPrefix(k, "Nats-") {
				dl.Header[k] = v
			}
		}
		dl.Header.Set(wire.HeaderReason, "body is not valid JSON")
		dl.Header.Set(wire.HeaderSource, orig.Subject)
		dl.Header.Set(wire.HeaderSourceSq, strconv.FormatUint(ack.Sequence, 10))
		dack, err := n.JS.PublishMsg(ctx, dl, jetstream.WithMsgID("bus-1"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Retry(ctx, dack.Sequence, "run-2")
		if !errors.Is(err, replay.ErrStillDuplicate) {
			t.Fatalf("retry inside the duplicate window: %v", err)
		}
		if _, err := q.Get(ctx, dack.Sequence); err != nil {
			t.Errorf("the dead letter went although nothing was republished: %v", err)
		}
		// Once BUS has lost the original, the id is lost too: refused.
		st, _ := n.JS.Stream(ctx, n.Streams.Bus)
		if err := st.DeleteMsg(ctx, ack.Sequence); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Retry(ctx, dack.Sequence, "run-2"); err == nil || !strings.Contains(err.Error(), "id is lost") {
			t.Errorf("retry without an id: %v", err)
		}
	})

	t.Run("Drop", func(t *testing.T) {
		t.Parallel()
		n, q := setup(t)
		ctx := fmntest.Context(t)
		seq := deadNotification(t, n, "n1")
		if err := q.Drop(ctx, seq); err != nil {
			t.Fatal(err)
		}
		if err := q.Drop(ctx, seq); err == nil {
			t.Error("dropped twice")
		}
	})
}
