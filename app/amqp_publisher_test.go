package app_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/app"
	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmnmsg"
	"github.com/fmn-project/fmn/fmntest"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestAMQPPublisherRole runs the amqp-publisher role as `fmn serve` does,
// adds a rule with `fmn rules add`, and reads FMN's creation message from
// a queue on the real RabbitMQ; readiness reports the role.
func TestAMQPPublisherRole(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	exchange, deliveries := amqpQueue(t, "org.fedoraproject.stg.fmn.#")

	cfg := o.cfg
	cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPTopicPrefix = fmntest.AMQPURL(), exchange, "org.fedoraproject.stg"
	cfg.MetricsAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(o.ctx)
	done := make(chan error, 1)
	sysc := make(chan *app.System, 1)
	go func() {
		done <- app.RunSystem(ctx, cfg, []string{"amqp-publisher"}, app.Options{Log: quietLog(t), Started: func(s *app.System) { sysc <- s }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSystem: %v", err)
		}
	})
	var sys *app.System
	select {
	case sys = <-sysc:
	case err := <-done:
		t.Fatalf("RunSystem: %v", err)
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("the role did not start within 20s")
	}

	if code, out, errOut := o.run(t, "", []string{"rules", "add"}, "alice", "../testdata/sample-rule.json"); code != 0 {
		t.Fatalf("rules add: %d %s %s", code, out, errOut)
	}
	select {
	case d := <-deliveries:
		if d.RoutingKey != "org.fedoraproject.stg.fmn.rule.update.v1" || d.Headers[fmnmsg.HeaderSchema] != fmnmsg.SchemaCreate ||
			!strings.HasPrefix(string(d.Body), `{"rule": {"name": "Everything about me", "disabled": false, "tracking_rule": {"name": "related-events", "params": null}`) ||
			!strings.HasSuffix(string(d.Body), `"user": {"id": 1, "name": "alice", "is_admin": false}}`) {
			t.Errorf("message %s %v:\n%s", d.RoutingKey, d.Headers, d.Body)
		}
	case <-time.After(fmntest.Scaled(20 * time.Second)):
		t.Fatal("no message on the queue within 20s")
	}

	fmntest.Eventually(t, 10*time.Second, "readiness reports the publisher", func() bool {
		resp, err := http.Get("http://" + sys.MetricsAddr + "/healthz/ready")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "publishing to") &&
			strings.Contains(string(body), "consumer RULES/amqp-publisher")
	})
}

// amqpQueue declares an exchange of the test's own on the test RabbitMQ
// and a queue bound to it with key, and consumes the queue; both go when
// the test ends.
func amqpQueue(t *testing.T, key string) (exchange string, deliveries <-chan amqp.Delivery) {
	t.Helper()
	id := fmntest.RandomID()
	exchange, queue := "fmntest.app.x."+id, "fmntest.app.q."+id
	conn, err := amqp.Dial(fmntest.AMQPURL())
	if err != nil {
		t.Fatalf("RabbitMQ: %v (start it with scripts/services.sh)", err)
	}
	t.Cleanup(func() {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(queue, false, false, false)
			_ = ch.ExchangeDelete(exchange, false, false)
		}
		conn.Close()
	})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err = ch.Consume(queue, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return exchange, deliveries
}

// TestAMQPPublisherNeedsURL: fmn dev runs the role only with FMN_AMQP_URL,
// and a process asked for it without one says what is missing before it
// connects anything.
func TestAMQPPublisherNeedsURL(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	if slices.Contains(app.DevRoles(cfg), "amqp-publisher") {
		t.Error("fmn dev runs amqp-publisher without FMN_AMQP_URL")
	}
	cfg.AMQPURL = "amqp://guest:guest@127.0.0.1:5672/"
	if !slices.Contains(app.DevRoles(cfg), "amqp-publisher") {
		t.Error("fmn dev does not run amqp-publisher with FMN_AMQP_URL")
	}
	cfg = config.Defaults()
	cfg.NATSURL = "nats://127.0.0.1:1" // never reached
	err := app.RunSystem(context.Background(), cfg, []string{"amqp-publisher"}, app.Options{Log: quietLog(t)})
	if err == nil || !strings.Contains(err.Error(), "FMN_AMQP_URL") {
		t.Errorf("RunSystem without FMN_AMQP_URL: %v", err)
	}
}
