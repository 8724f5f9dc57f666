package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fmn-project/fmn/bridge"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/internal/redact"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpURL is the shared test broker: FMN_TEST_AMQP_URL or the local one.
func amqpURL() string { return fmntest.AMQPURL() }

// bundle is what a bridge test needs: a NATS server with the streams, a
// broker, and a bridge configuration with names of its own.
type bundle struct {
	nats *fmntest.NATS
	cfg  bridge.Config
	logs *syncBuffer
}

func setup(t *testing.T, url string) *bundle {
	t.Helper()
	id := fmntest.RandomID()
	b := &bundle{
		nats: fmntest.StartNATS(t),
		logs: &syncBuffer{},
		cfg: bridge.Config{
			URL:            url,
			Exchange:       "fmntest.x." + id,
			Queue:          "fmntest.q." + id,
			BindingKeys:    []string{"org.fedoraproject.#", "test.#"},
			ReconnectMin:   50 * time.Millisecond,
			ReconnectMax:   500 * time.Millisecond,
			PublishTimeout: 5 * time.Second,
		},
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("RabbitMQ at %s: %v (start it with scripts/services.sh)", redact.URL(url), err)
	}
	conn.Close()
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			return // a private node may be gone already
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(b.cfg.Queue, false, false, false)
			_ = ch.ExchangeDelete(b.cfg.Exchange, false, false)
		}
	})
	return b
}

// start runs the bridge until stop is called; stop waits for Run to
// return and gives its error.
func (b *bundle) start(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { done <- bridge.Run(ctx, b.cfg, b.nats.JS, log) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("bridge.Run did not return within 30s of cancellation")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	b.waitConsumer(t)
	return stop
}

// waitConsumer waits until the bridge consumes its queue.
func (b *bundle) waitConsumer(t *testing.T) {
	t.Helper()
	fmntest.Eventually(t, 60*time.Second, "the bridge consumes its queue", func() bool {
		q, err := b.queue()
		return err == nil && q.Consumers > 0
	})
}

func (b *bundle) queue() (amqp.Queue, error) {
	conn, err := amqp.Dial(b.cfg.URL)
	if err != nil {
		return amqp.Queue{}, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return amqp.Queue{}, err
	}
	return ch.QueueDeclarePassive(b.cfg.Queue, true, false, false, false, nil)
}

// publish sends messages to the bridge's exchange as fedora-messaging does
// (persistent, publisher confirms) and waits for the broker's confirms.
func (b *bundle) publish(t *testing.T, msgs ...delivery) {
	t.Helper()
	conn, err := amqp.Dial(b.cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx := fmntest.Context(t)
	var confirms []*amqp.DeferredConfirmation
	for _, m := range msgs {
		m.Publishing.DeliveryMode = amqp.Persistent
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, b.cfg.Exchange, m.key, true, false, m.Publishing)
		if err != nil {
			t.Fatal(err)
		}
		confirms = append(confirms, dc)
	}
	for i, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil || !ok {
			t.Fatalf("message %d not confirmed by the broker: %v", i, err)
		}
	}
}

type delivery struct {
	key string
	amqp.Publishing
}

// fedoraMsg is a message shaped as fedora-messaging publishes it.
func fedoraMsg(id, topic, body string) delivery {
	return delivery{key: topic, Publishing: amqp.Publishing{
		MessageId:       id,
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		Headers: amqp.Table{
			"fedora_messaging_schema":     "base.message",
			"fedora_messaging_severity":   int32(30),
			"sent-at":                     "2024-05-01T12:30:45+00:00",
			"fedora_messaging_user_alice": true,
			"fedora_messaging_rpm_foo":    true,
		},
		Body: []byte(body),
	}}
}

// count is the number of messages in a stream.
func count(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(fmntest.Context(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(fmntest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// all returns every message of a stream, in order.
func all(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := fmntest.Context(t)
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rabbitNode is a private RabbitMQ node for one test, on loopback, with its
// own name, ports and directories. It shares the machine's epmd, which it
// leaves alone.
type rabbitNode struct {
	t      *testing.T
	name   string
	dir    string
	port   int
	server string // the rabbitmq-server script
	ctl    string // the rabbitmqctl script
	cmd    *exec.Cmd
	exited chan struct{}
}

// startRabbitNode starts a private node, or skips the test when RabbitMQ
// is not installed.
func startRabbitNode(t *testing.T) *rabbitNode {
	t.Helper()
	if _, err := exec.LookPath("rabbitmq-server"); err != nil {
		t.Skip("rabbitmq-server is not installed: skipping the broker restart test (apt-get install rabbitmq-server)")
	}
	n := &rabbitNode{t: t, name: "fmntest" + fmntest.RandomID() + "@localhost", dir: t.TempDir(), port: fmntest.FreePort(t)}
	// Debian's /usr/sbin wrappers switch to the rabbitmq user when run as
	// root, who cannot use this test's directories: call the scripts
	// behind them when they are there.
	n.server, n.ctl = "rabbitmq-server", "rabbitmqctl"
	if _, err := os.Stat("/usr/lib/rabbitmq/bin/rabbitmq-server"); err == nil {
		n.server, n.ctl = "/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmqctl"
	}
	conf := fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\n", n.port)
	if err := os.WriteFile(filepath.Join(n.dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.kill)
	n.start()
	return n
}

func (n *rabbitNode) url() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.port) }

func (n *rabbitNode) env() []string {
	return append(os.Environ(),
		"RABBITMQ_NODENAME="+n.name,
		"RABBITMQ_CONFIG_FILE="+filepath.Join(n.dir, "rabbitmq"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.dir, "enabled_plugins"),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(fmntest.FreePort(n.t)),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"HOME="+n.dir, // the Erlang cookie lives here, for the server and rabbitmqctl
	)
}

// start starts the node and waits until it accepts AMQP connections.
func (n *rabbitNode) start() {
	n.t.Helper()
	out, err := os.OpenFile(filepath.Join(n.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	n.cmd = exec.Command(n.server)
	n.cmd.Dir = n.dir
	n.cmd.Env = n.env()
	n.cmd.Stdout, n.cmd.Stderr = out, out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to stop the whole node, and only it
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}(n.cmd, n.exited)
	fmntest.Eventually(n.t, 90*time.Second, "the private RabbitMQ node accepts connections", func() bool {
		select {
		case <-n.exited:
			log, _ := os.ReadFile(filepath.Join(n.dir, "server.out"))
			n.t.Fatalf("rabbitmq-server exited:\n%s", log)
		default:
		}
		conn, err := amqp.Dial(n.url())
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
}

// stop stops the node gracefully and waits for it to exit.
func (n *rabbitNode) stop() {
	n.t.Helper()
	ctl := exec.Command(n.ctl, "-n", n.name, "stop")
	ctl.Dir, ctl.Env = n.dir, n.env()
	if out, err := ctl.CombinedOutput(); err != nil {
		n.t.Logf("rabbitmqctl stop: %v\n%s", err, out)
		n.signal(syscall.SIGTERM)
	}
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		n.signal(syscall.SIGKILL)
		<-n.exited
	}
}

// crash kills the node at once, as a power cut would.
func (n *rabbitNode) crash() {
	n.t.Helper()
	n.signal(syscall.SIGKILL)
	<-n.exited
}

// kill makes sure the node is gone at the end of the test.
func (n *rabbitNode) kill() {
	if n.cmd == nil || n.exited == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	n.signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.signal(syscall.SIGKILL)
		<-n.exited
	}
}

// signal signals the node's process group, which holds only this node's
// processes (epmd daemonizes into its own session and is not touched).
func (n *rabbitNode) signal(sig syscall.Signal) {
	if n.cmd.Process != nil {
		_ = syscall.Kill(-n.cmd.Process.Pid, sig)
	}
}
