package fmntest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a NATS cluster of embedded nats-servers with JetStream, in
// the test's process, on loopback: what production runs (R3 streams), for
// tests of clustered behaviour. No stream exists at start.
type Cluster struct {
	Servers []*server.Server
	// URL lists every node's client URL, comma-separated, as
	// FMN_NATS_URL would.
	URL string
}

// StartNATSCluster starts n (at least 3 for R3 streams) clustered servers
// and waits until JetStream has a meta leader. They are shut down when the
// test ends.
func StartNATSCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := FreePorts(t, 2*n) // client, route
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	dir := t.TempDir()
	c := &Cluster{}
	var urls []string
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("fmntest-%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "fmntest",
				Host: "127.0.0.1",
				Port: ports[n+i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("cluster node %d: %v", i+1, err)
		}
		go srv.Start()
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		c.Servers = append(c.Servers, srv)
		urls = append(urls, srv.ClientURL())
	}
	for i, srv := range c.Servers {
		if !srv.ReadyForConnections(Scaled(10 * time.Second)) {
			t.Fatalf("cluster node %d did not start", i+1)
		}
	}
	c.URL = strings.Join(urls, ",")
	Eventually(t, 30*time.Second, "the cluster's JetStream elects a meta leader", func() bool {
		for _, srv := range c.Servers {
			if srv.JetStreamIsLeader() {
				for _, s := range c.Servers {
					if !s.JetStreamIsCurrent() {
						return false
					}
				}
				return true
			}
		}
		return false
	})
	return c
}

// Connect is a new connection to the cluster (every node in its server
// list) and its JetStream context; it is closed when the test ends.
func (c *Cluster) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	opts := append([]nats.Option{nats.MaxReconnects(-1)}, streams.LogOptions(Logger(t, 0))...)
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// StreamInfo is the current information of a stream on the cluster.
func (c *Cluster) StreamInfo(t testing.TB, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(Context(t), Scaled(10*time.Second))
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return st.CachedInfo()
}
