package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The workload: message i is about one user, user<i mod 20>. Users 00–09
// have a related-events rule that emails them from the start, users 10–19
// none, so exactly the even half of the messages yields one email each —
// unless a trial adds a rule on the way (lateUser).
const (
	workloadUsers = 20
	ruleUsers     = 10
	lateUser      = "user10"
)

func userOf(i int) string       { return fmt.Sprintf("user%02d", i%workloadUsers) }
func addressOf(u string) string { return u + "@example.org" }

// rcptKey is how the sink and the expectations name one notification.
func rcptKey(busID, user string) string { return busID + " " + addressOf(user) }

func ruleJSON(u string) []byte {
	r := map[string]any{
		"name":          "chaos: everything about " + u,
		"tracking_rule": map[string]any{"name": "related-events", "params": nil},
		"generation_rules": []any{map[string]any{
			"destinations": []any{map[string]any{"protocol": "email", "address": addressOf(u)}},
			"filters": map[string]any{"applications": []any{}, "excluded_applications": []any{},
				"severities": []any{}, "topic": nil, "my_actions": false},
		}},
	}
	b, _ := json.Marshal(r)
	return b
}

// sent is what the publisher knows of one message.
type sent struct {
	idx       int
	id        string
	user      string
	first     time.Time // first publish attempt
	acked     time.Time // PubAck received (zero: never stored)
	attempts  int
	duplicate bool // the stream already had it (a retry after a lost PubAck)
}

type publisher struct {
	js    jetstream.JetStream
	trial string
	n     int
	rate  float64

	mu       sync.Mutex
	msgs     []sent
	done     atomic.Int64 // messages acknowledged or given up
	start    time.Time
	end      time.Time
	retries  atomic.Int64
	firstErr string
}

// message i in the fedora-messaging file form, converted by fmn's own bus
// package to its BUS form (subject, Nats-Msg-Id, filter headers).
func (p *publisher) message(i int, now time.Time) (*nats.Msg, string, string) {
	u := userOf(i)
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("fmn-chaos/%s/%d/%d", p.trial, p.start.UnixNano(), i))).String()
	body, _ := json.Marshal(map[string]any{
		"summary": fmt.Sprintf("chaos %s message %d about %s", p.trial, i, u),
		"agent":   "chaosbot",
		"url":     fmt.Sprintf("https://chaos.example.org/%s/%d", p.trial, i),
	})
	m := bus.Message{
		ID:    id,
		Topic: "org.fedoraproject.prod.chaos.trial.event",
		Headers: map[string]json.RawMessage{
			"fedora_messaging_schema":    json.RawMessage(`"base.message"`),
			"fedora_messaging_severity":  json.RawMessage(`20`),
			"sent-at":                    json.RawMessage(fmt.Sprintf("%q", now.UTC().Format("2006-01-02T15:04:05.000000+00:00"))),
			"fedora_messaging_user_" + u: json.RawMessage(`true`),
		},
		Body: body,
	}
	nm, err := m.NATSMsg()
	if err != nil {
		panic(err) // the workload is ours: a bad message is a harness bug
	}
	return nm, id, u
}

// run publishes n messages at the fixed rate. Each message is retried with
// the same Nats-Msg-Id until it is stored (BUS drops the duplicates), for
// up to giveUp; a few workers keep the rate when a publish is slow.
func (p *publisher) run(ctx context.Context, giveUp time.Duration) {
	p.mu.Lock()
	p.start = time.Now()
	p.msgs = make([]sent, p.n)
	p.mu.Unlock()
	work := make(chan int, p.n)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p.publish(ctx, i, giveUp)
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / p.rate)
	for i := 0; i < p.n; i++ {
		at := p.start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	p.mu.Lock()
	p.end = time.Now()
	p.mu.Unlock()
}

func (p *publisher) publish(ctx context.Context, i int, giveUp time.Duration) {
	defer p.done.Add(1)
	now := time.Now()
	nm, id, u := p.message(i, now)
	s := sent{idx: i, id: id, user: u, first: now}
	for ctx.Err() == nil {
		s.attempts++
		actx, cancel := context.WithTimeout(ctx, 4*time.Second)
		ack, err := p.js.PublishMsg(actx, nm)
		cancel()
		if err == nil {
			s.acked, s.duplicate = time.Now(), ack.Duplicate
			break
		}
		p.retries.Add(1)
		p.mu.Lock()
		if p.firstErr == "" {
			p.firstErr = err.Error()
		}
		p.mu.Unlock()
		if time.Since(now) > giveUp {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	p.mu.Lock()
	p.msgs[i] = s
	p.mu.Unlock()
}

func (p *publisher) startTime() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.start
}

func (p *publisher) progress() float64 {
	if p.n == 0 {
		return 1
	}
	return float64(p.done.Load()) / float64(p.n)
}

// waitProgress waits until frac of the messages are published (or ctx ends).
func (p *publisher) waitProgress(ctx context.Context, frac float64) {
	for p.progress() < frac && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *publisher) snapshot() []sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sent(nil), p.msgs...)
}
