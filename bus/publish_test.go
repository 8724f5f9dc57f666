package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/nats-io/nats.go/jetstream"
)

func fileOf(n int, extra ...string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"id": "msg-%d", "topic": "org.fedoraproject.prod.bodhi.update.comment",`+
			` "headers": {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 30,`+
			` "sent-at": "2024-05-01T12:00:00+00:00", "fedora_messaging_user_alice": true}, "body": {"n": %d}, "priority": 2}`+"\n", i, i)
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

func TestPublish(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ctx := fmntest.Context(t)
	const count = 600 // more than the window, so the window cycles

	var progress []bus.PublishStats
	stats, err := bus.Publish(ctx, n.JS, strings.NewReader(fileOf(count)), bus.PublishOptions{
		Window: 64, ProgressEvery: 200,
		Progress: func(s bus.PublishStats) { progress = append(progress, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats != (bus.PublishStats{Read: count, Published: count}) {
		t.Errorf("stats %+v", stats)
	}
	if len(progress) != 4 || progress[3] != stats {
		t.Errorf("progress %+v", progress)
	}

	t.Run("subjects, headers and body", func(t *testing.T) {
		stream, err := n.JS.Stream(ctx, n.Streams.Bus)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := stream.GetMsg(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Subject != "bus.org.fedoraproject.prod.bodhi.update.comment" {
			t.Errorf("subject %q", raw.Subject)
		}
		for k, want := range map[string]string{
			"Nats-Msg-Id": "msg-1", "fedora_messaging_schema": "base.message", "fedora_messaging_severity": "30",
			"sent-at": "2024-05-01T12:00:00+00:00", "fedora_messaging_user_alice": "true", "priority": "2",
		} {
			if got := raw.Header.Get(k); got != want {
				t.Errorf("header %s = %q, want %q", k, got, want)
			}
		}
		if string(raw.Data) != `{"n": 1}` {
			t.Errorf("body %s", raw.Data)
		}
		p, err := bus.ParseNATS(raw.Subject, raw.Header, raw.Data)
		if err != nil || p.Severity != bus.SeverityWarning || p.Usernames[0] != "alice" || p.App != "bodhi" {
			t.Errorf("parsed %+v %v", p, err)
		}
	})

	t.Run("publishing the same file again gives duplicates", func(t *testing.T) {
		stats, err := bus.Publish(ctx, n.JS, strings.NewReader(fileOf(count)), bus.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if stats != (bus.PublishStats{Read: count, Duplicates: count}) {
			t.Errorf("stats %+v", stats)
		}
		info := streamInfo(t, ctx, n.JS, n.Streams.Bus)
		if info.State.Msgs != count {
			t.Errorf("stream holds %d messages, want %d", info.State.Msgs, count)
		}
	})
}

func TestPublishRejectsBadRecords(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ctx := fmntest.Context(t)
	in := fileOf(3,
		`{"id": "no-topic", "body": {}}`,
		`{"id": "bad-topic", "topic": "a b", "body": {}}`,
		`{"topic": "a.b", "body": {}}`,
		`not json at all`,
		`{"id": "ok-after", "topic": "a.b", "body": {}}`,
	)
	var reported []error
	stats, err := bus.Publish(ctx, n.JS, strings.NewReader(in), bus.PublishOptions{Report: func(e error) { reported = append(reported, e) }})
	if stats != (bus.PublishStats{Read: 8, Published: 4, Rejected: 4}) {
		t.Errorf("stats %+v", stats)
	}
	if err == nil {
		t.Fatal("no error for rejected records")
	}
	for _, want := range []string{"4 of 8 records rejected", "record 4 (line 4): invalid bus message: topic is missing",
		"record 5 (line 5)", "record 6 (line 6): invalid bus message: no message id", "record 7 (line 7)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	var re *bus.RecordError
	if len(reported) != 4 || !errors.As(reported[0], &re) || re.Record != 4 {
		t.Errorf("reported %v", reported)
	}
	if got := streamInfo(t, ctx, n.JS, n.Streams.Bus).State.Msgs; got != 4 {
		t.Errorf("stream holds %d", got)
	}
}

func TestPublishCancelled(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ctx, cancel := context.WithCancel(fmntest.Context(t))
	cancel()
	stats, err := bus.Publish(ctx, n.JS, strings.NewReader(fileOf(10)), bus.PublishOptions{})
	if !errors.Is(err, context.Canceled) || stats.Read != 0 {
		t.Errorf("stats %+v err %v", stats, err)
	}
}

func streamInfo(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestParseFromStream(t *testing.T) {
	t.Parallel()
	n := fmntest.StartNATS(t)
	ctx := fmntest.Context(t)
	in := `{"id": "with-time", "topic": "org.fedoraproject.prod.a.b", "headers": {"sent-at": "2024-05-01T12:00:00+00:00"}, "body": {}}` + "\n" +
		`{"id": "no-time", "topic": "org.fedoraproject.prod.a.b", "body": {"agent": "zoe"}}`
	if _, err := bus.Publish(ctx, n.JS, strings.NewReader(in), bus.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	c, err := n.JS.OrderedConsumer(ctx, n.Streams.Bus, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []*bus.Parsed
	for m := range batch.Messages() {
		p, err := bus.Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 2 {
		t.Fatalf("%d messages", len(got))
	}
	if want := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC); !got[0].SentAt.Equal(want) {
		t.Errorf("sent-at %v, want %v", got[0].SentAt, want)
	}
	if got[1].SentAt.Before(before) || got[1].SentAt.After(time.Now().Add(time.Minute)) || got[1].Agent != "zoe" || got[1].App != "a" {
		t.Errorf("without sent-at: %+v", got[1])
	}
}
