package streams_test

import (
	"sync"
	"testing"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go/jetstream"
)

// Processes opening a bucket that does not exist yet at once all get it:
// one creates it, the others open it. Opening it again keeps what is in
// it and its configuration.
func TestOpenKeyValueConcurrently(t *testing.T) {
	t.Parallel()
	srv, err := streams.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx := fmntest.Context(t)
	cfg := jetstream.KeyValueConfig{Bucket: "opened", Description: "test", History: 1, Storage: jetstream.FileStorage}
	const n = 8
	kvs := make([]jetstream.KeyValue, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		js := connect(t, srv.URL())
		wg.Go(func() {
			<-start
			kvs[i], errs[i] = streams.OpenKeyValue(ctx, js, cfg)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	if _, err := kvs[0].Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	again, err := streams.OpenKeyValue(ctx, connect(t, srv.URL()), jetstream.KeyValueConfig{Bucket: "opened", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	e, err := again.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("value after reopening: %v, %v", e, err)
	}
	st, err := again.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 1 {
		t.Errorf("history %d after reopening with another configuration; want the bucket's 1", st.History())
	}
}
