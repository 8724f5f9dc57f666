package fmntest

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports handed to peers (InspIRCd, Dendrite, RabbitMQ nodes) come from
// below Linux's ephemeral range (32768-60999 by default): a port picked
// with ":0" and closed again is soon reused as the local port of some
// outgoing connection of the parallel tests, and the peer then fails to
// bind it.
const (
	peerPortLow  = 20000
	peerPortHigh = 32000
)

var (
	portsMu sync.Mutex
	given   = map[int]bool{} // never hand out a port twice in one process
)

// FreePorts returns n distinct loopback TCP ports that are free now, for a
// peer process to listen on.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no free loopback port in %d-%d", peerPortLow, peerPortHigh)
		}
		p := peerPortLow + rand.IntN(peerPortHigh-peerPortLow)
		if given[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		given[p] = true
		ports = append(ports, p)
	}
	return ports
}

// FreePort is FreePorts(t, 1)[0].
func FreePort(t testing.TB) int { return FreePorts(t, 1)[0] }
