package app

import (
	"context"
	"slices"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmnmsg"
	"github.com/prometheus/client_golang/prometheus"
)

// roleAMQPPublisher is the role that publishes FMN's rule messages.
const roleAMQPPublisher = "amqp-publisher"

// DevRoles are the roles `fmn dev` runs: every role, the amqp-publisher
// only when FMN_AMQP_URL is set.
func DevRoles(cfg config.Config) []string {
	if cfg.AMQPURL != "" {
		return AllRoles
	}
	return slices.DeleteFunc(slices.Clone(AllRoles), func(r string) bool { return r == roleAMQPPublisher })
}

// amqpPublisherConfig is the publisher's configuration from the settings.
func amqpPublisherConfig(cfg config.Config) fmnmsg.Config {
	prefix := cfg.AMQPTopicPrefix
	if prefix == "none" {
		prefix = ""
	}
	return fmnmsg.Config{URL: cfg.AMQPURL, Exchange: cfg.AMQPExchange, TopicPrefix: prefix,
		Stream: cfg.Streams.Rules}.WithDefaults()
}

// startAMQPPublisher runs the amqp-publisher role: each rule change on
// RULES published on the AMQP bus as FMN's message (fmn-messages), from
// its own durable consumer, acknowledged after the broker's confirm.
func startAMQPPublisher(_ context.Context, p *process) error {
	pub, err := fmnmsg.New(p.env.JS, amqpPublisherConfig(p.cfg), p.log.With("role", roleAMQPPublisher))
	if err != nil {
		return err
	}
	p.run(roleAMQPPublisher, pub.Run)
	p.ops.consumer(p.cfg.Streams.Rules, pub.Durable(), false)
	p.ops.add(api.Check{Name: "amqp-publisher", Detail: func(context.Context) (string, error) { return pub.Status() }})
	for _, c := range []struct {
		name, help string
		fn         func(fmnmsg.Stats) int64
	}{
		{"fmn_amqp_published_total", "FMN rule messages the AMQP broker confirmed.", func(s fmnmsg.Stats) int64 { return s.Published }},
		{"fmn_amqp_skipped_total", "RULES events that are not rule changes, acknowledged without a message.", func(s fmnmsg.Stats) int64 { return s.Skipped }},
		{"fmn_amqp_publish_failures_total", "Failed attempts to publish to the AMQP broker (each retried).", func(s fmnmsg.Stats) int64 { return s.Failures }},
	} {
		p.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.fn(pub.Stats())) }))
	}
	return nil
}
