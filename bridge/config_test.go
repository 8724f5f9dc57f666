package bridge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/internal/redact"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	if c.URL != "amqp://guest:guest@127.0.0.1:5672/" || c.Exchange != "amq.topic" || c.Queue != "fmn" ||
		len(c.BindingKeys) != 1 || c.BindingKeys[0] != "#" || c.Prefetch != 256 || c.DeadLetterSubject != "dlq.bus" ||
		c.Limits.MaxBody != 1<<20 {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"scheme", func(c *Config) { c.URL = "http://u:pw@host/" }, "scheme must be amqp or amqps"},
		{"no host", func(c *Config) { c.URL = "amqp://u:Secr3tPw@/" }, "no host"},
		{"unparseable", func(c *Config) { c.URL = "amqp://u:Secr3tPw@host:port:x/" }, "not a valid URL"},
		{"prefetch", func(c *Config) { c.Prefetch = 70000 }, "prefetch"},
		{"binding key", func(c *Config) { c.BindingKeys = []string{""} }, "binding key"},
		{"backoff", func(c *Config) { c.ReconnectMax = time.Millisecond }, "backoff"},
		{"dead-letter subject", func(c *Config) { c.DeadLetterSubject = "dlq.*" }, "dead-letter subject"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.WithDefaults()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "Secr3tPw") {
				t.Errorf("password in %q", err)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	c := Config{URL: "amqp://fmn:p%40ss:w0rd@broker.example:5671/vh"}.WithDefaults()
	if s := c.String(); strings.Contains(s, "w0rd") || !strings.Contains(s, "fmn:<secret>@broker.example") {
		t.Errorf("String() = %q", s)
	}
	b := &bridge{secrets: redact.URLSecrets(c.URL)}
	err := b.scrub(errors.New(`dial "amqp://fmn:p%40ss:w0rd@broker.example:5671/vh": password p@ss:w0rd refused`))
	if strings.Contains(err.Error(), "w0rd") {
		t.Errorf("redacted error %q", err)
	}
	if s := (Config{URL: "::bad:w0rd"}).String(); strings.Contains(s, "w0rd") {
		t.Errorf("an invalid URL must not be echoed: %q", s)
	}
}

func TestHeaderJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   any
		want string
	}{
		{"text", `"text"`}, {true, `true`}, {int8(-3), `-3`}, {int16(300), `300`}, {int32(20), `20`},
		{int64(1) << 40, `1099511627776`}, {uint8(7), `7`}, {float32(1.5), `1.5`}, {2.25, `2.25`},
		{amqp.Decimal{Scale: 2, Value: -1234}, `-12.34`}, {amqp.Decimal{Scale: 3, Value: 5}, `0.005`},
		{time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 3600)), `"2024-05-01T11:00:00Z"`},
		{[]byte("bytes"), `"bytes"`}, {[]byte{0xff, 0x00}, `"/wA="`},
		{[]any{"a", int32(1), nil}, `["a",1,null]`}, {amqp.Table{"k": amqp.Table{"n": true}}, `{"k":{"n":true}}`},
	} {
		raw, ok := headerJSON(tt.in)
		if !ok || string(raw) != tt.want || !json.Valid(raw) {
			t.Errorf("headerJSON(%#v) = %s %v, want %s", tt.in, raw, ok, tt.want)
		}
	}
	if _, ok := headerJSON(nil); ok {
		t.Error("nil must be dropped")
	}
}

func TestHeaderSafe(t *testing.T) {
	t.Parallel()
	if got := headerSafe("a\r\nb\x00c", 100); got != "a  b c" {
		t.Errorf("%q", got)
	}
	if got := headerSafe(strings.Repeat("é", 10), 5); got != "éé…" {
		t.Errorf("%q", got)
	}
}
