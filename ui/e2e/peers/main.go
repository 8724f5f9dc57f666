// Command peers runs what the web UI's end-to-end test needs around a real
// fmn besides the services of the machine: a fresh PostgreSQL schema, a
// fresh Redis key prefix, and stand-ins for FASJSON and dist-git (fmntest's,
// which speak their documented JSON) with the test's accounts, groups and
// packages.
//
// It prints one JSON line with the addresses, then serves until its
// standard input closes or it gets SIGINT/SIGTERM, and drops the schema and
// the prefix's keys on the way out. The e2e test (ui/e2e/fmn.test.mjs) builds and starts it.
//
//	go build -o /tmp/peers ./ui/e2e/peers && /tmp/peers
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"
)

// tb lets fmntest's stand-ins, written for tests, run in a program: they
// only call Helper and Cleanup.
type tb struct {
	testing.TB
	cleanups []func()
}

func (t *tb) Helper()                           {}
func (t *tb) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *tb) Fatal(args ...any)                 { log.Fatal(args...) }
func (t *tb) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }

func (t *tb) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// Peers is what the program prints.
type Peers struct {
	DatabaseURL string `json:"database_url"`
	Schema      string `json:"schema"`
	RedisURL    string `json:"redis_url"`
	RedisPrefix string `json:"redis_prefix"`
	FASJSONURL  string `json:"fasjson_url"`
	DistGitURL  string `json:"distgit_url"`
}

func main() {
	log.SetPrefix("peers: ")
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	t := &tb{}
	defer t.close()
	p := Peers{}
	var err error
	p.DatabaseURL, p.Schema, err = freshSchema(ctx)
	if err != nil {
		return err
	}
	defer dropSchema(p.Schema)
	p.RedisURL, p.RedisPrefix = fmntest.RedisURL(), "e2e:"+fmntest.RandomID()+":"
	defer dropKeys(p.RedisURL, p.RedisPrefix)

	fas := fmntest.StartFASJSON(t)
	dg := fmntest.StartDistGit(t)
	p.FASJSONURL, p.DistGitURL = fas.URL, dg.URL
	seed(fas, dg)

	if err := json.NewEncoder(os.Stdout).Encode(p); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-ctx.Done():
	case <-done:
	}
	return nil
}

// seed gives the accounts of devoidc's users (fmn dev's login provider)
// their addresses, groups and packages.
func seed(fas *fmntest.FASJSON, dg *fmntest.DistGit) {
	fas.MaxPageSize, dg.MaxPerPage = 50, 50
	fas.AddUser("alice", []string{"alice@example.org"}, []string{"irc:/alice", "matrix:/alice"})
	fas.AddUser("bob", []string{"bob@example.org"}, []string{"irc:/bobby"})
	fas.AddUser("root", []string{"root@example.org"}, nil)
	fas.AddUser("carol", []string{"carol@example.org"}, nil)
	for _, m := range [][2]string{{"packager", "alice"}, {"infra", "alice"}, {"packager", "bob"}, {"sysadmin-main", "root"}} {
		fas.AddMember(m[0], m[1])
	}
	dg.AddProject("rpms", "firefox", "alice")
	dg.AddProject("rpms", "python-requests", "alice")
	dg.AddProject("rpms", "ansible", "carol")
	dg.SetGroupAccess("rpms", "ansible", "infra", "commit")
	dg.AddProject("rpms", "kernel", "bob")
	dg.AddProject("rpms", "kernel-headers", "bob")
	dg.AddProject("containers", "fedora-toolbox", "bob")
}

// freshSchema creates a schema in the test database and returns the URL
// that uses it; fmn applies its tables there.
func freshSchema(ctx context.Context) (string, string, error) {
	schema := "e2e_" + fmntest.RandomID()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, fmntest.DatabaseURL())
	if err != nil {
		return "", "", fmt.Errorf("PostgreSQL at %s: %w (start it with scripts/services.sh)", fmntest.DatabaseURL(), err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(cctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", err
	}
	u, err := url.Parse(fmntest.DatabaseURL())
	if err != nil {
		return "", "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

// dropKeys deletes what fmn wrote under prefix.
func dropKeys(redisURL, prefix string) {
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		log.Print(err)
		return
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		log.Print(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(500).Build()).AsScanEntry()
		if err != nil {
			log.Print(err)
			return
		}
		if len(e.Elements) > 0 {
			if err := c.Do(ctx, c.B().Del().Key(e.Elements...).Build()).Error(); err != nil {
				log.Print(err)
				return
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

func dropSchema(schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fmntest.DatabaseURL())
	if err != nil {
		log.Print(err)
		return
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		log.Print(err)
	}
}
