// Package app boots fmn's roles: it connects what a process needs (NATS
// and its streams, PostgreSQL, Redis, FASJSON and dist-git) and starts
// the roles of a table (roles.go; one file per role, role_*.go), with the
// metrics and health endpoint every role reports to. The command line is
// package cli; tests boot the whole system in-process with RunSystem.
package app

import (
	"io"
	"log/slog"

	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/devoidc"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/senders"
	"github.com/nats-io/nats.go"
	"github.com/redis/rueidis"
)

// Options tune RunSystem.
type Options struct {
	// Dev creates the database when missing and runs a local mail sink
	// when FMN_SMTP_URL is empty.
	Dev bool
	Log *slog.Logger
	// Out receives the start banner (the addresses to use).
	Out io.Writer
	// Command names the command in the banner ("dev", "serve").
	Command string
	// Started, when set, is called once every role runs.
	Started func(*System)
	// SenderOptions override the senders' retry settings (tests).
	SenderOptions *senders.Options
}

// System is a running set of roles, as tests see it.
type System struct {
	Env      *Env
	Redis    rueidis.Client
	Matcher  *consumer.Matcher
	Consumer *consumer.Consumer
	// Directory answers about accounts and dist-git ownership through the
	// shared service cache (nil when FASJSON and dist-git are not set).
	Directory *directory.Directory
	// Delivery is the senders' view of the users' delivery settings (nil
	// without a sender role).
	Delivery *rulelog.DeliverySource
	HTTPAddr string
	// MetricsAddr is where /metrics and /healthz/* of every role listen
	// (FMN_METRICS_ADDR; empty when off).
	MetricsAddr string
	MailDir     string
	// DevOIDC is `fmn dev`'s login provider, when FMN_OIDC_ISSUER is empty.
	DevOIDC *devoidc.Provider
	// PreviewNC is the api role's NATS connection for rule previews, apart
	// from Env.NC, which every other role uses.
	PreviewNC *nats.Conn
}
