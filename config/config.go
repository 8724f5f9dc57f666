// Package config reads fmn's settings: flags with FMN_* environment
// equivalents, *_FILE variants for secrets, a working default for
// development, and validation that names the setting at fault.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is every setting of fmn. Field comments give the default.
type Config struct {
	// NATSURL is the NATS server, or a comma-separated list of a cluster's
	// servers; empty runs an embedded one (default empty).
	NATSURL string
	// NATSPort is the embedded server's port (default 4244; taken → random).
	NATSPort int
	// NATSAuth authenticates to FMN_NATS_URL and secures the connection
	// (credentials, nkey, user and password, TLS; default none).
	NATSAuth NATSAuth
	// DataDir holds the embedded server's storage (default ./.data).
	DataDir string
	// DatabaseURL is PostgreSQL (default postgres://postgres@127.0.0.1:5432/fmn?sslmode=disable).
	DatabaseURL string
	// RedisURL is Redis (default redis://127.0.0.1:6379/0).
	RedisURL string
	// RedisPrefix prefixes every key fmn writes (default "fmn:").
	RedisPrefix string
	// HTTPAddr is where the API and UI listen (default 127.0.0.1:8080).
	HTTPAddr string
	// MetricsAddr is where every role of the process serves /metrics,
	// /healthz/live and /healthz/ready (default empty: none when the
	// process runs the api role, whose FMN_HTTP_ADDR serves them;
	// `fmn serve` without the api role then listens on
	// DefaultMetricsAddr). "off" disables it.
	MetricsAddr string
	// PublicURL is how users reach fmn; used in notification footers
	// (default http://127.0.0.1:8080).
	PublicURL string
	// SiteName names fmn in notification footers (default "fmn").
	SiteName string
	// OIDCIssuer and OIDCClientID configure login (default empty: no login;
	// `fmn dev` then runs a development provider on loopback).
	OIDCIssuer, OIDCClientID string
	// OIDCClientSecret is fmn's client secret at the provider: it
	// authenticates fmn at the token introspection endpoint, through which
	// opaque access tokens are checked (default empty: opaque access tokens
	// are refused, JWTs accepted; `fmn dev`'s own provider sets it).
	OIDCClientSecret string
	// AuthNegativeCache is how long a refused token is refused again
	// without asking the provider (default 30s; 0: off).
	AuthNegativeCache time.Duration
	// AuthFailureBurst is how many failed authentications one client
	// address may make in a row before getting 429 (default 10; 0: no
	// limit); AuthFailureRate how many more per minute after that
	// (default 6).
	AuthFailureBurst, AuthFailureRate int
	// TrustedProxies are reverse proxies (addresses or CIDR prefixes)
	// whose X-Forwarded-For names the client address (default empty).
	TrustedProxies []string
	// OIDCScopes are the scopes the web UI asks for at login, space
	// separated (default empty: "openid profile email"; with `fmn dev`'s own
	// provider, plus offline_access for refresh tokens).
	OIDCScopes string
	// AdminGroups are the groups whose members are admins (default sysadmin-main).
	AdminGroups []string
	// CORSOrigins may call the API from browser pages of other origins:
	// scheme://host[:port] each, or "*" (default empty: same origin only).
	CORSOrigins []string
	// FASJSONURL and DistGitURL are base URLs (default empty: lookups off).
	// Credentials in them (https://user:pass@host) are sent as basic auth.
	FASJSONURL, DistGitURL string
	// FASJSONToken and DistGitToken, when set, authenticate to those
	// services: a bearer token for FASJSON, a Pagure API token for dist-git
	// (default empty).
	FASJSONToken, DistGitToken string
	// SMTPURL is smtp://user:pass@host:port (default empty; `fmn dev` then
	// runs a local mail sink).
	SMTPURL string
	// MailFrom is the From of emails (default fmn@localhost).
	MailFrom string
	// IRCURL is ircs://nick:pass@host:port (default empty: IRC off).
	IRCURL string
	// MatrixURL and MatrixToken configure Matrix (default empty: off).
	MatrixURL, MatrixToken string
	// AMQPURL is the AMQP bus broker: what `fmn bridge amqp` copies into
	// BUS, and where the amqp-publisher role publishes FMN's rule messages
	// (default empty: the bridge uses amqp://guest:guest@127.0.0.1:5672/;
	// `fmn dev` publishes no rule messages).
	AMQPURL string
	// AMQPExchange is the topic exchange of the bus, AMQPQueue the
	// bridge's durable queue (defaults amq.topic and fmn).
	AMQPExchange, AMQPQueue string
	// AMQPTopicPrefix goes before the topics fmn publishes, as
	// fedora-messaging's topic_prefix (default org.fedoraproject.prod;
	// "none" for no prefix).
	AMQPTopicPrefix string
	// Streams holds stream names, replicas, storage and ages.
	Streams streams.Config
	// Consumer tunes the matcher: AckWait (default 30s), MaxAckPending
	// across all instances (default 20000) and InFlight per instance
	// (default 4096). ConsumerWorkers is how many of the in-flight
	// messages one instance matches at once (0, the default: GOMAXPROCS).
	ConsumerAckWait                                          time.Duration
	ConsumerMaxAckPending, ConsumerInFlight, ConsumerWorkers int
	// ConsumerGCHeadroomMiB keeps the consumer process's heap goal at least
	// its live heap plus this many MiB (default 256; 0: Go's default, as
	// when GOGC is set): GC cycles several times rarer for a bounded cost
	// in memory (see internal/gctune).
	ConsumerGCHeadroomMiB int
	// SenderEmailWorkers is how many emails one sender-email process
	// sends at once (default 4).
	SenderEmailWorkers int
	// DigestEvery is how often held notifications are looked at for
	// digests that are due (default 10s): a digest goes out at most this
	// late.
	DigestEvery time.Duration
	// PreviewMaxConcurrent bounds the rule previews one API process runs
	// at once (default 8), PreviewMaxPerUser those of one user (default 2);
	// more get 429 with Retry-After.
	PreviewMaxConcurrent, PreviewMaxPerUser int
	// SSEMaxPerUser bounds the live streams one user holds open in one API
	// process (default 8); MaxRulesPerUser the rules one user may have
	// (default 500; 0: no bound). Past either: 429 or 422 with a message.
	SSEMaxPerUser, MaxRulesPerUser int
	// DefaultRules is FMN_DEFAULT_RULES: true (on, the default) gives new
	// users the shipped default rules until an admin sets a list; false
	// (off) gives them none then.
	DefaultRules bool
	// StatsRetention is how long hourly statistics buckets are kept
	// (default 90d; at least 8d, as generated_last_week reads a week).
	StatsRetention time.Duration
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string
}

// DefaultMetricsAddr is where `fmn serve` without the api role serves
// /metrics and /healthz/* when FMN_METRICS_ADDR is empty.
const DefaultMetricsAddr = "127.0.0.1:9464"

// Defaults is the development configuration.
func Defaults() Config {
	return Config{
		NATSPort:              4244,
		DataDir:               ".data",
		DatabaseURL:           "postgres://postgres@127.0.0.1:5432/fmn?sslmode=disable",
		RedisURL:              "redis://127.0.0.1:6379/0",
		RedisPrefix:           "fmn:",
		HTTPAddr:              "127.0.0.1:8080",
		PublicURL:             "http://127.0.0.1:8080",
		SiteName:              "fmn",
		AdminGroups:           []string{"sysadmin-main"},
		AuthNegativeCache:     30 * time.Second,
		AuthFailureBurst:      10,
		AuthFailureRate:       6,
		MailFrom:              "fmn@localhost",
		AMQPExchange:          "amq.topic",
		AMQPTopicPrefix:       "org.fedoraproject.prod",
		AMQPQueue:             "fmn",
		Streams:               streams.Defaults(),
		StatsRetention:        90 * 24 * time.Hour,
		ConsumerAckWait:       30 * time.Second,
		ConsumerMaxAckPending: 20000,
		ConsumerInFlight:      4096,
		ConsumerGCHeadroomMiB: 256,
		SenderEmailWorkers:    4,
		DigestEvery:           10 * time.Second,
		PreviewMaxConcurrent:  8,
		PreviewMaxPerUser:     2,
		SSEMaxPerUser:         8,
		MaxRulesPerUser:       500,
		DefaultRules:          true,
		LogLevel:              "info",
	}
}

// Group is a set of settings about one thing; a command binds the groups
// it uses, so that `fmn CMD -h` lists only those.
type Group uint32

const (
	// NATS is how to reach NATS: FMN_NATS_URL and the authentication and
	// TLS settings.
	NATS Group = 1 << iota
	// Embedded is the embedded NATS server of an empty FMN_NATS_URL:
	// FMN_NATS_PORT, FMN_DATA_DIR.
	Embedded
	// StreamNames are the names of the streams (FMN_STREAM_BUS, …).
	StreamNames
	// StreamSetup is what servers create the streams with: replicas,
	// storage, maximum ages, the duplicate window.
	StreamSetup
	// Postgres is FMN_DATABASE_URL.
	Postgres
	// Redis is FMN_REDIS_URL and FMN_REDIS_PREFIX.
	Redis
	// API is the REST API and web UI: FMN_HTTP_ADDR, login, CORS,
	// previews.
	API
	// Metrics is FMN_METRICS_ADDR.
	Metrics
	// Site is how notifications name fmn: FMN_PUBLIC_URL, FMN_SITE_NAME.
	Site
	// Directory is FASJSON and dist-git.
	Directory
	// Email is the email sender: FMN_SMTP_URL, FMN_MAIL_FROM, workers.
	Email
	// IRC is FMN_IRC_URL.
	IRC
	// Matrix is FMN_MATRIX_URL and FMN_MATRIX_TOKEN.
	Matrix
	// AMQP is the AMQP bus: FMN_AMQP_URL, FMN_AMQP_EXCHANGE.
	AMQP
	// Bridge is the durable queue of `fmn bridge amqp`.
	Bridge
	// AMQPPublisher is what the amqp-publisher role adds:
	// FMN_AMQP_TOPIC_PREFIX.
	AMQPPublisher
	// Consumer tunes the matcher.
	Consumer
	// Stats is FMN_STATS_RETENTION.
	Stats
	// Log is FMN_LOG_LEVEL.
	Log

	// All is every setting.
	All Group = 1<<iota - 1
	// Connection is what a command needs to reach a running fmn's NATS
	// and streams.
	Connection = NATS | StreamNames | Log
)

type setting struct {
	name, env, usage string
	// group is what the setting is about; a command binds the groups it
	// uses (Bind).
	group  Group
	secret bool
	// boolean settings are flags that need no value (--name means true).
	boolean bool
	set     func(string) error
	get     func() string
}

// Settings binds a Config to flags and environment variables.
type Settings struct {
	cfg  *Config
	list []setting
}

// Bind registers on fs the settings of cfg in the given groups (without
// groups: every setting), so that a command lists and reads only what it
// uses. Call Load after fs.Parse.
func Bind(fs *flag.FlagSet, cfg *Config, groups ...Group) *Settings {
	var want Group
	for _, g := range groups {
		want |= g
	}
	if want == 0 {
		want = All
	}
	s := &Settings{cfg: cfg}
	for _, st := range definitions(cfg) {
		if st.group&want != 0 {
			s.list = append(s.list, st)
		}
	}
	for i := range s.list {
		s.register(fs, &s.list[i])
	}
	return s
}

// AcceptOthers registers on fs, as flags that are accepted and ignored,
// the settings outside groups: a command given a flag of a setting it
// does not use (scripts passing one set of flags to every command) goes
// on as it did when every command took every setting. It returns their
// names, which a command's -h leaves out.
func AcceptOthers(fs *flag.FlagSet, groups Group) map[string]bool {
	names := map[string]bool{}
	var cfg Config
	for _, st := range definitions(&cfg) {
		if st.group&groups != 0 || fs.Lookup(st.name) != nil {
			continue
		}
		names[st.name] = true
		fs.Var(ignored{boolean: st.boolean}, st.name, st.usage+" (not used by this command)")
	}
	return names
}

// ignored is the value of a flag AcceptOthers accepts.
type ignored struct{ boolean bool }

func (ignored) String() string     { return "" }
func (ignored) Set(string) error   { return nil }
func (i ignored) IsBoolFlag() bool { return i.boolean }

// definitions is every setting of cfg, in the order -h lists them.
func definitions(cfg *Config) []setting {
	var list []setting
	var group Group
	add := func(st setting) {
		st.group = group
		list = append(list, st)
	}
	str := func(name, env, usage string, secret bool, p *string) {
		add(setting{name: name, env: env, usage: usage, secret: secret,
			set: func(v string) error { *p = v; return nil },
			get: func() string { return *p }})
	}
	integer := func(name, env, usage string, p *int) {
		add(setting{name: name, env: env, usage: usage,
			set: func(v string) error {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("not an integer: %q", v)
				}
				*p = n
				return nil
			},
			get: func() string { return strconv.Itoa(*p) }})
	}
	boolean := func(name, env, usage string, p *bool) {
		add(setting{name: name, env: env, usage: usage, boolean: true,
			set: func(v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("must be true or false, got %q", v)
				}
				*p = b
				return nil
			},
			get: func() string { return strconv.FormatBool(*p) }})
	}
	dur := func(name, env, usage string, p *time.Duration) {
		add(setting{name: name, env: env, usage: usage,
			set: func(v string) error {
				d, err := parseDuration(v)
				if err != nil {
					return err
				}
				*p = d
				return nil
			},
			get: func() string { return p.String() }})
	}
	group = NATS
	str("nats-url", "FMN_NATS_URL", "NATS server URL, or several of a cluster separated by commas; empty runs an embedded server", true, &cfg.NATSURL)
	natsAuth(str, &cfg.NATSAuth)
	group = Embedded
	integer("nats-port", "FMN_NATS_PORT", "port of the embedded NATS server (taken: a random one)", &cfg.NATSPort)
	str("data-dir", "FMN_DATA_DIR", "directory for the embedded server's storage and dev mail", false, &cfg.DataDir)
	group = Postgres
	str("database-url", "FMN_DATABASE_URL", "PostgreSQL URL", true, &cfg.DatabaseURL)
	group = Redis
	str("redis-url", "FMN_REDIS_URL", "Redis URL", true, &cfg.RedisURL)
	str("redis-prefix", "FMN_REDIS_PREFIX", "prefix of every Redis key", false, &cfg.RedisPrefix)
	group = API
	str("http-addr", "FMN_HTTP_ADDR", "address of the API and UI", false, &cfg.HTTPAddr)
	group = Metrics
	str("metrics-addr", "FMN_METRICS_ADDR", "address of /metrics and /healthz/* for every role of the process (host:port, or off; default: none with the api role, "+DefaultMetricsAddr+" for fmn serve without it)", false, &cfg.MetricsAddr)
	group = Site
	str("public-url", "FMN_PUBLIC_URL", "URL users reach fmn at (notification footers)", false, &cfg.PublicURL)
	str("site-name", "FMN_SITE_NAME", "name of this fmn in notification footers", false, &cfg.SiteName)
	group = API
	str("oidc-issuer", "FMN_OIDC_ISSUER", "OpenID Connect issuer URL", false, &cfg.OIDCIssuer)
	str("oidc-client-id", "FMN_OIDC_CLIENT_ID", "OpenID Connect client id (token audience)", false, &cfg.OIDCClientID)
	str("oidc-client-secret", "FMN_OIDC_CLIENT_SECRET", "OpenID Connect client secret, for token introspection of opaque access tokens (empty: only JWTs are accepted)", true, &cfg.OIDCClientSecret)
	dur("auth-negative-cache", "FMN_AUTH_NEGATIVE_CACHE", "how long a refused token is refused again without asking the provider (0: off)", &cfg.AuthNegativeCache)
	integer("auth-failure-burst", "FMN_AUTH_FAILURE_BURST", "failed authentications one client address may make in a row before 429 (0: no limit)", &cfg.AuthFailureBurst)
	integer("auth-failure-rate", "FMN_AUTH_FAILURE_RATE", "failed authentications per minute a client address may make after the burst", &cfg.AuthFailureRate)
	add(setting{name: "trusted-proxies", env: "FMN_TRUSTED_PROXIES", usage: "comma-separated reverse proxies (addresses or CIDR prefixes) whose X-Forwarded-For names the client",
		set: func(v string) error { cfg.TrustedProxies = splitList(v); return nil },
		get: func() string { return strings.Join(cfg.TrustedProxies, ",") }})
	str("oidc-scopes", "FMN_OIDC_SCOPES", "scopes the web UI asks for at login, space separated (default \"openid profile email\"; add offline_access for refresh tokens)", false, &cfg.OIDCScopes)
	add(setting{name: "admin-groups", env: "FMN_ADMIN_GROUPS", usage: "comma-separated admin groups",
		set: func(v string) error { cfg.AdminGroups = splitList(v); return nil },
		get: func() string { return strings.Join(cfg.AdminGroups, ",") }})
	add(setting{name: "cors-origins", env: "FMN_CORS_ORIGINS", usage: "comma-separated origins whose pages may call the API (scheme://host[:port], or *)",
		set: func(v string) error { cfg.CORSOrigins = splitList(v); return nil },
		get: func() string { return strings.Join(cfg.CORSOrigins, ",") }})
	group = Directory
	str("fasjson-url", "FMN_FASJSON_URL", "FASJSON base URL (without /v1)", true, &cfg.FASJSONURL)
	str("fasjson-token", "FMN_FASJSON_TOKEN", "bearer token for FASJSON", true, &cfg.FASJSONToken)
	str("distgit-url", "FMN_DISTGIT_URL", "dist-git (Pagure) base URL (without /api/0)", true, &cfg.DistGitURL)
	str("distgit-token", "FMN_DISTGIT_TOKEN", "Pagure API token for dist-git", true, &cfg.DistGitToken)
	group = Email
	str("smtp-url", "FMN_SMTP_URL", "smtp://user:pass@host:port; empty in dev runs a local mail sink", true, &cfg.SMTPURL)
	str("mail-from", "FMN_MAIL_FROM", "From address of emails", false, &cfg.MailFrom)
	group = IRC
	str("irc-url", "FMN_IRC_URL", "ircs://nick:pass@host:port", true, &cfg.IRCURL)
	group = Matrix
	str("matrix-url", "FMN_MATRIX_URL", "Matrix homeserver URL", false, &cfg.MatrixURL)
	str("matrix-token", "FMN_MATRIX_TOKEN", "Matrix access token", true, &cfg.MatrixToken)
	group = AMQP
	str("amqp-url", "FMN_AMQP_URL", "AMQP broker URL of the bus (the bridge's source; set, it lets fmn dev publish FMN's rule messages there)", true, &cfg.AMQPURL)
	str("amqp-exchange", "FMN_AMQP_EXCHANGE", "AMQP topic exchange of the bus", false, &cfg.AMQPExchange)
	group = Bridge
	str("amqp-queue", "FMN_AMQP_QUEUE", "durable AMQP queue of the bridge", false, &cfg.AMQPQueue)
	group = AMQPPublisher
	str("amqp-topic-prefix", "FMN_AMQP_TOPIC_PREFIX", "prefix of the topics of FMN's rule messages (fedora-messaging's topic_prefix; none: no prefix)", false, &cfg.AMQPTopicPrefix)
	group = StreamNames
	str("stream-bus", "FMN_STREAM_BUS", "name of the bus stream", false, &cfg.Streams.Bus)
	str("stream-rules", "FMN_STREAM_RULES", "name of the rule event stream", false, &cfg.Streams.Rules)
	str("stream-notify", "FMN_STREAM_NOTIFY", "name of the notification stream", false, &cfg.Streams.Notify)
	str("stream-dlq", "FMN_STREAM_DLQ", "name of the dead-letter stream", false, &cfg.Streams.DLQ)
	str("stream-events", "FMN_STREAM_EVENTS", "name of the stream of delivery outcomes", false, &cfg.Streams.Events)
	str("stream-digest", "FMN_STREAM_DIGEST", "name of the stream of notifications held for digests", false, &cfg.Streams.Digest)
	group = StreamSetup
	integer("stream-replicas", "FMN_STREAM_REPLICAS", "replicas of every stream (3 on a cluster); an existing stream with more keeps them unless FMN_STREAM_ALLOW_DOWNSCALE", &cfg.Streams.Replicas)
	boolean("stream-allow-downscale", "FMN_STREAM_ALLOW_DOWNSCALE", "let a server lower the replicas of existing streams to FMN_STREAM_REPLICAS", &cfg.Streams.AllowDownscale)
	add(setting{name: "stream-storage", env: "FMN_STREAM_STORAGE", usage: "file or memory",
		set: func(v string) error {
			switch strings.ToLower(v) {
			case "file":
				cfg.Streams.Storage = jetstream.FileStorage
			case "memory":
				cfg.Streams.Storage = jetstream.MemoryStorage
			default:
				return fmt.Errorf("must be file or memory, got %q", v)
			}
			return nil
		},
		get: func() string { return strings.ToLower(cfg.Streams.Storage.String()) }})
	dur("bus-max-age", "FMN_BUS_MAX_AGE", "how long BUS keeps messages (e.g. 7d, 36h)", &cfg.Streams.BusMaxAge)
	dur("notify-max-age", "FMN_NOTIFY_MAX_AGE", "how long NOTIFY keeps notifications", &cfg.Streams.NotifyMaxAge)
	dur("dlq-max-age", "FMN_DLQ_MAX_AGE", "how long DLQ keeps dead letters", &cfg.Streams.DLQMaxAge)
	dur("events-max-age", "FMN_EVENTS_MAX_AGE", "how long EVENTS keeps delivery outcomes", &cfg.Streams.EventsMaxAge)
	group = Stats
	dur("stats-retention", "FMN_STATS_RETENTION", "how long hourly statistics are kept (at least 8d)", &cfg.StatsRetention)
	group = StreamSetup
	dur("duplicate-window", "FMN_DUPLICATE_WINDOW", "dedup window of BUS and NOTIFY (at least 2m)", &cfg.Streams.Duplicates)
	group = Consumer
	dur("consumer-ack-wait", "FMN_CONSUMER_ACK_WAIT", "how long a bus message may stay unacked before redelivery", &cfg.ConsumerAckWait)
	integer("consumer-max-ack-pending", "FMN_CONSUMER_MAX_ACK_PENDING", "unacked bus messages across all matcher instances", &cfg.ConsumerMaxAckPending)
	integer("consumer-in-flight", "FMN_CONSUMER_IN_FLIGHT", "bus messages between fetch and ack in one matcher instance", &cfg.ConsumerInFlight)
	integer("consumer-workers", "FMN_CONSUMER_WORKERS", "bus messages one matcher instance matches at once (0: as many as GOMAXPROCS)", &cfg.ConsumerWorkers)
	integer("consumer-gc-headroom", "FMN_CONSUMER_GC_HEADROOM", "MiB the consumer process's heap may grow by over its live heap before the Go GC runs (0: Go's default; a GOGC setting wins)", &cfg.ConsumerGCHeadroomMiB)
	group = Email
	dur("digest-every", "FMN_DIGEST_EVERY", "how often senders look for digests that are due", &cfg.DigestEvery)
	integer("sender-email-workers", "FMN_SENDER_EMAIL_WORKERS", "emails one sender-email process sends at once", &cfg.SenderEmailWorkers)
	group = API
	integer("preview-max-concurrent", "FMN_PREVIEW_MAX_CONCURRENT", "rule previews one API process runs at once (more get 429)", &cfg.PreviewMaxConcurrent)
	integer("preview-max-per-user", "FMN_PREVIEW_MAX_PER_USER", "rule previews of one user running at once (more get 429)", &cfg.PreviewMaxPerUser)
	integer("sse-max-per-user", "FMN_SSE_MAX_PER_USER", "live (SSE) streams one user may hold open in one API process (more get 429)", &cfg.SSEMaxPerUser)
	integer("max-rules-per-user", "FMN_MAX_RULES_PER_USER", "rules one user may have (more get 422; 0: no bound)", &cfg.MaxRulesPerUser)
	add(setting{name: "default-rules", env: "FMN_DEFAULT_RULES", usage: "on or off: off gives new users no shipped default rules (an admin's list at /api/v1/admin/default-rules still applies)",
		set: func(v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "on":
				cfg.DefaultRules = true
			case "off":
				cfg.DefaultRules = false
			default:
				return fmt.Errorf("must be on or off, got %q", v)
			}
			return nil
		},
		get: func() string {
			if cfg.DefaultRules {
				return "on"
			}
			return "off"
		}})
	group = Log
	str("log-level", "FMN_LOG_LEVEL", "debug, info, warn or error", false, &cfg.LogLevel)
	return list
}

type flagValue struct {
	s       *setting
	setFlag bool
}

func (f *flagValue) String() string {
	if f.s == nil || f.s.get == nil {
		return ""
	}
	if f.s.secret {
		return ""
	}
	return f.s.get()
}

// IsBoolFlag lets a boolean setting be given as a flag without a value.
func (f *flagValue) IsBoolFlag() bool { return f.s != nil && f.s.boolean }

func (f *flagValue) Set(v string) error {
	f.setFlag = true
	return f.s.set(v)
}

func (s *Settings) register(fs *flag.FlagSet, st *setting) {
	usage := st.usage + " (" + st.env
	if st.secret {
		usage += ", or " + st.env + "_FILE"
	}
	usage += ")"
	fs.Var(&flagValue{s: st}, st.name, usage)
}

// Load applies environment variables (and *_FILE) for every setting not
// given as a flag, then validates. env is usually os.Getenv.
func (s *Settings) Load(fs *flag.FlagSet, env func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// Flags were applied while parsing; the environment fills only the
	// settings no flag named, so a flag always wins.
	var errs []error
	for i := range s.list {
		st := &s.list[i]
		if given[st.name] {
			continue
		}
		v, ok, err := lookup(st, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		if err := st.set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.env, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.cfg.Validate()
}

func lookup(st *setting, env func(string) string) (string, bool, error) {
	if st.secret {
		if path := env(st.env + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", false, fmt.Errorf("%s_FILE: cannot read %s: %w", st.env, path, errors.Unwrap(err))
			}
			return strings.TrimRight(string(b), "\r\n"), true, nil
		}
	}
	v := env(st.env)
	return v, v != "", nil
}

// Validate checks every setting and reports all problems at once, each
// naming its setting. Secrets never appear in the messages.
func (c *Config) Validate() error {
	var errs []error
	bad := func(env, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{env}, a...)...))
	}
	checkURL := func(env, v string, schemes ...string) {
		if v == "" {
			return
		}
		u, err := url.Parse(v)
		if err != nil {
			bad(env, "not a URL")
			return
		}
		for _, s := range schemes {
			if u.Scheme == s {
				if u.Host == "" {
					bad(env, "URL has no host")
				}
				return
			}
		}
		bad(env, "scheme must be one of %s, got %q", strings.Join(schemes, ", "), u.Scheme)
	}
	c.validateNATS(bad)
	checkURL("FMN_DATABASE_URL", c.DatabaseURL, "postgres", "postgresql")
	checkURL("FMN_REDIS_URL", c.RedisURL, "redis", "rediss", "unix")
	checkURL("FMN_PUBLIC_URL", c.PublicURL, "http", "https")
	checkURL("FMN_OIDC_ISSUER", c.OIDCIssuer, "http", "https")
	checkURL("FMN_FASJSON_URL", c.FASJSONURL, "http", "https")
	checkURL("FMN_DISTGIT_URL", c.DistGitURL, "http", "https")
	checkURL("FMN_SMTP_URL", c.SMTPURL, "smtp", "smtps")
	checkURL("FMN_IRC_URL", c.IRCURL, "irc", "ircs")
	checkURL("FMN_MATRIX_URL", c.MatrixURL, "http", "https")
	checkURL("FMN_AMQP_URL", c.AMQPURL, "amqp", "amqps")
	if strings.ContainsAny(c.AMQPTopicPrefix, " \t*#") {
		bad("FMN_AMQP_TOPIC_PREFIX", "must be dot-separated words without spaces, * or #, got %q", c.AMQPTopicPrefix)
	}
	if c.DatabaseURL == "" {
		bad("FMN_DATABASE_URL", "must be set")
	}
	if c.RedisURL == "" {
		bad("FMN_REDIS_URL", "must be set")
	}
	if c.NATSURL == "" && c.DataDir == "" {
		bad("FMN_DATA_DIR", "must be set when FMN_NATS_URL is empty (embedded server)")
	}
	if c.NATSPort < 0 || c.NATSPort > 65535 {
		bad("FMN_NATS_PORT", "must be a port number, got %d", c.NATSPort)
	}
	if c.MatrixURL != "" && c.MatrixToken == "" {
		bad("FMN_MATRIX_TOKEN", "must be set when FMN_MATRIX_URL is")
	}
	if c.OIDCIssuer != "" && c.OIDCClientID == "" {
		bad("FMN_OIDC_CLIENT_ID", "must be set when FMN_OIDC_ISSUER is")
	}
	if c.AuthNegativeCache > 10*time.Minute {
		bad("FMN_AUTH_NEGATIVE_CACHE", "must be at most 10m, got %s", c.AuthNegativeCache)
	}
	if c.AuthFailureBurst < 0 {
		bad("FMN_AUTH_FAILURE_BURST", "must be 0 (no limit) or more, got %d", c.AuthFailureBurst)
	}
	if c.AuthFailureBurst > 0 && c.AuthFailureRate < 1 {
		bad("FMN_AUTH_FAILURE_RATE", "must be at least 1 (per minute), got %d", c.AuthFailureRate)
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			bad("FMN_TRUSTED_PROXIES", "%q is neither an address nor a CIDR prefix", p)
		}
	}
	if c.OIDCScopes != "" && !slices.Contains(strings.Fields(c.OIDCScopes), "openid") {
		bad("FMN_OIDC_SCOPES", "must include openid, got %q", c.OIDCScopes)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			bad("FMN_CORS_ORIGINS", "%q is not an origin: want scheme://host[:port], e.g. https://notifications.example.org", o)
		}
	}
	if c.MailFrom != "" && !strings.Contains(c.MailFrom, "@") {
		bad("FMN_MAIL_FROM", "must be an email address, got %q", c.MailFrom)
	}
	if c.ConsumerAckWait < time.Second {
		bad("FMN_CONSUMER_ACK_WAIT", "must be at least 1s, got %s", c.ConsumerAckWait)
	}
	if c.ConsumerInFlight < 1 || c.ConsumerMaxAckPending < c.ConsumerInFlight {
		bad("FMN_CONSUMER_IN_FLIGHT", "must be at least 1 and at most FMN_CONSUMER_MAX_ACK_PENDING (%d), got %d", c.ConsumerMaxAckPending, c.ConsumerInFlight)
	}
	if c.ConsumerGCHeadroomMiB < 0 || c.ConsumerGCHeadroomMiB > 1<<20 {
		bad("FMN_CONSUMER_GC_HEADROOM", "must be 0 (Go's default) to 1048576 MiB, got %d", c.ConsumerGCHeadroomMiB)
	}
	if c.ConsumerWorkers < 0 {
		bad("FMN_CONSUMER_WORKERS", "must be 0 (GOMAXPROCS) or more, got %d", c.ConsumerWorkers)
	}
	if c.SSEMaxPerUser < 1 {
		bad("FMN_SSE_MAX_PER_USER", "must be at least 1, got %d", c.SSEMaxPerUser)
	}
	if c.MaxRulesPerUser < 0 {
		bad("FMN_MAX_RULES_PER_USER", "must be 0 (no bound) or more, got %d", c.MaxRulesPerUser)
	}
	if c.PreviewMaxConcurrent < 1 {
		bad("FMN_PREVIEW_MAX_CONCURRENT", "must be at least 1, got %d", c.PreviewMaxConcurrent)
	}
	if c.PreviewMaxPerUser < 1 || c.PreviewMaxPerUser > c.PreviewMaxConcurrent {
		bad("FMN_PREVIEW_MAX_PER_USER", "must be at least 1 and at most FMN_PREVIEW_MAX_CONCURRENT (%d), got %d", c.PreviewMaxConcurrent, c.PreviewMaxPerUser)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("FMN_LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.DigestEvery < 100*time.Millisecond || c.DigestEvery > time.Minute {
		bad("FMN_DIGEST_EVERY", "must be 100ms to 1m, got %s", c.DigestEvery)
	}
	if c.SenderEmailWorkers < 1 || c.SenderEmailWorkers > 256 {
		bad("FMN_SENDER_EMAIL_WORKERS", "must be 1 to 256, got %d", c.SenderEmailWorkers)
	}
	if a := c.MetricsAddr; a != "" && a != "off" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad("FMN_METRICS_ADDR", "must be host:port (e.g. %s or :9464) or off, got %q", DefaultMetricsAddr, a)
		}
	}
	if c.StatsRetention < 8*24*time.Hour {
		bad("FMN_STATS_RETENTION", "must be at least 8d (generated_last_week reads a week), got %s", c.StatsRetention)
	}
	if err := c.Streams.Validate(); err != nil {
		bad("FMN_STREAM_*", "%v", err)
	}
	return errors.Join(errs...)
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseDuration accepts Go durations plus a "d" suffix for days.
func parseDuration(v string) (time.Duration, error) {
	if strings.HasSuffix(v, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("not a duration: %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("not a duration: %q", v)
	}
	return d, nil
}
