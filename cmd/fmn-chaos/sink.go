package main

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is the SMTP server the email sender delivers to: it keeps, for each
// email, its Message-ID, the bus message it is about and the recipient, and
// when it arrived. It can be taken down and brought back on the same port.
type sink struct {
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	up       bool
	byMsgID  map[string]int // Message-ID → times received
	byKey    map[string]int // bus message id + recipient → times received
	firstAt  map[string]time.Time
	arrivals []time.Time
	total    int
	noID     int
	aborted  int // DATA cut short (the sender died or hung up)
}

func newSink(addr string) (*sink, error) {
	s := &sink{addr: addr}
	s.reset()
	return s, s.start()
}

// reset forgets what was received (a new trial).
func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byMsgID, s.byKey, s.firstAt, s.arrivals, s.total, s.noID, s.aborted = map[string]int{}, map[string]int{}, map[string]time.Time{}, nil, 0, 0, 0
}

func (s *sink) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.up {
		return nil
	}
	var l net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.ErrorLog = log.New(io.Discard, "", 0) // a sender killed mid-session is a trial, not news
	s.srv, s.up = srv, true
	go func() { _ = srv.Serve(l) }()
	return nil
}

// stop closes the listener and every open connection.
func (s *sink) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.up = nil, false
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct {
	s  *sink
	to []string
}

func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, strings.ToLower(to))
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	// Only a message read to its end counts: a sender killed in the middle
	// of DATA delivered nothing.
	br := bufio.NewReader(r)
	h, err := textproto.NewReader(br).ReadMIMEHeader()
	if err == nil {
		_, err = io.Copy(io.Discard, br)
	}
	if err != nil {
		ss.s.mu.Lock()
		ss.s.aborted++
		ss.s.mu.Unlock()
		return err
	}
	msgID := h.Get("Message-Id")
	busID := h.Get("X-Fedora-Messaging-Id")
	now := time.Now()
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.arrivals = append(s.arrivals, now)
	if msgID == "" {
		s.noID++
	} else {
		s.byMsgID[msgID]++
	}
	for _, to := range ss.to {
		k := busID + " " + to
		if s.byKey[k] == 0 {
			s.firstAt[k] = now
		}
		s.byKey[k]++
	}
	return nil
}

// snapshot is what the sink has received so far.
type snapshot struct {
	byKey    map[string]int
	firstAt  map[string]time.Time
	arrivals []time.Time
	total    int
	dupMsgID int // receptions beyond the first of each Message-ID
	noID     int
	aborted  int
}

func (s *sink) snapshot() snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := snapshot{byKey: make(map[string]int, len(s.byKey)), firstAt: make(map[string]time.Time, len(s.firstAt)), total: s.total, noID: s.noID, aborted: s.aborted}
	for k, v := range s.byKey {
		sn.byKey[k] = v
	}
	for k, v := range s.firstAt {
		sn.firstAt[k] = v
	}
	sn.arrivals = append([]time.Time(nil), s.arrivals...)
	for _, v := range s.byMsgID {
		sn.dupMsgID += v - 1
	}
	return sn
}

// received counts the distinct keys received among want.
func (s *sink) received(want map[string]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range want {
		if s.byKey[k] > 0 {
			n++
		}
	}
	return n
}

func (s *sink) lastArrival() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.arrivals) == 0 {
		return time.Time{}
	}
	return s.arrivals[len(s.arrivals)-1]
}
